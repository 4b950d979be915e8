// Validator: finds waits that can never be satisfied, instead of letting queues hang.
//
//   auto dev = ut::Device::create({.validation = true});   // or UT_VALIDATION=1
//   // A cycle (A waits for B's signal, B waits for A's) fails both buffers with ValidationError at once;
//   // a wait for a value no committed buffer will signal fails after DeviceDesc::unsatisfiable_wait_grace
//   // unless the host signals it first. Backwards signals are always rejected, validation or not.
//   for (auto& f : dev->validator()->findings()) std::cerr << f << '\n';
//
// Contract: thread-safe. Queues report commit, progress, blocking and completion; the validator keeps a
// graph of live command buffers (queue order edges, wait -> possible signaller edges) and, whenever a queue
// blocks, checks whether every possible signaller depends on the blocked buffer (a deadlock).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ut {

namespace detail {
struct CommandBufferState;
}

class Validator {
 public:
  explicit Validator(std::chrono::milliseconds unsatisfiable_wait_grace) : grace_(unsatisfiable_wait_grace) {}

  void on_commit(const std::shared_ptr<detail::CommandBufferState>& cb);
  // The queue finished command `index` (0-based) of cb.
  void on_progress(const detail::CommandBufferState& cb, std::size_t index);
  void on_complete(const detail::CommandBufferState& cb);

  // Called by a queue about to block on command `index` (a wait) of cb. Returns an empty string if the wait can
  // still be satisfied by some committed buffer; otherwise why not. If the answer proves a cycle, `cycle` is
  // set (fail now); otherwise the wait is only unsatisfiable unless the host signals (fail after grace()).
  std::string check_blocked(const detail::CommandBufferState& cb, std::size_t index, bool* cycle);
  void on_unblocked(const detail::CommandBufferState& cb);

  std::chrono::milliseconds grace() const noexcept { return grace_; }
  void report(std::string finding);
  std::vector<std::string> findings() const;

 private:
  struct Live {
    const detail::CommandBufferState* cb;
    uint32_t queue_id;
    uint64_t queue_seq;       // commit order within the queue
    std::size_t next = 0;     // first command not yet finished
    bool blocked = false;
  };
  std::vector<const Live*> signallers(uint64_t event_id, uint64_t value) const;
  static std::size_t signal_index(const Live& l, uint64_t event_id, uint64_t value);

  std::chrono::milliseconds grace_;
  mutable std::mutex mutex_;
  std::unordered_map<const detail::CommandBufferState*, Live> live_;
  std::unordered_map<uint32_t, uint64_t> queue_seq_;
  std::vector<std::string> findings_;
};

}  // namespace ut
