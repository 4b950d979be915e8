// Internal: the recorded commands and the shared state behind a CommandBuffer handle. Backends read it.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "timeline/command_buffer.h"

namespace ut::detail {

struct HostTaskCmd {
  std::function<void()> fn;
  std::string label;
};
struct DispatchCmd {
  std::string kernel;
  Grid grid;
  DispatchArgs args;
};
struct CopyCmd {
  Buffer src;
  std::size_t src_offset;
  Buffer dst;
  std::size_t dst_offset;
  std::size_t bytes;
};
struct SignalCmd {
  EventPtr event;
  uint64_t value;
};
struct WaitCmd {
  EventPtr event;
  uint64_t value;
};
using Command = std::variant<HostTaskCmd, DispatchCmd, CopyCmd, SignalCmd, WaitCmd>;

// Name of a command for error messages ("dispatch 'saxpy'", "wait E_embed>=3").
std::string describe(const Command& c);

struct SignalRecord {
  uint64_t event_id;
  std::string event_label;
  uint64_t value;
  uint64_t time_ns;
};

struct CommandBufferState : std::enable_shared_from_this<CommandBufferState> {
  Queue* queue = nullptr;  // a queue outlives its in-flight buffers (~Queue drains)
  std::string label;
  uint64_t id = 0;  // process-unique, in creation order
  std::vector<Command> commands;
  std::vector<std::function<void(const CommandBuffer&)>> handlers;
  CommandBufferTimes times;

  mutable std::mutex mutex;
  mutable std::condition_variable done_cv;
  CommandBufferStatus status = CommandBufferStatus::encoding;
  std::exception_ptr error;
  std::vector<SignalRecord> signals;  // what fired, for the trace

  // Set by a backend when the first command starts.
  void mark_started();
  // Records a signal that has fired (thread-safe).
  // time_ns: when the signal was issued (0: now). Taken before signalling, so a waiter released by it never
  // appears to start before the signal in the trace.
  void record_signal(const SignalCmd& s, uint64_t time_ns = 0);
  // Final status, trace record, completion handlers, waking waiters, queue accounting.
  // Call exactly once from the backend, after all commands ran (or were skipped).
  void finish(std::exception_ptr failure) noexcept;
};

// Wraps the current exception as a CommandError that names the buffer, queue and command.
std::exception_ptr command_failure(const CommandBufferState& cb, const Command& cmd, std::exception_ptr cause);

}  // namespace ut::detail
