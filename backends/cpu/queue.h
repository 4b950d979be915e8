// CPU queue: a worker thread that runs committed command buffers in order.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "timeline/detail/command_buffer_state.h"
#include "timeline/queue.h"

namespace ut::cpu {

class CpuQueue final : public Queue {
 public:
  CpuQueue(Device& device, QueueDesc desc);
  ~CpuQueue() override;  // drains committed work, then joins the worker

  void submit(std::shared_ptr<detail::CommandBufferState> cb) override;

 private:
  void run();
  void execute(detail::CommandBufferState& cb);
  // Runs one command; throws on failure.
  void run_command(detail::CommandBufferState& cb, std::size_t index);
  void wait_command(detail::CommandBufferState& cb, std::size_t index, const detail::WaitCmd& w);

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<detail::CommandBufferState>> pending_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace ut::cpu
