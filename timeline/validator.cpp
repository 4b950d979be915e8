#include "timeline/validator.h"

#include <functional>

#include "timeline/detail/command_buffer_state.h"
#include "timeline/queue.h"

namespace ut {

using detail::CommandBufferState;
using detail::SignalCmd;
using detail::WaitCmd;

void Validator::on_commit(const std::shared_ptr<CommandBufferState>& cb) {
  std::lock_guard lock(mutex_);
  const uint32_t q = cb->queue->id();
  live_[cb.get()] = Live{cb.get(), q, queue_seq_[q]++, 0, false};
}

void Validator::on_progress(const CommandBufferState& cb, std::size_t index) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(&cb);
  if (it != live_.end()) it->second.next = index + 1;
}

void Validator::on_complete(const CommandBufferState& cb) {
  std::lock_guard lock(mutex_);
  live_.erase(&cb);
}

void Validator::on_unblocked(const CommandBufferState& cb) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(&cb);
  if (it != live_.end()) it->second.blocked = false;
}

// Index of l's first pending command that signals event_id to >= value, or commands.size() if none.
std::size_t Validator::signal_index(const Live& l, uint64_t event_id, uint64_t value) {
  const auto& cmds = l.cb->commands;
  for (std::size_t i = l.next; i < cmds.size(); ++i) {
    if (auto* s = std::get_if<SignalCmd>(&cmds[i]); s && s->event->id() == event_id && s->value >= value) return i;
  }
  return cmds.size();
}

std::vector<const Validator::Live*> Validator::signallers(uint64_t event_id, uint64_t value) const {
  std::vector<const Live*> out;
  for (auto& [ptr, l] : live_)
    if (signal_index(l, event_id, value) < l.cb->commands.size()) out.push_back(&l);
  return out;
}

std::string Validator::check_blocked(const CommandBufferState& cb, std::size_t index, bool* cycle) {
  *cycle = false;
  std::lock_guard lock(mutex_);
  auto xit = live_.find(&cb);
  if (xit == live_.end()) return {};
  Live& x = xit->second;
  x.blocked = true;
  x.next = index;
  const auto& wait = std::get<WaitCmd>(cb.commands[index]);
  if (wait.event->signaled_value() >= wait.value) return {};

  // Can live buffer `l` run its commands [l.next, upto) without `x` first getting past its wait?
  // "true" means: it cannot (it depends on x). Visiting marks count as dependent: a cycle that does not pass
  // through x is a deadlock of its own and will never produce the signal either.
  std::unordered_map<const Live*, int> memo;  // 0 visiting, 1 depends, 2 independent
  std::function<bool(const Live&, std::size_t)> depends = [&](const Live& l, std::size_t upto) -> bool {
    if (&l == &x) return upto > index;
    auto m = memo.find(&l);
    if (m != memo.end()) return m->second != 2;
    memo[&l] = 0;
    bool dep = false;
    // Queue order: everything committed earlier on l's queue runs first.
    for (auto& [ptr, other] : live_) {
      if (other.queue_id == l.queue_id && other.queue_seq < l.queue_seq &&
          depends(other, other.cb->commands.size())) {
        dep = true;
        break;
      }
    }
    const auto& cmds = l.cb->commands;
    for (std::size_t i = l.next; !dep && i < std::min(upto, cmds.size()); ++i) {
      const auto* w = std::get_if<WaitCmd>(&cmds[i]);
      if (w == nullptr || w->event->signaled_value() >= w->value) continue;
      auto sig = signallers(w->event->id(), w->value);
      if (sig.empty()) continue;  // only the host can release it: not provably tied to x
      bool all = true;
      for (const Live* s : sig) {
        if (!depends(*s, signal_index(*s, w->event->id(), w->value))) {
          all = false;
          break;
        }
      }
      dep = all;
    }
    memo[&l] = dep ? 1 : 2;
    return dep;
  };

  auto sig = signallers(wait.event->id(), wait.value);
  const std::string what = "'" + cb.label + "' on queue '" + cb.queue->label() + "' waits for " +
                           wait.event->label() + ">=" + std::to_string(wait.value) + " (now " +
                           std::to_string(wait.event->signaled_value()) + ")";
  if (sig.empty()) return what + ", which no committed command buffer will signal";
  std::string names;
  for (const Live* s : sig) {
    if (!depends(*s, signal_index(*s, wait.event->id(), wait.value))) return {};
    names += (names.empty() ? "'" : ", '") + s->cb->label + "' (queue '" + s->cb->queue->label() + "')";
  }
  *cycle = true;
  return "deadlock: " + what + ", but every command buffer that signals it (" + names +
         ") itself depends on '" + cb.label + "'";
}

void Validator::report(std::string finding) {
  std::lock_guard lock(mutex_);
  findings_.push_back(std::move(finding));
}

std::vector<std::string> Validator::findings() const {
  std::lock_guard lock(mutex_);
  return findings_;
}

}  // namespace ut
