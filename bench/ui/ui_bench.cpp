#include "bench/ui/ui_bench.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>

#include "bench/ui/demo_lanes.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/host.h"
#include "workloads/render/frame_loop.h"
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

int run_ui_bench(const UiBenchOptions& o) {
  const uint64_t frames = o.quick ? 120 : static_cast<uint64_t>(o.frames);
  auto dev = Device::create({.backend = o.backend});
  std::unique_ptr<Renderer> renderer;
  try {
    renderer = Renderer::create({.width = o.width, .height = o.height});
  } catch (const BackendError& e) {
    std::fprintf(stderr, "ut bench ui: %s\n", e.what());
    return 2;
  }
  const HostInfo host = host_info();
  const std::string machine = host.cpu_name + " (" + std::to_string(host.cores) + " cores)";
  std::printf("ut bench ui: %llu frames per phase at 60 Hz, %ux%u, Vulkan device %s (%s) on %s; timeline backend %s\n",
              static_cast<unsigned long long>(frames), o.width, o.height, renderer->device_name().c_str(),
              renderer->device_type().c_str(), machine.c_str(), dev->backend_name().c_str());
  UiModel model;
  model.device = dev;
  FrameLoop loop({.device = dev, .renderer = renderer.get(), .model = &model});
  model.watch_event(loop.frame_event());
  loop.run(30);  // warm-up: pipeline creation, first font upload use, caches (not counted)
  loop.reset_stats();

  nlohmann::json out;
  out["machine"] = {{"cpu", host.cpu_name},
                    {"cores", host.cores},
                    {"vulkan_device", renderer->device_name()},
                    {"vulkan_device_type", renderer->device_type()},
                    {"gpu_timestamps", renderer->gpu_timestamps()},
                    {"timeline_backend", dev->backend_name()}};
  out["resolution"] = {o.width, o.height};
  out["frames_per_phase"] = frames;
  out["warmup_frames"] = 30;

  loop.run(frames);
  const auto idle = loop.summary();
  print_frame_summary("idle", idle);
  out["idle"] = nlohmann::json::parse(loop.stats().to_json());

  // Load: the demo lanes back to back, first with Q_ml at its default priority, then at low priority (the CPU
  // backend's nice +5 hint), to show what the priority buys the frames on a CPU that also rasterises them.
  for (const auto& [key, prio] : {std::pair<const char*, std::optional<QueuePriority>>{"load", std::nullopt},
                                  {"load_ml_low_priority", QueuePriority::low}}) {
    if (prio && o.no_low_priority) continue;
    loop.reset_stats();
    auto lanes = std::make_unique<DemoLanes>(dev, model, /*paced=*/false, prio);
    lanes->start();
    const uint64_t t0 = now_ns();
    loop.run(frames);
    const double secs = static_cast<double>(now_ns() - t0) / 1e9;
    lanes->stop();
    print_frame_summary(prio ? "ml-low" : "load", loop.summary());
    const double it_per_s = static_cast<double>(lanes->iterations()) / secs;
    const double busy = 100.0 * lanes->ml_busy_ms() / (secs * 1e3);
    std::printf("       lanes back to back: %.1f iterations/s (embed 512x384 + top-1 + copy + token), Q_ml busy %.0f%%\n",
                it_per_s, busy);
    auto& j = out[key] = nlohmann::json::parse(loop.stats().to_json());
    j["description"] =
        "demo lanes back to back on the CPU timeline backend: Q_ml embed (512x384 sin + L2 norm) -> E_embed -> top-1 "
        "search -> E_rag; Q_blit copy + token into the UI ring -> E_blit; Q_host 2M-row GROUP BY every 30 iterations";
    j["ml_queue_priority"] = prio ? "low (nice +5)" : "normal";
    j["iterations_per_s"] = it_per_s;
    j["ml_queue_busy_pct"] = busy;
    lanes.reset();
    model.events.resize(1);  // keep E_frame; the next lanes add their own events and heap
    model.heaps.clear();
  }
  std::ofstream f(o.json_path);
  f << out.dump(2) << "\n";
  if (!f) {
    std::fprintf(stderr, "ut bench ui: cannot write %s\n", o.json_path.c_str());
    return 1;
  }
  std::printf("saved %s\n", o.json_path.c_str());
  return 0;
}

}  // namespace ut::bench
