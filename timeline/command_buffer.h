// CommandBuffer: commands recorded on the host, then committed to a queue that runs them in order
// (Metal's MTLCommandBuffer with its encoders).
//
//   auto cb = q->make_command_buffer("rag");
//   cb.wait(e_embed, 1)                                   // queue-side wait; the host never blocks here
//     .dispatch("topk", ut::Grid{n}, ut::DispatchArgs::make({queries, index}))
//     .copy(result_dev, 0, result_host, 0, bytes)
//     .host_task([&] { build_context(); }, "context")
//     .signal(e_rag, 1)
//     .on_completed([](const ut::CommandBuffer& c) { log(c.label(), c.status()); });
//   cb.commit();
//   cb.wait_until_completed();                            // rethrows the failure of any command
//
// Contract
// - Encoding is single-threaded per buffer; commit() once. Encoding after commit throws UsageError.
// - A command that throws fails the buffer: later host tasks, dispatches, copies and waits are skipped, but
//   its signals still fire (recording the error on the event) so dependants fail instead of hanging.
// - A wait on an event that a failed buffer signalled fails this buffer too (errors flow along the graph).
// - Completion handlers run once, after the status is final, on the backend's completion thread.
// - The handle is cheap to copy; copies refer to the same buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "timeline/heap.h"
#include "timeline/kernel.h"
#include "timeline/shared_event.h"

namespace ut {

enum class CommandBufferStatus { encoding, committed, running, completed, error };
const char* to_string(CommandBufferStatus s) noexcept;

struct CommandBufferTimes {
  uint64_t created_ns = 0, committed_ns = 0, start_ns = 0, end_ns = 0;  // ut::now_ns() clock
};

class Queue;
namespace detail {
struct CommandBufferState;
}

class CommandBuffer {
 public:
  CommandBuffer() = default;
  explicit operator bool() const noexcept { return state_ != nullptr; }

  CommandBuffer& host_task(std::function<void()> fn, std::string label = {});
  CommandBuffer& dispatch(const std::string& kernel, Grid grid, DispatchArgs args);
  CommandBuffer& copy(const Buffer& src, std::size_t src_offset, const Buffer& dst, std::size_t dst_offset,
                      std::size_t bytes);
  CommandBuffer& signal(const EventPtr& event, uint64_t value);
  CommandBuffer& wait(const EventPtr& event, uint64_t value);
  CommandBuffer& on_completed(std::function<void(const CommandBuffer&)> fn);

  void commit();

  CommandBufferStatus status() const noexcept;
  std::exception_ptr error() const;                   // null unless status() == error
  void wait_until_completed() const;                  // rethrows error()
  bool wait_until_completed(std::chrono::nanoseconds timeout) const;  // false on timeout
  CommandBufferTimes times() const;
  const std::string& label() const;
  Queue& queue() const;

  // For backends and the validator.
  explicit CommandBuffer(std::shared_ptr<detail::CommandBufferState> s) : state_(std::move(s)) {}
  const std::shared_ptr<detail::CommandBufferState>& state() const noexcept { return state_; }

 private:
  detail::CommandBufferState& encoding(const char* method);
  std::shared_ptr<detail::CommandBufferState> state_;
};

}  // namespace ut
