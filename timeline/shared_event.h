// SharedEvent: a 64-bit monotonic counter that queues and the host signal and wait on (Metal's MTLSharedEvent).
//
//   auto e = device->make_event("E_embed");
//   cb.signal(e, 1);                               // a queue raises it when the command is reached
//   e->notify(1, [](uint64_t v) { /* short */ });  // host listener, fires once the value reaches 1
//   if (e->signaled_value() >= 1) draw_results();  // the render path only reads; never waits
//   e->wait(1, std::chrono::milliseconds(50));     // a host thread may block (no spinning)
//
// Contract
// - The value only grows. signal(v) with v < signaled_value() throws ValidationError; equal is a no-op.
// - signaled_value() is one atomic load of the word (for CUDA: pinned host memory the GPU writes), so it is
//   safe from any thread and never blocks.
// - wait() blocks on a condition variable until the value is reached or the timeout passes. If a failed
//   command buffer signalled the value (so dependants are not stuck), the wait rethrows that failure.
// - notify() callbacks run once, on the thread that raised the value (a queue worker, a signalling host
//   thread, or the caller of notify() if already reached). Keep them short; never wait inside one.
// - Thread-safe. Events may be shared by queues of different backends of one process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ut {

// Where the 64-bit value lives. Backends choose the memory (plain host memory, or pinned memory a GPU maps).
struct EventStorage {
  uint64_t* host_word = nullptr;    // the host reads/writes the value here (8-byte aligned)
  uint64_t device_address = 0;      // GPU-visible address of the same word; 0 when no GPU maps it
  std::shared_ptr<void> owner;      // keeps the memory alive; frees it when the event dies
  // Optional (GPU backends): signal_failed() stores the first failed value here *before* raising the value,
  // so device-side code released by that value can see that it carries an error. nullptr: not kept.
  uint64_t* error_word = nullptr;
};

class SharedEvent {
 public:
  SharedEvent(EventStorage storage, std::string label, uint64_t initial_value);
  ~SharedEvent();
  SharedEvent(const SharedEvent&) = delete;
  SharedEvent& operator=(const SharedEvent&) = delete;

  uint64_t signaled_value() const noexcept;

  // Host signal. Throws ValidationError if value < signaled_value().
  void signal(uint64_t value);

  // Blocks until signaled_value() >= value. Returns false on timeout. Rethrows the error of a failed
  // command buffer that signalled a value in (.., value].
  bool wait(uint64_t value, std::chrono::nanoseconds timeout);
  void wait(uint64_t value);  // no timeout

  // Calls fn(signaled_value) once the value reaches `value`.
  void notify(uint64_t value, std::function<void(uint64_t)> fn);

  const std::string& label() const noexcept { return label_; }
  uint64_t id() const noexcept { return id_; }

  // --- For backends ------------------------------------------------------------------------------------
  const EventStorage& storage() const noexcept { return storage_; }

  // Records that a failed command buffer signalled `value`; waits reaching it rethrow `error`.
  void signal_failed(uint64_t value, std::exception_ptr error);

  // The GPU (or another agent) already wrote the word: wake waiters and run due listeners.
  void on_external_signal();

  // Error recorded at or below `value`, if any.
  std::exception_ptr error_at(uint64_t value) const;

  // Blocks until value reached, `abort()` returns true (checked whenever wake_all() is called) or deadline.
  // Returns true if the value was reached. Used by queue workers so a validator can break a deadlock.
  bool wait_until(uint64_t value, std::chrono::steady_clock::time_point deadline,
                  const std::function<bool()>& abort);

  // Wakes every blocked waiter so it re-checks its abort condition.
  void wake_all();

 private:
  void run_due_listeners(std::unique_lock<std::mutex>& lock);

  EventStorage storage_;
  std::string label_;
  uint64_t id_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  struct Listener {
    uint64_t value;
    std::function<void(uint64_t)> fn;
  };
  std::vector<Listener> listeners_;
  uint64_t error_value_ = 0;  // first value signalled by a failed command buffer (0: none)
  std::exception_ptr error_;
};

using EventPtr = std::shared_ptr<SharedEvent>;

}  // namespace ut
