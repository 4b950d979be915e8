// Completion on CUDA: host callbacks (which must not call CUDA) post to one completion thread per device; it resolves
// each buffer's status, signals the failed ones' events, and calls finish() (whose handlers may call CUDA).
// The same thread watches for asynchronous GPU faults while buffers are in flight and turns them into "device lost".
#include <algorithm>
#include <cstdio>

#include "backends/cuda/internal.h"
#include "timeline/error.h"
#include "timeline/validator.h"

namespace ut::cuda::detail {

using ut::detail::Command;
using ut::detail::command_failure;
using ut::detail::DispatchCmd;
using ut::detail::SignalCmd;
using ut::detail::WaitCmd;

// ---- Worker ------------------------------------------------------------------------------------------------------
Worker::Worker(int device_index, std::function<void()> tick) : device_index_(device_index), tick_(std::move(tick)) {
  thread_ = std::thread([this] { run(); });
}

Worker::~Worker() { stop(); }

void Worker::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && !on_worker_thread()) thread_.join();
}

void Worker::post(std::function<void()> job) noexcept {
  try {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  } catch (...) {
    std::fprintf(stderr, "ut: cuda completion thread: cannot queue a job (out of memory)\n");
  }
}

void Worker::post_at(std::chrono::steady_clock::time_point when, std::function<void()> job) noexcept {
  try {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      timed_.emplace(when, std::move(job));
    }
    cv_.notify_one();
  } catch (...) {
    std::fprintf(stderr, "ut: cuda completion thread: cannot queue a timed job (out of memory)\n");
  }
}

void Worker::set_watching(bool on) noexcept {
  {
    std::lock_guard lock(mutex_);
    watching_ = on;
  }
  if (on) cv_.notify_one();
}

void Worker::run() {
  (void)cudaSetDevice(device_index_);
  auto next_tick = std::chrono::steady_clock::now() + kWatchdog;
  std::unique_lock lock(mutex_);
  for (;;) {
    auto wake = std::chrono::steady_clock::time_point::max();
    if (!timed_.empty()) wake = timed_.begin()->first;
    if (watching_) wake = std::min(wake, next_tick);
    auto ready = [&] {
      return stopping_ || !jobs_.empty() || (!timed_.empty() && timed_.begin()->first <= std::chrono::steady_clock::now());
    };
    if (wake == std::chrono::steady_clock::time_point::max()) {
      cv_.wait(lock, ready);  // nothing timed: sleep until a job arrives (no deadline arithmetic near max())
    } else {
      cv_.wait_until(lock, wake, ready);
    }
    if (stopping_ && jobs_.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    while (!timed_.empty() && timed_.begin()->first <= now) {
      jobs_.push_back(std::move(timed_.begin()->second));
      timed_.erase(timed_.begin());
    }
    while (!jobs_.empty()) {
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    if (watching_ && std::chrono::steady_clock::now() >= next_tick) {
      lock.unlock();
      tick_();
      lock.lock();
      next_tick = std::chrono::steady_clock::now() + kWatchdog;
    } else if (!watching_) {
      next_tick = std::chrono::steady_clock::now() + kWatchdog;
    }
  }
}

// ---- Inflight ----------------------------------------------------------------------------------------------------
void Inflight::fail_at(std::size_t index, std::exception_ptr error, bool in_stream) {
  std::lock_guard lock(fail_mutex);
  if (index < fail_index) {
    fail_index = index;
    failure = std::move(error);
  }
  if (in_stream && status.host) std::atomic_ref<uint64_t>(*status.host).store(1, std::memory_order_release);
}

bool Inflight::failed_before(std::size_t index) {
  for (std::size_t k = 0; k < index && k < waits.size(); ++k) {
    const WaitInfo& w = waits[k];
    if (!w.on_gpu) continue;
    const auto& cmd = std::get<WaitCmd>(cb->commands[k]);
    if (auto err = cmd.event->error_at(cmd.value)) {
      fail_at(k, command_failure(*cb, cb->commands[k],
                                 std::make_exception_ptr(CommandError("upstream failure: " + describe_error(err)))));
      break;
    }
  }
  std::lock_guard lock(fail_mutex);
  return fail_index < index || fail_index == kWholeBuffer;
}

// ---- device-side completion -------------------------------------------------------------------------------------
void CudaDevice::track(const std::shared_ptr<Inflight>& rec) {
  bool first = false;
  {
    std::lock_guard lock(inflight_mutex_);
    rec->seq = next_seq_++;
    first = inflight_.empty();
    inflight_.emplace(rec.get(), rec);
  }
  if (first) worker_->set_watching(true);
}

void CudaDevice::complete_later(const std::shared_ptr<Inflight>& rec) {
  worker_->post([this, r = rec.get()] { complete(r); });
}

void CudaDevice::complete(Inflight* raw) {
  std::shared_ptr<Inflight> rec;
  {
    std::lock_guard lock(inflight_mutex_);
    auto it = inflight_.find(raw);
    if (it == inflight_.end()) return;  // already failed by the device-lost path
    rec = it->second;
  }
  // An asynchronous fault poisons the context; if the callback still ran, the probe stream reports the sticky error.
  if (!lost() && rec->encoded.load() > 0) {
    const cudaError_t e = sticky_error();
    if (is_sticky(e)) {
      lose(e);
      return;
    }
  }
  {
    std::lock_guard lock(inflight_mutex_);
    if (inflight_.erase(raw) == 0) return;
    if (inflight_.empty()) worker_->set_watching(false);
  }
  if (lost()) {
    // Submitted around the moment the device was lost: fail it like the others.
    std::size_t index;
    std::exception_ptr f;
    lost_failure(*rec, &index, &f);
    finalize(*rec, index, f);
    rec->keep.clear();  // a buried record must not hold pinned memory of a context that may be reset
    rec->status.host.reset();
    return;
  }
  rec->failed_before(rec->encoded.load());  // upstream errors at GPU-side waits
  std::size_t index;
  std::exception_ptr failure;
  {
    std::lock_guard lock(rec->fail_mutex);
    index = rec->fail_index;
    failure = rec->failure;
  }
  finalize(*rec, index, failure);
  rec->keep.clear();
  rec->status.host.reset();
}

void CudaDevice::lost_failure(Inflight& r, std::size_t* index, std::exception_ptr* f) {
  {
    std::lock_guard lock(r.fail_mutex);
    *index = r.fail_index;
    *f = r.failure;
  }
  if (*f) return;
  const std::string why = "device lost: " + lost_reason();
  for (std::size_t k = 0; k < r.encoded.load() && k < r.waits.size(); ++k) {
    if (!r.waits[k].on_gpu) continue;
    const auto& w = std::get<WaitCmd>(r.cb->commands[k]);
    if (auto up = w.event->error_at(w.value)) {
      *index = k;
      *f = command_failure(*r.cb, r.cb->commands[k],
                           std::make_exception_ptr(CommandError("upstream failure: " + describe_error(up))));
      return;
    }
  }
  *index = Inflight::kWholeBuffer;
  *f = r.cb->commands.empty()
           ? std::make_exception_ptr(BackendError("[queue '" + r.queue->label() + "'] command buffer '" + r.cb->label +
                                                  "' failed: " + why))
           : command_failure(*r.cb, r.cb->commands[0], std::make_exception_ptr(BackendError(why)));
}

void CudaDevice::finalize(Inflight& rec, std::size_t fail_index, std::exception_ptr failure) {
  CommandBufferState& cb = *rec.cb;
  if (failure) {
    // Signals after the failure were not written by the GPU (checked signals skipped them, or they were never
    // encoded): raise them now, carrying the error, so that dependants fail instead of hanging. When the whole
    // buffer failed (device lost), raise every signal whose value was not reached.
    const bool whole = fail_index >= Inflight::kWholeBuffer || lost();
    for (std::size_t j = whole ? 0 : fail_index + 1; j < cb.commands.size(); ++j) {
      if (auto* s = std::get_if<SignalCmd>(&cb.commands[j])) {
        if (whole && s->event->signaled_value() >= s->value) continue;
        s->event->signal_failed(s->value, failure);
        cb.record_signal(*s);
      }
    }
  }
  cb.finish(failure);
}

void CudaDevice::bury(const std::shared_ptr<Inflight>& rec) {
  static std::mutex graveyard_mutex;
  static auto* graveyard = new std::vector<std::shared_ptr<Inflight>>();  // intentionally leaked
  {
    std::lock_guard lock(rec->host_mutex);
    rec->zombie = true;
  }
  std::lock_guard lock(graveyard_mutex);
  graveyard->push_back(rec);
}

bool CudaDevice::signal_encoded(const SharedEvent& e, uint64_t value) {
  std::lock_guard lock(encoded_mutex_);
  auto it = encoded_.find(e.id());
  return it != encoded_.end() && it->second >= value;
}

void CudaDevice::note_signal_encoded(const SharedEvent& e, uint64_t value) {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(encoded_mutex_);
    uint64_t& v = encoded_[e.id()];
    v = std::max(v, value);
    auto it = parked_.find(e.id());
    if (it == parked_.end()) return;
    auto& list = it->second;
    for (auto p = list.begin(); p != list.end();) {
      if (p->first <= value) {
        due.push_back(std::move(p->second));
        p = list.erase(p);
      } else {
        ++p;
      }
    }
    if (list.empty()) parked_.erase(it);
  }
  for (auto& f : due) f();
}

void CudaDevice::park_until_encoded(const SharedEvent& e, uint64_t value, std::function<void()> resume) {
  {
    std::lock_guard lock(encoded_mutex_);
    auto it = encoded_.find(e.id());
    if (it == encoded_.end() || it->second < value) {
      auto& list = parked_[e.id()];
      // Drop entries whose value was reached some other way (host signal, another backend): they are resumed.
      const uint64_t now = e.signaled_value();
      list.erase(std::remove_if(list.begin(), list.end(), [now](auto& p) { return p.first <= now; }), list.end());
      list.emplace_back(value, std::move(resume));
      return;
    }
  }
  resume();
}

std::string CudaDevice::lost_reason() const {
  std::lock_guard lock(inflight_mutex_);
  return lost_reason_;
}

cudaError_t CudaDevice::sticky_error() noexcept {
  if (const cudaError_t e = cudaEventRecord(probe_event_.get(), probe_.get()); e != cudaSuccess) return e;
  return cudaStreamQuery(probe_.get());
}

void CudaDevice::watchdog_tick() {
  bool running = false;
  {
    std::lock_guard lock(inflight_mutex_);
    for (auto& [p, r] : inflight_) running = running || r->encoded.load() > 0;
  }
  if (!running || lost()) return;
  const cudaError_t e = sticky_error();  // the probe stream: a queue's stream may be capturing a graph
  if (is_sticky(e)) lose(e);
}

namespace {

bool waits_reached(const Inflight& r) {
  for (std::size_t k = 0; k < r.waits.size() && k < r.encoded.load(); ++k) {
    if (!r.waits[k].on_gpu) continue;
    const auto& w = std::get<WaitCmd>(r.cb->commands[k]);
    if (w.event->signaled_value() < w.value) return false;
  }
  return true;
}

}  // namespace

void CudaDevice::lose(cudaError_t error) {
  const std::string why = error_text(error);
  std::vector<std::shared_ptr<Inflight>> recs;
  {
    std::lock_guard lock(inflight_mutex_);
    if (!lost_.exchange(true)) lost_reason_ = why;
    for (auto& [p, r] : inflight_) recs.push_back(r);
    inflight_.clear();
  }
  note_device_lost(index_, why);
  worker_->set_watching(false);
  std::fprintf(stderr, "ut: CUDA device %d lost: %s; %zu command buffer(s) in flight fail, new work is refused\n",
               index_, why.c_str(), recs.size());
  std::sort(recs.begin(), recs.end(), [](auto& a, auto& b) { return a->seq < b->seq; });
  for (auto& r : recs) {
    std::lock_guard submit(r->queue->submit_mutex());  // its encoding has finished
    std::lock_guard lock(r->host_mutex);                // no host callback is touching it
    r->zombie = true;
  }
  std::vector<bool> done(recs.size(), false);
  auto finish_one = [&](std::size_t i, std::size_t index, std::exception_ptr f) {
    finalize(*recs[i], index, std::move(f));
    done[i] = true;
  };
  // 1. Buffers that could have run kernels when the fault hit (their GPU waits were satisfied) name them.
  for (std::size_t i = 0; i < recs.size(); ++i) {
    Inflight& r = *recs[i];
    if (r.kernels.empty() || !waits_reached(r)) continue;
    std::size_t last = 0;
    for (std::size_t k = 0; k < r.encoded.load(); ++k)
      if (std::holds_alternative<DispatchCmd>(r.cb->commands[k])) last = k;
    std::string names;
    for (auto& k : r.kernels) names += (names.empty() ? "'" : ", '") + k + "'";
    auto err = std::make_exception_ptr(
        BackendError("device lost: " + why + " (asynchronous GPU fault while this buffer's kernels " + names +
                     " ran; the device refuses new work)"));
    finish_one(i, last, command_failure(*r.cb, r.cb->commands[last], err));
  }
  // 2. Then, repeatedly, buffers whose waits now carry an upstream error; the rest fail as lost.
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t i = 0; i < recs.size(); ++i) {
      if (done[i]) continue;
      Inflight& r = *recs[i];
      for (std::size_t k = 0; k < r.encoded.load() && k < r.waits.size(); ++k) {
        if (!r.waits[k].on_gpu) continue;
        const auto& w = std::get<WaitCmd>(r.cb->commands[k]);
        if (auto up = w.event->error_at(w.value)) {
          finish_one(i, k,
                     command_failure(*r.cb, r.cb->commands[k],
                                     std::make_exception_ptr(CommandError("upstream failure: " + describe_error(up)))));
          progress = true;
          break;
        }
      }
    }
  }
  for (std::size_t i = 0; i < recs.size(); ++i) {
    if (done[i]) continue;
    std::size_t index;
    std::exception_ptr f;
    lost_failure(*recs[i], &index, &f);
    finish_one(i, index, f);
  }
  // Callbacks of the dead context may still fire and read these records: keep them (small) for the process's life,
  // but drop what they own so that the context can be reset once the user releases the rest.
  for (auto& r : recs) {
    bury(r);
    r->keep.clear();
    r->status.host.reset();
    r->cb.reset();
  }
}

}  // namespace ut::cuda::detail
