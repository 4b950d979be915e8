// FrameStats: per-frame CPU/GPU times and tick intervals, summarised (avg, p50, p99, max, % over budgets, 1% low).
//
//   ut::render::FrameStats s(60.0);
//   s.add({.index = 1, .start_ns = t0, .cpu_ms = 4.1, .gpu_ms = 2.3, .interval_ms = 16.7});
//   auto sum = s.summary();  std::printf("p99 %.2f ms, %.1f%% over 16.6 ms\n", sum.cpu.p99, sum.cpu.over_16_6_pct);
//   std::string js = s.to_json(/*with_samples=*/false);      // for `ut bench ui` and the engine's KPIs
//
// Definitions
// - cpu_ms: the frame's work on the render thread (build UI, record, submit, wait for its own GPU fence).
// - gpu_ms: Vulkan timestamps (top-of-pipe → bottom-of-pipe) around the frame's command buffer; < 0 if none.
// - interval_ms: time between the starts of consecutive frames (what a viewer sees).
// - late: the frame missed its tick — it came more than 1.5 ticks after the previous one, or its own work took
//   longer than a tick. Late frames are recorded, not hidden.
// - "1% low": 1000 / mean of the slowest 1% of frame times (at least one frame), in frames per second.
// Not thread-safe: the FrameLoop guards its instance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ut::render {

struct FrameSample {
  uint64_t index = 0;
  uint64_t start_ns = 0;      // ut::now_ns()
  double cpu_ms = 0;
  double gpu_ms = -1;
  double interval_ms = 0;     // 0 for the first frame
  bool late = false;
};

struct Distribution {
  uint64_t count = 0;
  double avg = 0, p50 = 0, p99 = 0, max = 0;
  double over_16_6_pct = 0;   // % of samples > 16.6 ms
  double over_33_pct = 0;     // % of samples > 33.3 ms
  double one_pct_low_fps = 0;
};

Distribution distribution(std::vector<double> ms);

struct FrameStatsSummary {
  uint64_t frames = 0;
  uint64_t late_frames = 0;   // frames that started a tick or more late
  double duration_s = 0;      // first start → last start
  double achieved_hz = 0;
  Distribution cpu, gpu, interval;
};

class FrameStats {
 public:
  explicit FrameStats(double target_hz = 60.0, std::size_t history = 1 << 20)
      : target_hz_(target_hz), history_(history) {}
  void add(const FrameSample& s);
  void clear() { samples_.clear(); }
  FrameStatsSummary summary() const;
  const std::vector<FrameSample>& samples() const noexcept { return samples_; }
  double target_hz() const noexcept { return target_hz_; }
  // The last n CPU (or GPU) frame times, oldest first; for the frame-time graph.
  std::vector<float> recent(std::size_t n, bool gpu = false) const;
  std::string to_json(bool with_samples = false) const;

 private:
  double target_hz_;
  std::size_t history_;
  std::vector<FrameSample> samples_;
};

std::string to_json(const Distribution& d);

}  // namespace ut::render
