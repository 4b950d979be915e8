// Vulkan queue: a worker thread turns each committed command buffer into batches on the queue's VkQueue (see
// device.h for the model). The worker records GPU commands, resolves waits (GPU-side once the producer is submitted,
// else parked on the host), runs host tasks once the queue's GPU work is done, and hands every batch to the device's
// completion thread, which raises its signals on the host words and finishes the buffer.
#include <pthread.h>

#include <algorithm>
#include <cstring>

#include "backends/vulkan/internal.h"
#include "timeline/clock.h"
#include "timeline/error.h"
#include "timeline/validator.h"

namespace ut::vulkan::detail {

using namespace ut::detail;

namespace {

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

HeapRecord& heap_of(const Context& ctx, const Buffer& b, const char* which) {
  HeapRecord* h = find_heap(b.heap());
  if (h == nullptr || h->ctx.get() != &ctx) {
    throw UsageError(std::string(which) + " buffer '" + b.label() + "' (heap '" + b.heap().label() +
                     "') is not memory of this Vulkan device; allocate it from this device's heap");
  }
  return *h;
}

}  // namespace

// ---- VulkanQueue -------------------------------------------------------------------------------------------------------
VulkanQueue::VulkanQueue(VulkanDevice& device, QueueDesc desc) : Queue(device, std::move(desc)), ctx_(device.context()) {
  core_ = std::make_unique<QueueCore>(ctx_, ctx_->slot_for(kind(), priority()), label());
  worker_ = std::thread([this] { run(); });
}

NativeQueueHandles VulkanQueue::native_handles() const {
  NativeQueueHandles h;
  h.api = "vulkan";
  h.instance = ctx_->in.instance;
  h.physical_device = ctx_->phys;
  h.device = ctx_->device;
  h.queue = core_->slot.queue;
  h.family = core_->slot.family;
  h.get_instance_proc_addr = reinterpret_cast<void*>(ctx_->in.gipa);
  return h;
}

VulkanQueue::~VulkanQueue() {
  wait_idle();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
  core_.reset();  // joins the completion thread
}

void VulkanQueue::submit(std::shared_ptr<CommandBufferState> cb) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(cb));
  }
  cv_.notify_one();
}

void VulkanQueue::run() {
  pthread_setname_np(pthread_self(), ("ut:" + label()).substr(0, 15).c_str());
  for (;;) {
    std::shared_ptr<CommandBufferState> cb;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;
      cb = std::move(pending_.front());
      pending_.pop_front();
    }
    execute(cb);
  }
}

void VulkanQueue::execute(const std::shared_ptr<CommandBufferState>& cb) {
  cb->mark_started();
  current_ = cb;
  Validator* validator = device().validator();
  Batch batch;
  std::exception_ptr failure;
  for (std::size_t i = 0; i < cb->commands.size(); ++i) {
    const Command& cmd = cb->commands[i];
    if (failure) {
      // After a failure only signals run, carrying the error, so that dependants fail instead of hanging.
      if (auto* s = std::get_if<SignalCmd>(&cmd)) {
        const uint64_t t = now_ns();
        s->event->signal_failed(s->value, failure);
        cb->record_signal(*s, t);
      }
      continue;
    }
    try {
      if (ctx_->lost) throw BackendError("Vulkan device lost: " + ctx_->lost_reason());
      run_command(*cb, i, batch);
    } catch (...) {
      failure = command_failure(*cb, cmd, std::current_exception());
      // What was recorded before the failing command still runs, and its signals fire normally.
      try {
        flush(batch);
      } catch (...) {
      }
    }
    if (validator) validator->on_progress(*cb, i);
  }
  if (!failure) {
    try {
      flush(batch);
    } catch (...) {
      failure = std::make_exception_ptr(BackendError("[queue '" + label() + "'] command buffer '" + cb->label +
                                                     "' failed: " + what_of(std::current_exception())));
    }
  }
  current_.reset();
  end_buffer(cb, failure);
}

void VulkanQueue::run_command(CommandBufferState& cb, std::size_t i, Batch& batch) {
  const Command& cmd = cb.commands[i];
  if (auto* t = std::get_if<HostTaskCmd>(&cmd)) {
    flush(batch);
    wait_progress(core_->submitted.load());  // the task sees every earlier command's results
    t->fn();
  } else if (auto* d = std::get_if<DispatchCmd>(&cmd)) {
    do_dispatch(*d, batch);
  } else if (auto* c = std::get_if<CopyCmd>(&cmd)) {
    do_copy(*c, batch);
  } else if (std::holds_alternative<SignalCmd>(cmd)) {
    do_signal(cb, i, batch);
  } else if (std::holds_alternative<WaitCmd>(cmd)) {
    do_wait(cb, i, batch);
  }
}

VkCommandBuffer VulkanQueue::recording(Batch& batch) {
  if (!batch.signals.empty()) flush(batch);  // a signal ends its batch: later commands go to the next one
  if (batch.cmd != VK_NULL_HANDLE) return batch.cmd;
  const Fns& vk = ctx_->vk;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  {
    std::lock_guard lock(core_->mutex);
    if (!core_->free_cmds.empty()) {
      cmd = core_->free_cmds.back();
      core_->free_cmds.pop_back();
    }
  }
  if (cmd == VK_NULL_HANDLE) {
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = core_->pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    UT_VK_CHECK(vk.vkAllocateCommandBuffers(ctx_->device, &ai, &cmd));
  }
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  if (const VkResult r = vk.vkBeginCommandBuffer(cmd, &bi); r != VK_SUCCESS) {
    std::lock_guard lock(core_->mutex);
    core_->free_cmds.push_back(cmd);
    throw_vk_error(r, "vkBeginCommandBuffer(cmd, &bi)");
  }
  batch.cmd = cmd;
  return cmd;
}

void VulkanQueue::do_dispatch(const DispatchCmd& d, Batch& batch) {
  const KernelFn* fn = kernels().find(d.kernel, "vulkan");
  if (fn == nullptr) throw UsageError("kernel '" + d.kernel + "' has no Vulkan implementation");
  const VkCommandBuffer cmd = recording(batch);
  Recorder rec{ctx_.get(), cmd, &core_->slot, &d.kernel};
  DispatchContext ctx;
  ctx.args = &d.args;
  ctx.grid = d.grid;
  ctx.begin = 0;
  ctx.end = d.grid.count();
  ctx.native_queue = &rec;
  ctx.native_commands = cmd;
  ctx.host = false;
  (*fn)(ctx);
  full_barrier(ctx_->vk, cmd, false);
}

void VulkanQueue::do_copy(const CopyCmd& c, Batch& batch) {
  HeapRecord& src = heap_of(*ctx_, c.src, "source");
  HeapRecord& dst = heap_of(*ctx_, c.dst, "destination");
  const VkDeviceSize s = c.src.offset() + c.src_offset, d = c.dst.offset() + c.dst_offset;
  if (&src == &dst && s < d + c.bytes && d < s + c.bytes) {
    throw UsageError("overlapping copy within heap '" + c.src.heap().label() + "' (vkCmdCopyBuffer needs disjoint ranges)");
  }
  if (c.bytes == 0) return;
  const VkCommandBuffer cmd = recording(batch);
  const VkBufferCopy region{s, d, c.bytes};
  ctx_->vk.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &region);
  full_barrier(ctx_->vk, cmd, false);
}

void VulkanQueue::do_signal(CommandBufferState& cb, std::size_t i, Batch& batch) {
  const auto& s = std::get<SignalCmd>(cb.commands[i]);
  const uint64_t cur = s.event->signaled_value();
  if (s.value < cur) {
    throw ValidationError("[SharedEvent::signal] '" + s.event->label() + "' signalled backwards: " +
                          std::to_string(s.value) + " < current value " + std::to_string(cur) +
                          " (event values only grow; checked when the queue reaches the signal on Vulkan)");
  }
  if (!batch.empty() || !idle()) {
    batch.signals.push_back(i);  // a semaphore signal at the end of the batch (or a host raise when it is done)
    return;
  }
  // Nothing of this queue is in flight: raise it now, on the word and (if no GPU signal is pending) the semaphore.
  const uint64_t t = now_ns();
  s.event->signal(s.value);
  cb.record_signal(s, t);
  EventRecord* rec = find_event(*s.event);
  if (rec == nullptr || rec->ctx != ctx_) return;
  std::lock_guard lock(rec->mutex);
  uint64_t sem = 0;
  UT_VK_CHECK(ctx_->vk.vkGetSemaphoreCounterValue(ctx_->device, rec->semaphore, &sem));
  if (rec->promised <= sem && s.value > sem) {
    VkSemaphoreSignalInfo si{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
    si.semaphore = rec->semaphore;
    si.value = s.value;
    UT_VK_CHECK(ctx_->vk.vkSignalSemaphore(ctx_->device, &si));
    rec->promised = rec->submitted = s.value;
  }
}

void VulkanQueue::do_wait(CommandBufferState& cb, std::size_t i, Batch& batch) {
  const auto& w = std::get<WaitCmd>(cb.commands[i]);
  SharedEvent& e = *w.event;
  EventRecord* rec = find_event(e);
  if (rec != nullptr && rec->ctx != ctx_) rec = nullptr;  // another Vulkan device's event: resolved on the host
  for (;;) {
    if (e.signaled_value() >= w.value) {
      if (auto err = e.error_at(w.value)) throw CommandError("upstream failure: " + what_of(err));
      return;  // reached: no GPU operation
    }
    if (rec != nullptr && is_submitted(*rec, w.value)) {
      if (batch.cmd != VK_NULL_HANDLE || !batch.signals.empty()) flush(batch);  // waits apply at a batch's start
      batch.waits.push_back({rec, w.value, e.storage().owner});
      return;
    }
    flush(batch);  // what precedes the wait must not be held back while the worker parks
    park(cb, i, e, w.value, rec);
  }
}

// Blocks until the value is reached or a signal of it is submitted (then do_wait loops), like the CPU backend's
// wait, with the validator's deadlock and grace checks.
void VulkanQueue::park(CommandBufferState& cb, std::size_t i, SharedEvent& e, uint64_t value, EventRecord* rec) {
  const std::function<bool()> submitted = [rec, value] { return rec != nullptr && is_submitted(*rec, value); };
  Validator* validator = device().validator();
  if (validator == nullptr) {
    (void)e.wait_until(value, std::chrono::steady_clock::time_point::max(), submitted);
    return;
  }
  for (;;) {
    bool cycle = false;
    const std::string problem = validator->check_blocked(cb, i, &cycle);
    if (cycle) {
      validator->report(problem);
      throw ValidationError(problem);
    }
    const auto deadline = problem.empty() ? std::chrono::steady_clock::time_point::max()
                                          : std::chrono::steady_clock::now() + validator->grace();
    if (e.wait_until(value, deadline, submitted) || submitted()) break;
    const std::string again = validator->check_blocked(cb, i, &cycle);
    if (!again.empty() && e.signaled_value() < value && !submitted()) {
      const std::string msg =
          again + "; gave up after " + std::to_string(validator->grace().count()) + " ms (validation mode)";
      validator->report(msg);
      throw ValidationError(msg);
    }
  }
  validator->on_unblocked(cb);
}

void VulkanQueue::flush(Batch& batch) {
  if (batch.empty()) return;
  const Fns& vk = ctx_->vk;
  Pending p;
  p.cb = current_;
  p.cmd = batch.cmd;
  p.publish = batch.signals;
  const uint64_t n = core_->submitted.load() + 1;
  p.progress = n;
  std::vector<VkSemaphore> wait_sems, signal_sems;
  std::vector<uint64_t> wait_values, signal_values;
  for (auto& w : batch.waits) {
    wait_sems.push_back(w.rec->semaphore);
    wait_values.push_back(w.value);
    p.keep.push_back(w.owner);
  }
  if (n > 1) {  // after the queue's previous batch
    wait_sems.push_back(core_->progress);
    wait_values.push_back(n - 1);
  }
  // One signal operation per semaphore, for the batch's highest value of it, and only above every value promised
  // to it before (a semaphore must only grow); the others are raised on the word when the batch completes.
  std::vector<std::tuple<EventRecord*, SharedEvent*, uint64_t>> raised;
  for (std::size_t idx : batch.signals) {
    const auto& s = std::get<SignalCmd>(current_->commands[idx]);
    EventRecord* rec = find_event(*s.event);
    if (rec == nullptr || rec->ctx != ctx_) continue;
    uint64_t top = s.value;
    for (std::size_t other : batch.signals) {
      const auto& o = std::get<SignalCmd>(current_->commands[other]);
      if (o.event == s.event) top = std::max(top, o.value);
    }
    if (top != s.value || std::find(signal_sems.begin(), signal_sems.end(), rec->semaphore) != signal_sems.end()) continue;
    std::lock_guard lock(rec->mutex);
    if (top <= rec->promised || top <= s.event->signaled_value()) continue;
    rec->promised = top;
    signal_sems.push_back(rec->semaphore);
    signal_values.push_back(top);
    raised.emplace_back(rec, s.event.get(), top);
    p.keep.push_back(s.event->storage().owner);
  }
  signal_sems.push_back(core_->progress);
  signal_values.push_back(n);
  p.sems = signal_sems;
  p.values = signal_values;
  if (batch.cmd != VK_NULL_HANDLE) {
    full_barrier(vk, batch.cmd, true);
    UT_VK_CHECK(vk.vkEndCommandBuffer(batch.cmd));
  }
  std::vector<VkPipelineStageFlags> stages(wait_sems.size(), VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
  VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  ts.waitSemaphoreValueCount = static_cast<uint32_t>(wait_values.size());
  ts.pWaitSemaphoreValues = wait_values.data();
  ts.signalSemaphoreValueCount = static_cast<uint32_t>(signal_values.size());
  ts.pSignalSemaphoreValues = signal_values.data();
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.pNext = &ts;
  si.waitSemaphoreCount = static_cast<uint32_t>(wait_sems.size());
  si.pWaitSemaphores = wait_sems.data();
  si.pWaitDstStageMask = stages.data();
  si.commandBufferCount = batch.cmd != VK_NULL_HANDLE ? 1 : 0;
  si.pCommandBuffers = &batch.cmd;
  si.signalSemaphoreCount = static_cast<uint32_t>(signal_sems.size());
  si.pSignalSemaphores = signal_sems.data();
  VkResult r;
  {
    std::lock_guard lock(core_->slot.mutex);
    r = vk.vkQueueSubmit(core_->slot.queue, 1, &si, VK_NULL_HANDLE);
  }
  batch = Batch{};
  if (r != VK_SUCCESS) {
    if (r == VK_ERROR_DEVICE_LOST) ctx_->set_lost(r);
    // The batch's signals never reach the GPU: raise them with the error so that nobody waits for them.
    auto err = std::make_exception_ptr(BackendError(std::string("vkQueueSubmit failed: ") + result_name(r)));
    for (std::size_t idx : p.publish) {
      const auto& s = std::get<SignalCmd>(current_->commands[idx]);
      s.event->signal_failed(s.value, err);
      current_->record_signal(s);
    }
    if (p.cmd != VK_NULL_HANDLE) {
      std::lock_guard lock(core_->mutex);
      core_->free_cmds.push_back(p.cmd);
    }
    throw_vk_error(r, "vkQueueSubmit(queue, 1, &si, VK_NULL_HANDLE)");
  }
  core_->submitted.store(n);
  for (auto& [rec, e, v] : raised) note_submitted(*rec, *e, v);
  core_->push(std::move(p));
}

void VulkanQueue::wait_progress(uint64_t value) {
  if (value == 0) return;
  VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
  wi.semaphoreCount = 1;
  wi.pSemaphores = &core_->progress;
  wi.pValues = &value;
  if (const VkResult r = ctx_->vk.vkWaitSemaphores(ctx_->device, &wi, UINT64_MAX); r != VK_SUCCESS) {
    if (r == VK_ERROR_DEVICE_LOST) ctx_->set_lost(r);
    throw_vk_error(r, "vkWaitSemaphores(progress)");
  }
}

bool VulkanQueue::idle() const {
  const uint64_t last = core_->submitted.load();
  return last == 0 || core_->completed() >= last;
}

void VulkanQueue::end_buffer(const std::shared_ptr<CommandBufferState>& cb, std::exception_ptr failure) {
  Pending p;
  p.progress = core_->submitted.load();
  p.cb = cb;
  p.end = true;
  p.failure = std::move(failure);
  // Under finish_mutex, so that the completion thread is not finishing an earlier buffer of this queue right now.
  std::unique_lock finishing(core_->finish_mutex);
  bool inline_finish = false;
  {
    std::lock_guard lock(core_->mutex);
    inline_finish = core_->fifo.empty() && !ctx_->lost && core_->completed() >= p.progress;
  }
  if (inline_finish) {
    core_->retire(p);  // nothing of it on the GPU: finish here, as the CPU backend does
    return;
  }
  finishing.unlock();
  core_->push(std::move(p));
}

}  // namespace ut::vulkan::detail
