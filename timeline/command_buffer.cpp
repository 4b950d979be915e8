#include "timeline/command_buffer.h"

#include <atomic>
#include <cstdio>

#include "timeline/clock.h"
#include "timeline/detail/command_buffer_state.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/queue.h"
#include "timeline/validator.h"

namespace ut {

const char* to_string(CommandBufferStatus s) noexcept {
  switch (s) {
    case CommandBufferStatus::encoding: return "encoding";
    case CommandBufferStatus::committed: return "committed";
    case CommandBufferStatus::running: return "running";
    case CommandBufferStatus::completed: return "completed";
    case CommandBufferStatus::error: return "error";
  }
  return "?";
}

detail::CommandBufferState& CommandBuffer::encoding(const char* method) {
  if (!state_) throw UsageError(std::string("[CommandBuffer::") + method + "] empty command buffer handle");
  std::lock_guard lock(state_->mutex);
  if (state_->status != CommandBufferStatus::encoding) {
    throw UsageError(std::string("[CommandBuffer::") + method + "] '" + state_->label +
                     "' is already committed; make a new command buffer");
  }
  return *state_;
}

CommandBuffer& CommandBuffer::host_task(std::function<void()> fn, std::string label) {
  auto& s = encoding("host_task");
  if (!fn) throw UsageError("[CommandBuffer::host_task] empty function");
  s.commands.emplace_back(detail::HostTaskCmd{std::move(fn), std::move(label)});
  return *this;
}

CommandBuffer& CommandBuffer::dispatch(const std::string& kernel, Grid grid, DispatchArgs args) {
  auto& s = encoding("dispatch");
  const std::string& backend = s.queue->device().backend_name();
  if (kernels().find(kernel, backend) == nullptr) {
    throw UsageError("[CommandBuffer::dispatch] kernel '" + kernel + "' has no implementation for backend '" +
                     backend + "'");
  }
  for (std::size_t i = 0; i < args.buffers.size(); ++i) {
    if (!args.buffers[i]) throw UsageError("[CommandBuffer::dispatch] '" + kernel + "': buffer " + std::to_string(i) + " is empty");
  }
  s.commands.emplace_back(detail::DispatchCmd{kernel, grid, std::move(args)});
  return *this;
}

CommandBuffer& CommandBuffer::copy(const Buffer& src, std::size_t src_offset, const Buffer& dst,
                                   std::size_t dst_offset, std::size_t bytes) {
  auto& s = encoding("copy");
  if (!src || !dst) throw UsageError("[CommandBuffer::copy] empty source or destination buffer");
  auto check = [&](const Buffer& b, std::size_t off, const char* which) {
    if (off > b.size() || bytes > b.size() - off) {
      throw UsageError(std::string("[CommandBuffer::copy] ") + which + " range [" + std::to_string(off) + ", " +
                       std::to_string(off + bytes) + ") is outside buffer '" + b.label() + "' of " +
                       std::to_string(b.size()) + " bytes");
    }
  };
  check(src, src_offset, "source");
  check(dst, dst_offset, "destination");
  s.commands.emplace_back(detail::CopyCmd{src, src_offset, dst, dst_offset, bytes});
  return *this;
}

CommandBuffer& CommandBuffer::signal(const EventPtr& event, uint64_t value) {
  auto& s = encoding("signal");
  if (!event) throw UsageError("[CommandBuffer::signal] null event");
  s.commands.emplace_back(detail::SignalCmd{event, value});
  return *this;
}

CommandBuffer& CommandBuffer::wait(const EventPtr& event, uint64_t value) {
  auto& s = encoding("wait");
  if (!event) throw UsageError("[CommandBuffer::wait] null event");
  s.commands.emplace_back(detail::WaitCmd{event, value});
  return *this;
}

CommandBuffer& CommandBuffer::on_completed(std::function<void(const CommandBuffer&)> fn) {
  auto& s = encoding("on_completed");
  if (!fn) throw UsageError("[CommandBuffer::on_completed] empty function");
  s.handlers.push_back(std::move(fn));
  return *this;
}

void CommandBuffer::commit() {
  auto& s = encoding("commit");
  {
    std::lock_guard lock(s.mutex);
    s.status = CommandBufferStatus::committed;
    s.times.committed_ns = now_ns();
  }
  s.queue->on_committed(s);
  s.queue->submit(state_);
}

CommandBufferStatus CommandBuffer::status() const noexcept {
  if (!state_) return CommandBufferStatus::encoding;
  std::lock_guard lock(state_->mutex);
  return state_->status;
}

std::exception_ptr CommandBuffer::error() const {
  if (!state_) return nullptr;
  std::lock_guard lock(state_->mutex);
  return state_->error;
}

static bool finished(CommandBufferStatus s) {
  return s == CommandBufferStatus::completed || s == CommandBufferStatus::error;
}

void CommandBuffer::wait_until_completed() const {
  if (!state_) throw UsageError("[CommandBuffer::wait_until_completed] empty command buffer handle");
  std::unique_lock lock(state_->mutex);
  if (state_->status == CommandBufferStatus::encoding) {
    throw UsageError("[CommandBuffer::wait_until_completed] '" + state_->label + "' was never committed");
  }
  state_->done_cv.wait(lock, [&] { return finished(state_->status); });
  if (state_->error) std::rethrow_exception(state_->error);
}

bool CommandBuffer::wait_until_completed(std::chrono::nanoseconds timeout) const {
  if (!state_) throw UsageError("[CommandBuffer::wait_until_completed] empty command buffer handle");
  std::unique_lock lock(state_->mutex);
  if (state_->status == CommandBufferStatus::encoding) {
    throw UsageError("[CommandBuffer::wait_until_completed] '" + state_->label + "' was never committed");
  }
  if (!state_->done_cv.wait_for(lock, timeout, [&] { return finished(state_->status); })) return false;
  if (state_->error) std::rethrow_exception(state_->error);
  return true;
}

CommandBufferTimes CommandBuffer::times() const {
  if (!state_) return {};
  std::lock_guard lock(state_->mutex);
  return state_->times;
}

const std::string& CommandBuffer::label() const {
  if (!state_) throw UsageError("[CommandBuffer::label] empty command buffer handle");
  return state_->label;
}

Queue& CommandBuffer::queue() const {
  if (!state_) throw UsageError("[CommandBuffer::queue] empty command buffer handle");
  return *state_->queue;
}

namespace detail {

std::string describe(const Command& c) {
  return std::visit(
      [](const auto& cmd) -> std::string {
        using T = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<T, HostTaskCmd>) {
          return "host task" + (cmd.label.empty() ? std::string() : " '" + cmd.label + "'");
        } else if constexpr (std::is_same_v<T, DispatchCmd>) {
          return "dispatch '" + cmd.kernel + "'";
        } else if constexpr (std::is_same_v<T, CopyCmd>) {
          return "copy of " + std::to_string(cmd.bytes) + " bytes";
        } else if constexpr (std::is_same_v<T, SignalCmd>) {
          return "signal " + cmd.event->label() + "=" + std::to_string(cmd.value);
        } else {
          return "wait " + cmd.event->label() + ">=" + std::to_string(cmd.value);
        }
      },
      c);
}

std::exception_ptr command_failure(const CommandBufferState& cb, const Command& cmd, std::exception_ptr cause) {
  std::string why;
  try {
    std::rethrow_exception(cause);
  } catch (const ValidationError& e) {
    // Keep the type so callers can tell a validation finding from a failed command.
    return std::make_exception_ptr(ValidationError("[queue '" + cb.queue->label() + "'] command buffer '" +
                                                   cb.label + "' at " + describe(cmd) + ": " + e.what()));
  } catch (const std::exception& e) {
    why = e.what();
  } catch (...) {
    why = "unknown exception";
  }
  return std::make_exception_ptr(CommandError("[queue '" + cb.queue->label() + "'] command buffer '" + cb.label +
                                              "' failed at " + describe(cmd) + ": " + why));
}

void CommandBufferState::mark_started() {
  std::lock_guard lock(mutex);
  status = CommandBufferStatus::running;
  times.start_ns = now_ns();
}

void CommandBufferState::record_signal(const SignalCmd& s, uint64_t time_ns) {
  if (time_ns == 0) time_ns = now_ns();
  std::lock_guard lock(mutex);
  signals.push_back({s.event->id(), s.event->label(), s.value, time_ns});
}

void CommandBufferState::finish(std::exception_ptr failure) noexcept {
  Queue& q = *queue;
  TraceRecord rec;
  {
    std::lock_guard lock(mutex);
    times.end_ns = now_ns();
    if (times.start_ns == 0) times.start_ns = times.end_ns;
    error = failure;
    rec.queue_id = q.id();
    rec.queue_label = q.label();
    rec.queue_kind = to_string(q.kind());
    rec.cb_id = id;
    rec.label = label;
    rec.committed_ns = times.committed_ns;
    rec.start_ns = times.start_ns;
    rec.end_ns = times.end_ns;
    rec.failed = failure != nullptr;
    for (auto& s : signals) rec.signals.push_back({s.event_id, s.event_label, s.value, s.time_ns});
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      rec.error = e.what();
    } catch (...) {
      rec.error = "unknown exception";
    }
  }
  for (auto& c : commands) {
    if (auto* w = std::get_if<WaitCmd>(&c)) rec.waits.push_back({w->event->id(), w->event->label(), w->value});
  }
  try {
    q.device().trace().add(std::move(rec));
  } catch (...) {
    // Tracing is best effort; completion must still be delivered.
  }
  if (auto* v = q.device().validator()) v->on_complete(*this);
  q.on_completed(*this);
  {
    // Final status last, so a waiter that wakes sees the trace and queue statistics already updated.
    std::lock_guard lock(mutex);
    status = failure ? CommandBufferStatus::error : CommandBufferStatus::completed;
  }
  done_cv.notify_all();
  const CommandBuffer handle(shared_from_this());
  for (auto& h : handlers) {
    try {
      h(handle);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ut: completion handler of '%s' threw: %s\n", label.c_str(), e.what());
    } catch (...) {
      std::fprintf(stderr, "ut: completion handler of '%s' threw\n", label.c_str());
    }
  }
  // Release what the commands hold (buffers, closures) now rather than when the last handle goes.
  commands.clear();
  handlers.clear();
  q.on_drained();
}

}  // namespace detail
}  // namespace ut
