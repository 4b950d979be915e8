#include "bench/ui/ui_bench.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bench/report.h"
#include "bench/ui/demo_lanes.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/host.h"
#include "workloads/render/frame_loop.h"
#include "workloads/render/render_lane.h"
#include "workloads/render/renderer.h"

namespace ut::bench {

using namespace ut::render;

void print_frame_summary(const char* what, const FrameStatsSummary& s) {
  std::printf("%-6s %6llu frames %6.1f Hz | cpu ms avg %6.2f p50 %6.2f p99 %6.2f max %7.2f | gpu ms avg %6.2f p99 %6.2f"
              " | >16.6ms %5.1f%% >33ms %5.1f%% | 1%% low %6.1f fps | late %llu\n",
              what, static_cast<unsigned long long>(s.frames), s.achieved_hz, s.cpu.avg, s.cpu.p50, s.cpu.p99, s.cpu.max,
              s.gpu.avg, s.gpu.p99, s.cpu.over_16_6_pct, s.cpu.over_33_pct, s.interval.one_pct_low_fps,
              static_cast<unsigned long long>(s.late_frames));
}

namespace {

// One phase's frames: every frame's CPU time, GPU time (where timestamps exist) and tick interval, and the
// figures derived from them as the console prints them.
void add_phase(Report& r, const std::string& phase, const FrameStats& stats) {
  std::vector<double> cpu, gpu, interval;
  for (const auto& f : stats.samples()) {
    cpu.push_back(f.cpu_ms);
    if (f.gpu_ms >= 0) gpu.push_back(f.gpu_ms);
    if (f.interval_ms > 0) interval.push_back(f.interval_ms);
  }
  const FrameStatsSummary s = stats.summary();
  for (const auto& [metric, values, d] : {std::tuple{"cpu_frame", &cpu, &s.cpu}, std::tuple{"gpu_frame", &gpu, &s.gpu},
                                          std::tuple{"tick_interval", &interval, &s.interval}}) {
    const std::string m = metric;
    r.add(phase, "ours", m + "_ms", "ms", *values);
    if (values->empty()) continue;
    r.add(phase, "ours", m + "_over_16_6ms_pct", "%", d->over_16_6_pct);
    r.add(phase, "ours", m + "_over_33ms_pct", "%", d->over_33_pct);
    r.add(phase, "ours", m + "_one_pct_low_fps", "fps", d->one_pct_low_fps);
  }
  r.add(phase, "ours", "achieved_hz", "Hz", s.achieved_hz);
  r.add(phase, "ours", "late_frames", "frames", static_cast<double>(s.late_frames));
}

// The UI goals of the plan, checked under the demo lanes' load (the "under load" phase); not on --quick runs.
void add_goals(Report& r, const FrameStatsSummary& load) {
  r.add_goal({.kpi = "UI frames over 16.6 ms under the demo lanes' load", .goal = "<= 0 %", .case_name = "under load",
              .metric = "cpu_frame_over_16_6ms_pct", .value = load.cpu.over_16_6_pct,
              .met = load.cpu.over_16_6_pct <= 0});
  r.add_goal({.kpi = "UI CPU frame time p99 under the demo lanes' load", .goal = "<= 8 ms", .case_name = "under load",
              .metric = "cpu_frame_ms", .value = load.cpu.p99, .met = load.cpu.p99 <= 8, .statistic = "p99"});
}

}  // namespace

int run_ui_bench(const UiBenchOptions& o) {
  const uint64_t frames = o.quick ? 120 : static_cast<uint64_t>(o.frames);
  auto dev = Device::create({.backend = o.backend});
  RenderLane lane;
  try {
    lane = RenderLane::create({.renderer = {.width = o.width, .height = o.height}, .where = o.render_on});
  } catch (const BackendError& e) {
    std::fprintf(stderr, "ut bench ui: %s\n", e.what());
    return 2;
  }
  Renderer* renderer = lane.renderer.get();
  const HostInfo host = host_info();
  const std::string machine = host.cpu_name + " (" + std::to_string(host.cores) + " cores)";
  std::printf("ut bench ui: %llu frames per phase at 60 Hz, %ux%u, Vulkan device %s (%s) on %s; frames on %s;"
              " timeline backend %s\n",
              static_cast<unsigned long long>(frames), o.width, o.height, renderer->device_name().c_str(),
              renderer->device_type().c_str(), machine.c_str(), lane.placement.c_str(), dev->backend_name().c_str());
  UiModel model;
  model.device = dev;
  FrameLoop loop({.device = dev, .queue = lane.queue, .e_frame = lane.e_frame, .renderer = renderer, .model = &model});
  model.watch_event(loop.frame_event());
  loop.run(30);  // warm-up: pipeline creation, first font upload use, caches (not counted)
  loop.reset_stats();

  Report r("ui");
  // The frames are drawn by the Vulkan device; the timeline backend runs the lanes.
  r.set_device("vulkan", renderer->device_name());
  r.config() = {{"resolution", {o.width, o.height}},
                {"frames_per_phase", frames},
                {"warmup_frames", 30},
                {"quick", o.quick},
                {"timeline_backend", dev->backend_name()},
                {"vulkan_device_type", renderer->device_type()},
                {"frames_on", lane.on_timeline() ? "timeline" : "own"},
                {"gpu_timestamps", renderer->gpu_timestamps()},
                {"phases", nlohmann::ordered_json::object()}};

  loop.run(frames);
  const auto idle = loop.summary();
  print_frame_summary("idle", idle);
  add_phase(r, "idle", loop.stats());

  // Load: the demo lanes back to back, first with Q_ml at its default priority, then at low priority (the CPU
  // backend's nice +5 hint), to show what the priority buys the frames on a CPU that also rasterises them.
  FrameStatsSummary load;
  for (const auto& [phase, prio] : {std::pair<const char*, std::optional<QueuePriority>>{"under load", std::nullopt},
                                    {"under load, ML queue low priority", QueuePriority::low}}) {
    if (prio && o.no_low_priority) continue;
    loop.reset_stats();
    auto lanes = std::make_unique<DemoLanes>(dev, model, /*paced=*/false, prio);
    lanes->start();
    const uint64_t t0 = now_ns();
    loop.run(frames);
    const double secs = static_cast<double>(now_ns() - t0) / 1e9;
    lanes->stop();
    print_frame_summary(prio ? "ml-low" : "load", loop.summary());
    if (!prio) load = loop.summary();
    const double it_per_s = static_cast<double>(lanes->iterations()) / secs;
    const double busy = 100.0 * lanes->ml_busy_ms() / (secs * 1e3);
    std::printf("       lanes back to back: %.1f iterations/s (embed 512x384 + top-1 + copy + token), Q_ml busy %.0f%%\n",
                it_per_s, busy);
    add_phase(r, phase, loop.stats());
    r.add(phase, "ours", "iterations_per_s", "1/s", it_per_s);
    r.add(phase, "ours", "ml_queue_busy_pct", "%", busy);
    r.config()["phases"][phase] = {
        {"description",
         "demo lanes back to back on the timeline backend: Q_ml embed (512x384 sin + L2 norm) -> E_embed -> top-1 "
         "search -> E_rag; Q_blit copy + token into the UI ring -> E_blit; Q_host 2M-row GROUP BY every 30 iterations"},
        {"ml_queue_priority", prio ? "low (nice +5)" : "normal"}};
    lanes.reset();
    model.events.resize(1);  // keep E_frame; the next lanes add their own events and heap
    model.heaps.clear();
  }
  if (!o.quick) add_goals(r, load);  // 120 frames say nothing about a p99
  try {
    r.write(o.json_path);
  } catch (const Error& e) {
    std::fprintf(stderr, "ut bench ui: %s\n", e.what());
    return 1;
  }
  std::printf("saved %s\n", o.json_path.c_str());
  return 0;
}

}  // namespace ut::bench
