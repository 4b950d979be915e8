// FrameLoop: the render heartbeat. Ticks at 60 Hz on the render queue, signals E_frame each tick, draws the UI
// from what is complete, and records every frame's times (slow ones included).
//
//   auto dev = ut::Device::create();
//   auto renderer = ut::render::Renderer::create();           // or nullptr: heartbeat without UI
//   ut::render::UiModel model;  model.device = dev;  model.e_rag = e_rag;
//   ut::render::FrameLoop loop({.device = dev, .renderer = renderer.get(), .model = &model});
//   loop.start();                                              // a ticker thread; or loop.run(600) to block
//   ...  loop.frame_event()->signaled_value();                 // E_frame: frames completed
//   loop.request_screenshot("ui.png");                         // the next frame is captured and saved
//   loop.stop();  std::puts(loop.stats().to_json().c_str());
//
// Contract (the plan's rules, tested in tests/render)
// - Each tick commits one command buffer to the render queue: host task "draw" (ImGui + Vulkan, waiting only
//   for its own GPU fence), then signal(E_frame, n). With a renderer on a timeline queue (Renderer::on_timeline(),
//   a Vulkan render queue) the buffer is: host task "draw" (ImGui), the frame's Vulkan commands recorded into the
//   queue's batch, signal(E_frame, n) by the GPU (a timeline semaphore); the loop runs on the renderer's queue. It never encodes a wait on any event, and draw_ui reads
//   ML/data events with signaled_value() only: a held ML queue cannot stall a frame.
// - Paced by a timer: the ticker sleeps until the next tick (std::this_thread::sleep_until), no busy loop. If
//   a frame overruns, the missed ticks are skipped (counted in late frames), not replayed in a burst.
// - The ticker waits for its own frame's command buffer before scheduling the next (one frame in flight).
// - A frame that throws stops the loop; run() rethrows, start()/stop() keep the error for error(). So does a frame
//   not complete within frame_deadline (the GPU stopped finishing work); its draw state is kept alive for the
//   command buffer still in flight.
// - Thread-safe accessors (frames, stats, summary, request_screenshot, stop).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "timeline/device.h"
#include "workloads/render/frame_stats.h"
#include "workloads/render/panes.h"
#include "workloads/render/ui_model.h"

namespace ut::render {

class Renderer;

struct FrameLoopDesc {
  DevicePtr device;                 // required
  QueuePtr queue;                   // the render queue; made (kind render, "Q_render") when null
  EventPtr e_frame;                 // made ("E_frame") when null
  Renderer* renderer = nullptr;     // null: the heartbeat runs without UI (no Vulkan device)
  UiModel* model = nullptr;         // null: an empty model of the loop's own
  double hz = 60.0;
  // A frame whose command buffer has not completed by then stops the loop with a BackendError (run() throws it,
  // start() keeps it for error()) instead of blocking forever: a GPU that stopped completing work (after a kernel
  // fault elsewhere on the card, the NVIDIA Vulkan driver completed no more frames) must not hang the caller.
  std::chrono::milliseconds frame_deadline{2000};
  // Called on the ticker thread after each frame completed (keep it short).
  std::function<void(uint64_t frame, const UiFrameInfo&, const FrameSample&)> on_frame;
};

class FrameLoop {
 public:
  explicit FrameLoop(FrameLoopDesc desc);
  ~FrameLoop();
  FrameLoop(const FrameLoop&) = delete;
  FrameLoop& operator=(const FrameLoop&) = delete;

  void start();                     // ticks on a thread of its own until stop()
  void stop();                      // joins; idempotent
  void run(uint64_t frames);        // ticks on the calling thread; 0 = until the window closes or stop()
  bool running() const noexcept { return running_.load(); }

  // The frame after this call is captured and written to `path` (PNG) by the ticker.
  void request_screenshot(std::string path);
  std::string screenshot_written() const;   // the last path written ("" if none)

  uint64_t frames() const noexcept { return frames_.load(); }
  const EventPtr& frame_event() const noexcept { return desc_.e_frame; }
  const QueuePtr& queue() const noexcept { return desc_.queue; }
  UiModel& model() noexcept { return *desc_.model; }
  FrameStats stats() const;
  FrameStatsSummary summary() const;
  void reset_stats();
  std::exception_ptr error() const;

 private:
  void tick_loop(uint64_t max_frames);
  void one_frame(uint64_t n);

  FrameLoopDesc desc_;
  UiModel own_model_;
  UiState ui_state_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, running_{false};
  std::atomic<uint64_t> frames_{0};
  mutable std::mutex mutex_;        // guards stats_, screenshot paths, error_
  FrameStats stats_;
  std::string screenshot_pending_, screenshot_written_;
  std::exception_ptr error_;
  uint64_t last_start_ns_ = 0;
  uint64_t frame_base_ = 0;         // E_frame value before this loop's first tick
};

}  // namespace ut::render
