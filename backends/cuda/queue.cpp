// CUDA queue: encodes a committed command buffer onto its stream at commit time; host callbacks on a forked
// callback stream report start, signals and the end to the device's completion thread.
#include <cstring>
#include <string>

#include "backends/cuda/internal.h"
#include "timeline/error.h"
#include "timeline/validator.h"

namespace ut::cuda::detail {

using namespace ut::detail;

namespace {

// ---- host callbacks (CUDA's callback thread: no CUDA calls here) -----------------------------------------------
void CUDART_CB on_start(void* p) {
  auto* c = static_cast<HostCall*>(p);
  std::lock_guard lock(c->rec->host_mutex);
  if (c->rec->zombie) return;
  c->rec->cb->mark_started();
}

void CUDART_CB on_end(void* p) {
  auto* c = static_cast<HostCall*>(p);
  Inflight* rec = c->rec;
  CudaDevice* dev = nullptr;
  {
    std::lock_guard lock(rec->host_mutex);
    if (rec->zombie) return;
    dev = &rec->queue->cuda_device();
  }
  dev->worker().post([dev, rec] { dev->complete(rec); });
}

void CUDART_CB on_signal(void* p) {
  auto* c = static_cast<HostCall*>(p);
  Inflight& rec = *c->rec;
  std::lock_guard lock(rec.host_mutex);
  if (rec.zombie) return;
  const auto& s = std::get<SignalCmd>(rec.cb->commands[c->index]);
  if (s.event->signaled_value() < s.value) return;  // a checked signal skipped the write: the worker signals it failed
  rec.cb->record_signal(s);
  s.event->wake_all();  // blocked host waiters re-check the word now
  // Listeners may call CUDA (commit the next stage, say): run them on the encoder thread.
  rec.queue->cuda_device().encoder().post([e = s.event] { e->on_external_signal(); });
}

void CUDART_CB on_host_task(void* p) {
  auto* c = static_cast<HostCall*>(p);
  Inflight& rec = *c->rec;
  std::lock_guard lock(rec.host_mutex);
  if (rec.zombie) return;
  if (rec.failed_before(c->index)) return;  // an earlier command failed: skip, as the CPU backend does
  const Command& cmd = rec.cb->commands[c->index];
  try {
    std::get<HostTaskCmd>(cmd).fn();
  } catch (...) {
    rec.fail_at(c->index, command_failure(*rec.cb, cmd, std::current_exception()), /*in_stream=*/true);
  }
}

// A signal of an event that no GPU maps (made by another backend): raised by the completion thread, in stream
// order, unless the buffer has failed by then.
void CUDART_CB on_foreign_signal(void* p) {
  auto* c = static_cast<HostCall*>(p);
  Inflight* rec = c->rec;
  const std::size_t index = c->index;
  CudaDevice* dev = nullptr;
  {
    std::lock_guard lock(rec->host_mutex);
    if (rec->zombie) return;
    dev = &rec->queue->cuda_device();
  }
  dev->worker().post([rec, index] {
    {
      std::lock_guard lock(rec->host_mutex);
      if (rec->zombie) return;  // the device was lost meanwhile
    }
    if (rec->failed_before(index)) return;  // finalize() raises it with the error
    const auto& s = std::get<SignalCmd>(rec->cb->commands[index]);
    try {
      s.event->signal(s.value);
      rec->cb->record_signal(s);
    } catch (...) {
      rec->fail_at(index, command_failure(*rec->cb, rec->cb->commands[index], std::current_exception()));
    }
  });
}

}  // namespace

CudaQueue::CudaQueue(CudaDevice& device, QueueDesc desc, int native_priority)
    : Queue(device, std::move(desc)), cdev_(device), priority_(native_priority) {
  cdev_.make_current();
  if (desc_.partition != SmPartition::any) {  // the device made sure a partition is active
    stream_.reset(cdev_.partitions()->make_stream(desc_.partition, priority_));
    side_.reset(cdev_.partitions()->make_stream(desc_.partition, priority_));
  } else {
    cudaStream_t s = nullptr;
    UT_CUDA_CHECK(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, priority_));
    stream_.reset(s);
    UT_CUDA_CHECK(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, priority_));
    side_.reset(s);
  }
  cudaEvent_t e = nullptr;
  UT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  fork_.reset(e);
}

CudaQueue::~CudaQueue() {
  wait_idle();  // completes even if the device is lost (the lost path finishes every buffer)
}

void CudaQueue::enqueue_callback(cudaHostFn_t fn, HostCall* call) {
  UT_CUDA_CHECK(cudaEventRecord(fork_.get(), stream_.get()));
  UT_CUDA_CHECK(cudaStreamWaitEvent(side_.get(), fork_.get(), 0));
  UT_CUDA_CHECK(cudaLaunchHostFunc(side_.get(), fn, call));
}

void CudaQueue::submit(std::shared_ptr<CommandBufferState> cb) {
  auto rec = std::make_shared<Inflight>();
  rec->cb = std::move(cb);
  rec->queue = this;
  const std::size_t n = rec->cb->commands.size();
  rec->waits.resize(n);
  rec->calls.resize(n + 2);
  for (std::size_t i = 0; i < n + 2; ++i) rec->calls[i] = HostCall{rec.get(), i};
  std::lock_guard lock(submit_mutex_);
  cdev_.track(rec);
  pending_.push_back(std::move(rec));
  pump_locked();
}

void CudaQueue::pump() {
  std::lock_guard lock(submit_mutex_);
  pump_locked();
}

void CudaQueue::pump_locked() {
  while (!pending_.empty()) {
    std::shared_ptr<Inflight> rec = pending_.front();
    {
      std::lock_guard h(rec->host_mutex);
      if (rec->zombie) {  // failed by the device-lost path while it waited here
        pending_.pop_front();
        continue;
      }
    }
    if (!advance(rec)) return;  // parked at a wait: later buffers keep their place behind it
    pending_.pop_front();
  }
}

bool CudaQueue::advance(const std::shared_ptr<Inflight>& rec) {
  const std::size_t n = rec->cb->commands.size();
  if (cdev_.lost() && !rec->started) {
    rec->fail_at(Inflight::kWholeBuffer,
                 n == 0 ? std::make_exception_ptr(BackendError("[queue '" + label() + "'] command buffer '" +
                                                               rec->cb->label + "' failed: device lost: " +
                                                               cdev_.lost_reason()))
                        : command_failure(*rec->cb, rec->cb->commands[0],
                                          std::make_exception_ptr(BackendError("device lost: " + cdev_.lost_reason()))));
    cdev_.complete_later(rec);
    return true;
  }
  try {
    cdev_.make_current();
    if (!rec->started) {
      rec->status = cdev_.pool().acquire();
      enqueue_callback(on_start, &rec->calls[n]);
      rec->started = true;
    }
    if (!encode(rec)) return false;
    enqueue_callback(on_end, &rec->calls[n + 1]);
    return true;
  } catch (const std::exception& ex) {
    rec->fail_at(Inflight::kWholeBuffer, std::make_exception_ptr(BackendError(
                                              "[queue '" + label() + "'] command buffer '" + rec->cb->label +
                                              "' failed: " + ex.what())));
  }
  // A callback could not be enqueued. Those already enqueued may still fire after the buffer is finished: keep
  // the record, inert.
  const cudaError_t e = cudaStreamQuery(stream_.get());
  if (is_sticky(e)) cdev_.worker().post([d = &cdev_, e] { d->lose(e); });
  CudaDevice::bury(rec);
  cdev_.complete_later(rec);
  return true;
}

bool CudaQueue::encode(const std::shared_ptr<Inflight>& owner) {
  Inflight& rec = *owner;
  CommandBufferState& cb = *rec.cb;
  bool graphs = false;
  {
    std::lock_guard lock(graph_mutex_);
    graphs = graph_labels_.count(cb.label) != 0;
  }
  const std::size_t n = cb.commands.size();
  for (std::size_t i = rec.encoded.load(); i < n; ++i) {
    const Command& cmd = cb.commands[i];
    {
      std::lock_guard lock(rec.fail_mutex);  // a validation timer failed the parked wait
      if (rec.fail_index <= i) return true;
    }
    const bool graphable = std::holds_alternative<DispatchCmd>(cmd) || std::holds_alternative<CopyCmd>(cmd);
    if (graphs && graphable) {
      std::size_t end = i;
      while (end < n && (std::holds_alternative<DispatchCmd>(cb.commands[end]) ||
                         std::holds_alternative<CopyCmd>(cb.commands[end]))) {
        ++end;
      }
      try {
        encode_graph_segment(rec, i, end, rec.enc.segment++);
      } catch (...) {
        rec.fail_at(i, command_failure(cb, cmd, std::current_exception()));
        return true;
      }
      i = end - 1;
      rec.encoded.store(end);
      continue;
    }
    try {
      if (auto* w = std::get_if<WaitCmd>(&cmd); w && !encode_wait(owner, i)) return false;  // parked
      if (!std::holds_alternative<WaitCmd>(cmd)) encode_command(owner, i);
    } catch (...) {
      rec.fail_at(i, command_failure(cb, cmd, std::current_exception()));
      return true;  // later commands are not encoded; finalize() raises their signals with the error
    }
    rec.encoded.store(i + 1);
  }
  return true;
}

void CudaQueue::encode_command(const std::shared_ptr<Inflight>& owner, std::size_t i) {
  Inflight& rec = *owner;
  const Command& cmd = rec.cb->commands[i];
  if (std::holds_alternative<HostTaskCmd>(cmd)) {
    UT_CUDA_CHECK(cudaLaunchHostFunc(stream_.get(), on_host_task, &rec.calls[i]));
    rec.enc.fallible_before = true;
  } else if (std::holds_alternative<DispatchCmd>(cmd)) {
    encode_dispatch(rec, i, true);
  } else if (auto* c = std::get_if<CopyCmd>(&cmd)) {
    encode_copy(*c);
  } else if (std::holds_alternative<SignalCmd>(cmd)) {
    encode_signal(rec, i);
  }
}

void CudaQueue::check_dispatch_buffers(const DispatchCmd& d) {
  for (std::size_t b = 0; b < d.args.buffers.size(); ++b) {
    const Buffer& buf = d.args.buffers[b];
    cudaPointerAttributes attr{};
    const void* p = reinterpret_cast<const void*>(static_cast<uintptr_t>(buf.device_address()));
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess || attr.type == cudaMemoryTypeUnregistered) {
      (void)cudaGetLastError();
      throw UsageError("buffer " + std::to_string(b) + " ('" + buf.label() + "' in heap '" + buf.heap().label() +
                       "') is host memory the GPU cannot address; allocate it from a CUDA device's heap");
    }
  }
}

void CudaQueue::encode_dispatch(Inflight& rec, std::size_t i, bool check_buffers) {
  const auto& d = std::get<DispatchCmd>(rec.cb->commands[i]);
  const KernelFn* fn = kernels().find(d.kernel, "cuda");
  if (fn == nullptr) throw UsageError("kernel '" + d.kernel + "' has no CUDA implementation");
  if (check_buffers) check_dispatch_buffers(d);
  (void)cudaGetLastError();  // start from a clean slate so a launch error is this kernel's
  DispatchContext ctx;
  ctx.args = &d.args;
  ctx.grid = d.grid;
  ctx.begin = 0;
  ctx.end = d.grid.count();
  ctx.native_queue = stream_.get();
  ctx.host = false;
  (*fn)(ctx);
  if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) {
    throw BackendError("kernel '" + d.kernel + "' launch failed: " + error_text(e));
  }
  rec.kernels.push_back(d.kernel);
}

void CudaQueue::encode_copy(const CopyCmd& c) {
  auto* dst = reinterpret_cast<std::byte*>(static_cast<uintptr_t>(c.dst.device_address())) + c.dst_offset;
  auto* src = reinterpret_cast<const std::byte*>(static_cast<uintptr_t>(c.src.device_address())) + c.src_offset;
  if (c.bytes == 0) return;
  UT_CUDA_CHECK(cudaMemcpyAsync(dst, src, c.bytes, cudaMemcpyDefault, stream_.get()));
}

void CudaQueue::encode_signal(Inflight& rec, std::size_t i) {
  EncodeState& enc = rec.enc;
  const auto& s = std::get<SignalCmd>(rec.cb->commands[i]);
  const uint64_t cur = s.event->signaled_value();
  if (s.value < cur) {
    // The GPU writes with a plain store and cannot check; reject what is already known to be backwards.
    throw ValidationError("[SharedEvent::signal] '" + s.event->label() + "' signalled backwards: " +
                          std::to_string(s.value) + " < current value " + std::to_string(cur) +
                          " (event values only grow; checked at commit on CUDA)");
  }
  const uint64_t word = s.event->storage().device_address;
  if (word == 0) {
    // An imported semaphore (another API's event) is signalled on the GPU too, unless something before the signal
    // may still fail while the stream runs: a stream cannot skip the operation, and the other API's waiters must
    // then see the failure through the word instead.
    if (auto ext = cdev_.external_timeline(*s.event); ext && !enc.fallible_before && ext->hooks.reserve_signal(s.value)) {
      cudaExternalSemaphoreSignalParams p{};
      p.params.fence.value = s.value;
      UT_CUDA_CHECK(cudaSignalExternalSemaphoresAsync(&ext->handle, &p, 1, stream_.get()));
      ext->hooks.signal_submitted(s.value);
    }
    UT_CUDA_CHECK(cudaLaunchHostFunc(stream_.get(), on_foreign_signal, &rec.calls[i]));
    return;
  }
  if (!enc.fallible_before && cdev_.memops()) {
    UT_CUDA_CHECK(driver_api().write64(stream_.get(), word, s.value, CU_STREAM_WRITE_VALUE_DEFAULT));
  } else {
    // Checked signal: skip the write if a host task failed (status word) or a waited value carries an error.
    SignalChecks checks;
    if (enc.fallible_before) checks.status = reinterpret_cast<const unsigned long long*>(rec.status.device);
    auto* status = reinterpret_cast<unsigned long long*>(rec.status.device);
    for (std::size_t k = 0; k < enc.gpu_waits.size(); ++k) {
      const WaitInfo& w = rec.waits[enc.gpu_waits[k]];
      checks.error_words[checks.n] = reinterpret_cast<const unsigned long long*>(w.error_device);
      checks.values[checks.n] = w.value;
      if (++checks.n == SignalChecks::kMax && k + 1 < enc.gpu_waits.size()) {
        UT_CUDA_CHECK(launch_fold_checks(stream_.get(), status, checks));
        checks.n = 0;
      }
    }
    UT_CUDA_CHECK(launch_checked_signal(stream_.get(), reinterpret_cast<unsigned long long*>(word), s.value, checks));
  }
  enqueue_callback(on_signal, &rec.calls[i]);
  cdev_.note_signal_encoded(*s.event, s.value);  // waits parked on this value may now go to the GPU
}

// A GPU-side wait is put into a stream only once its producer is already in a stream of this device (a signal of
// the same or a higher value was encoded), or not at all when the value is reached. Otherwise the buffer parks here,
// on the host, until one of the two happens. Why: streams share a few hardware queues (CUDA_DEVICE_MAX_CONNECTIONS),
// and a wait blocks its hardware queue; if the producer were submitted later into the same hardware queue, it would
// sit behind the wait forever (the deadlock NVIDIA's cuStreamWaitValue documentation warns about). With producers
// always submitted first, every blocked wait waits for earlier work only, so the GPU always makes progress.
bool CudaQueue::encode_wait(const std::shared_ptr<Inflight>& owner, std::size_t i) {
  Inflight& rec = *owner;
  const auto& w = std::get<WaitCmd>(rec.cb->commands[i]);
  SharedEvent& e = *w.event;
  const uint64_t word = e.storage().device_address;
  const auto ext = word == 0 ? cdev_.external_timeline(e) : nullptr;
  const bool producer_on_gpu =
      word != 0 ? cdev_.signal_encoded(e, w.value) : ext != nullptr && ext->hooks.signal_is_submitted(w.value);
  if (e.signaled_value() >= w.value) {
    if (auto err = e.error_at(w.value)) throw CommandError("upstream failure: " + describe_error(err));
    rec.parked_at = SIZE_MAX;
    return true;  // already satisfied: no GPU operation
  }
  if (!producer_on_gpu) {
    if (rec.parked_at != i) park(owner, i);
    return false;
  }
  rec.parked_at = SIZE_MAX;
  WaitInfo info;
  info.on_gpu = true;
  info.value = w.value;
  if (ext) {
    // The other API submits its signal only for work that recorded without failing, so this wait cannot carry an
    // error to later signals; a failure raised on the word later is seen when the buffer completes.
    info.error_word = e.storage().error_word;
    rec.waits[i] = info;
    cudaExternalSemaphoreWaitParams p{};
    p.params.fence.value = w.value;
    UT_CUDA_CHECK(cudaWaitExternalSemaphoresAsync(&ext->handle, &p, 1, stream_.get()));
    return true;
  }
  info.error_word = e.storage().error_word;
  info.error_device = e.storage().error_word != nullptr ? word + sizeof(uint64_t) : 0;
  rec.waits[i] = info;
  if (cdev_.memops()) {
    UT_CUDA_CHECK(driver_api().wait64(stream_.get(), word, w.value, CU_STREAM_WAIT_VALUE_GEQ));
  } else {
    UT_CUDA_CHECK(launch_wait_geq(stream_.get(), reinterpret_cast<const unsigned long long*>(word), w.value));
  }
  rec.enc.fallible_before = true;
  if (info.error_device != 0) rec.enc.gpu_waits.push_back(i);
  return true;
}

void CudaQueue::park(const std::shared_ptr<Inflight>& owner, std::size_t i) {
  Inflight& rec = *owner;
  const auto& w = std::get<WaitCmd>(rec.cb->commands[i]);
  rec.parked_at = i;
  Validator* validator = cdev_.validator();
  if (validator) {
    bool cycle = false;
    const std::string problem = validator->check_blocked(*rec.cb, i, &cycle);
    if (cycle) {
      validator->report(problem);
      throw ValidationError(problem);
    }
    if (!problem.empty()) {
      // Nobody committed a signal for it yet: fail the wait after the grace period unless it is signalled.
      std::weak_ptr<Queue> wq = weak_from_this();
      std::weak_ptr<Inflight> wr = owner;
      cdev_.encoder().post_at(std::chrono::steady_clock::now() + validator->grace(), [wq, wr, i, validator] {
        auto q = wq.lock();
        auto r = wr.lock();
        if (!q || !r) return;
        auto& cq = static_cast<CudaQueue&>(*q);
        {
          std::lock_guard lock(cq.submit_mutex_);
          if (r->parked_at != i || r->zombie) return;
          bool cyc = false;
          const std::string again = validator->check_blocked(*r->cb, i, &cyc);
          if (again.empty()) return;
          const std::string msg =
              again + "; gave up after " + std::to_string(validator->grace().count()) + " ms (validation mode)";
          validator->report(msg);
          r->fail_at(i, command_failure(*r->cb, r->cb->commands[i], std::make_exception_ptr(ValidationError(msg))));
        }
        cq.pump();
      });
    }
  }
  // Resume when the value is reached (host signal, another backend, a failure) or a producer is encoded here; on
  // the encoder thread, never the completion worker (see CudaDevice::encoder).
  std::weak_ptr<Queue> wq = weak_from_this();
  auto resume = [wq, dev = &cdev_] {
    dev->encoder().post([wq] {
      if (auto q = wq.lock()) static_cast<CudaQueue&>(*q).pump();
    });
  };
  if (auto ext = cdev_.external_timeline(*w.event)) {
    ext->hooks.when_signal_submitted(w.value, resume);  // the other API submitted the producer: wait on the GPU
  } else {
    cdev_.park_until_encoded(*w.event, w.value, resume);
  }
  w.event->notify(w.value, [resume](uint64_t) { resume(); });
}

}  // namespace ut::cuda::detail
