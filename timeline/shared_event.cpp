#include "timeline/shared_event.h"

#include <atomic>
#include <string>

#include "timeline/error.h"

namespace ut {
namespace {
std::atomic<uint64_t> g_next_event_id{1};

uint64_t load_word(const uint64_t* w) noexcept {
  // The word may be written by a GPU or another queue: always an atomic load.
  return std::atomic_ref<uint64_t>(*const_cast<uint64_t*>(w)).load(std::memory_order_acquire);
}
void store_word(uint64_t* w, uint64_t v) noexcept {
  std::atomic_ref<uint64_t>(*w).store(v, std::memory_order_release);
}
}  // namespace

SharedEvent::SharedEvent(EventStorage storage, std::string label, uint64_t initial_value)
    : storage_(std::move(storage)), label_(std::move(label)), id_(g_next_event_id.fetch_add(1)) {
  if (storage_.host_word == nullptr) throw UsageError("[SharedEvent::SharedEvent] no storage for the value");
  if (label_.empty()) label_ = "event#" + std::to_string(id_);
  store_word(storage_.host_word, initial_value);
}

SharedEvent::~SharedEvent() = default;

uint64_t SharedEvent::signaled_value() const noexcept { return load_word(storage_.host_word); }

void SharedEvent::signal(uint64_t value) {
  std::unique_lock lock(mutex_);
  const uint64_t cur = load_word(storage_.host_word);
  if (value < cur) {
    throw ValidationError("[SharedEvent::signal] '" + label_ + "' signalled backwards: " + std::to_string(value) +
                          " < current value " + std::to_string(cur) + " (event values only grow)");
  }
  if (value == cur) return;
  store_word(storage_.host_word, value);
  run_due_listeners(lock);
}

void SharedEvent::signal_failed(uint64_t value, std::exception_ptr error) {
  std::unique_lock lock(mutex_);
  if (!error_) {
    error_ = std::move(error);
    error_value_ = value;
    if (storage_.error_word != nullptr) store_word(storage_.error_word, value);
  }
  if (value > load_word(storage_.host_word)) store_word(storage_.host_word, value);
  run_due_listeners(lock);
}

void SharedEvent::on_external_signal() {
  std::unique_lock lock(mutex_);
  run_due_listeners(lock);
}

void SharedEvent::run_due_listeners(std::unique_lock<std::mutex>& lock) {
  const uint64_t v = load_word(storage_.host_word);
  std::vector<Listener> due;
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (it->value <= v) {
      due.push_back(std::move(*it));
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  lock.unlock();
  cv_.notify_all();
  for (auto& l : due) l.fn(v);
}

std::exception_ptr SharedEvent::error_at(uint64_t value) const {
  std::lock_guard lock(mutex_);
  if (error_ && value >= error_value_) return error_;
  return nullptr;
}

bool SharedEvent::wait(uint64_t value, std::chrono::nanoseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  const bool reached =
      cv_.wait_until(lock, deadline, [&] { return load_word(storage_.host_word) >= value; });
  if (reached && error_ && value >= error_value_) std::rethrow_exception(error_);
  return reached;
}

void SharedEvent::wait(uint64_t value) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return load_word(storage_.host_word) >= value; });
  if (error_ && value >= error_value_) std::rethrow_exception(error_);
}

bool SharedEvent::wait_until(uint64_t value, std::chrono::steady_clock::time_point deadline,
                             const std::function<bool()>& abort) {
  std::unique_lock lock(mutex_);
  cv_.wait_until(lock, deadline, [&] { return load_word(storage_.host_word) >= value || (abort && abort()); });
  return load_word(storage_.host_word) >= value;
}

void SharedEvent::wake_all() {
  { std::lock_guard lock(mutex_); }
  cv_.notify_all();
}

void SharedEvent::notify(uint64_t value, std::function<void(uint64_t)> fn) {
  if (!fn) throw UsageError("[SharedEvent::notify] empty callback");
  std::unique_lock lock(mutex_);
  const uint64_t cur = load_word(storage_.host_word);
  if (cur >= value) {
    lock.unlock();
    fn(cur);
    return;
  }
  listeners_.push_back({value, std::move(fn)});
}

}  // namespace ut
