// DemoLanes: synthetic producers on the timeline that feed the UI's panes — the repeatable load of
// `ut bench ui`, and what `ut ui --lanes demo` shows.
//   Q_ml: "embed" (CPU math over a shared heap) -> E_embed -> "rag" (top-1 search) -> E_rag;
//   Q_blit: copies the result and streams a token into the UI's ring -> E_blit;
//   Q_host: a 2M-row "GROUP BY" every 30 iterations (not DuckDB).
//
//   ut::render::UiModel model;
//   ut::bench::DemoLanes lanes(device, model, /*paced=*/true);   // paced: one iteration per 100 ms
//   lanes.start();  ...  lanes.stop();                           // stop() waits for the queues to drain
//
// Set-up (the constructor) must run before the FrameLoop that reads `model` starts; paced = false keeps the ML
// queue busy back to back. At most two iterations are in flight (producer-side back-pressure on E_blit).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>

#include "timeline/device.h"
#include "workloads/render/ui_model.h"

namespace ut::bench {

class DemoLanes {
 public:
  DemoLanes(const DevicePtr& dev, render::UiModel& model, bool paced, std::optional<QueuePriority> ml_priority = {});
  ~DemoLanes();
  DemoLanes(const DemoLanes&) = delete;
  DemoLanes& operator=(const DemoLanes&) = delete;

  void start();
  void stop();
  uint64_t iterations() const { return e_blit_->signaled_value(); }
  double ml_busy_ms() const { return static_cast<double>(q_ml_->stats().busy_ns) / 1e6; }

 private:
  static constexpr uint32_t kRows = 512, kDim = 384;
  static constexpr std::size_t kBytes = std::size_t{kRows} * kDim * sizeof(float);

  void loop();
  void sql(uint64_t i);

  DevicePtr dev_;
  render::UiModel& model_;
  bool paced_;
  QueuePtr q_ml_, q_blit_, q_host_;
  EventPtr e_embed_, e_rag_, e_blit_;
  HeapPtr heap_;
  Buffer bufs_[2], out_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ut::bench
