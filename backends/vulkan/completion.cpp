// Completion on Vulkan: each queue has a thread that blocks in vkWaitSemaphores on its oldest unfinished batch (the
// smallest pending value of the queue's progress semaphore, with the batch's event semaphores) and retires batches
// in order: raises their signals on
// the events' host words (listeners run there), recycles command buffers, finishes buffers. An empty queue parks the
// thread on a condition variable, so nothing is polled and the host never signals a semaphore just to wake a waiter.
#include <pthread.h>

#include "backends/vulkan/internal.h"
#include "timeline/clock.h"
#include "timeline/error.h"

namespace ut::vulkan::detail {

using ut::detail::SignalCmd;

QueueCore::QueueCore(std::shared_ptr<Context> c, QueueSlot& s, const std::string& label) : ctx(std::move(c)), slot(s) {
  const Fns& vk = ctx->vk;
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  sci.pNext = &type;
  UT_VK_CHECK(vk.vkCreateSemaphore(ctx->device, &sci, nullptr, &progress));
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = slot.family;
  if (const VkResult r = vk.vkCreateCommandPool(ctx->device, &pci, nullptr, &pool); r != VK_SUCCESS) {
    vk.vkDestroySemaphore(ctx->device, progress, nullptr);
    throw_vk_error(r, "vkCreateCommandPool(ctx->device, &pci, nullptr, &pool)");
  }
  thread = std::thread([this, name = ("ut:done:" + label).substr(0, 15)] {
    pthread_setname_np(pthread_self(), name.c_str());
    run();
  });
}

QueueCore::~QueueCore() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  cv.notify_all();
  thread.join();
  const Fns& vk = ctx->vk;
  uint64_t last = submitted.load();
  if (last > 0 && !ctx->lost) {
    // One empty batch after the last one, so that the driver is done with the last one's references (lag_keep) too.
    VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    const uint64_t next = last + 1;
    ts.waitSemaphoreValueCount = 1;
    ts.pWaitSemaphoreValues = &last;
    ts.signalSemaphoreValueCount = 1;
    ts.pSignalSemaphoreValues = &next;
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.pNext = &ts;
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &progress;
    si.pWaitDstStageMask = &stage;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &progress;
    VkResult r;
    {
      std::lock_guard lock(slot.mutex);
      r = vk.vkQueueSubmit(slot.queue, 1, &si, VK_NULL_HANDLE);
    }
    if (r == VK_SUCCESS) last = next;
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &progress;
    wi.pValues = &last;
    (void)vk.vkWaitSemaphores(ctx->device, &wi, UINT64_MAX);
  }
  lag_keep.clear();
  ctx->bury(progress, pool);
}

uint64_t QueueCore::completed() const {
  uint64_t v = 0;
  if (const VkResult r = ctx->vk.vkGetSemaphoreCounterValue(ctx->device, progress, &v); r != VK_SUCCESS) {
    ctx->set_lost(r);
    return 0;
  }
  return v;
}

void QueueCore::push(Pending p) {
  {
    std::lock_guard lock(mutex);
    fifo.push_back(std::move(p));
  }
  cv.notify_one();
}

void QueueCore::retire(Pending& p) {
  for (std::size_t idx : p.publish) {
    const auto& s = std::get<SignalCmd>(p.cb->commands[idx]);
    const uint64_t t = now_ns();
    if (s.event->signaled_value() < s.value) {
      try {
        s.event->signal(s.value);  // listeners run here, on the completion thread
      } catch (const ValidationError&) {
        // The host raised the value past this one meanwhile: values only grow, nothing to do.
      }
    }
    p.cb->record_signal(s, t);
  }
  if (!p.sems.empty()) {  // a batch: release the one before it (see lag_cmd), keep this one until the next
    if (lag_cmd != VK_NULL_HANDLE) {
      std::lock_guard lock(mutex);
      free_cmds.push_back(lag_cmd);
    }
    lag_cmd = p.cmd;
    lag_keep = std::move(p.keep);
  }
  if (p.end) p.cb->finish(p.failure);
}

void QueueCore::run() {
  const Fns& vk = ctx->vk;
  std::vector<VkSemaphore> sems;
  std::vector<uint64_t> values;
  for (;;) {
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return stopping || !fifo.empty(); });
      if (fifo.empty()) return;
      sems = fifo.front().sems;  // only this thread removes records, so the front stays the front
      values = fifo.front().values;
      if (sems.empty()) {        // a buffer's end: after the queue's work up to it
        sems.push_back(progress);
        values.push_back(fifo.front().progress);
      }
    }
    if (!ctx->lost) {
      // Later batches of this queue complete after this one: the oldest is the only one worth waiting for.
      VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
      wi.semaphoreCount = static_cast<uint32_t>(sems.size());
      wi.pSemaphores = sems.data();
      wi.pValues = values.data();
      if (const VkResult r = vk.vkWaitSemaphores(ctx->device, &wi, UINT64_MAX); r != VK_SUCCESS) ctx->set_lost(r);
    }
    if (ctx->lost) {
      fail_all("Vulkan device lost: " + ctx->lost_reason());
      continue;
    }
    std::lock_guard finishing(finish_mutex);
    Pending p;
    {
      std::lock_guard lock(mutex);
      p = std::move(fifo.front());
      fifo.pop_front();
    }
    retire(p);
  }
}

void QueueCore::fail_all(const std::string& why) {
  auto err = std::make_exception_ptr(BackendError(why));
  std::lock_guard finishing(finish_mutex);
  for (;;) {
    Pending p;
    {
      std::lock_guard lock(mutex);
      if (fifo.empty()) return;
      p = std::move(fifo.front());
      fifo.pop_front();
    }
    // Unknown which GPU work of the batch ran: its signals are raised with the error, its buffer fails.
    for (std::size_t idx : p.publish) {
      const auto& s = std::get<SignalCmd>(p.cb->commands[idx]);
      if (s.event->signaled_value() < s.value) s.event->signal_failed(s.value, err);
      p.cb->record_signal(s);
    }
    if (p.end) p.cb->finish(p.failure ? p.failure : err);
  }
}

}  // namespace ut::vulkan::detail
