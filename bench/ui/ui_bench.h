// `ut bench ui`: the frame-time distribution (CPU and GPU, p99, % over 16.6/33 ms, 1% low) of the Vulkan UI at
// 60 Hz, idle and under the demo lanes' concurrent ML/transfer load (Q_ml at its default and at low priority).
//
//   ut::bench::UiBenchOptions o;
//   o.quick = true;
//   int rc = ut::bench::run_ui_bench(o);   // 2: no Vulkan device; prints a table, saves o.json_path
#pragma once

#include <cstdint>
#include <string>

#include "workloads/render/frame_stats.h"

namespace ut::bench {

struct UiBenchOptions {
  int frames = 1800;
  bool quick = false;
  bool no_low_priority = false;  // skip the third phase (load with Q_ml at low priority)
  std::string json_path = "ut-bench-ui.json";
  uint32_t width = 1280, height = 800;
  std::string backend;
  std::string render_on = "auto";  // auto | timeline | own (render::RenderLane)
};

int run_ui_bench(const UiBenchOptions& o);

// The one-line frame summary `ut bench ui` prints per phase (and `ut ui` at its end).
void print_frame_summary(const char* what, const render::FrameStatsSummary& s);

}  // namespace ut::bench
