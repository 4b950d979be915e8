// `ut ui` and `ut bench ui`: the render lane's commands (workloads/render).
//   ut ui [--frames N] [--screenshot FILE.png] [--headless] [--lanes engine|demo|none]  a window when a display is present,
//                                                                         else headless (offscreen) frames
//   ut bench ui [--frames N] [--quick] [--json FILE]                       frame-time distribution idle and
//                                                                         under concurrent ML/transfer load
// `ut ui` feeds the panes from the engine's own lanes (EngineFeed: chat with retrieval, SQL, editable documents);
// `--lanes demo` uses the synthetic lanes below, which `ut bench ui` also uses as its repeatable load.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "apps/ut/commands.h"
#include "apps/ut/ui_feed.h"
#include "backends/cpu/device.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "workloads/render/frame_loop.h"
#include "workloads/render/renderer.h"

namespace ut::app {
namespace {

using namespace ut::render;

// Synthetic producers on the timeline: ML "embed" (CPU math over a shared heap) -> E_embed -> "rag" -> E_rag,
// transfer copies the result and streams tokens into the UI's ring -> E_blit; a host lane "runs SQL".
// paced = false keeps the ML queue busy back to back (the load for `ut bench ui`).
class DemoLanes {
 public:
  DemoLanes(const DevicePtr& dev, UiModel& model, bool paced, std::optional<QueuePriority> ml_priority = {})
      : dev_(dev), model_(model), paced_(paced) {
    q_ml_ = dev->make_queue({.kind = QueueKind::compute, .priority = ml_priority, .label = "Q_ml"});
    q_blit_ = dev->make_queue({.kind = QueueKind::transfer, .label = "Q_blit"});
    q_host_ = dev->make_queue({.kind = QueueKind::host, .label = "Q_host"});
    e_embed_ = dev->make_event("E_embed");
    e_blit_ = dev->make_event("E_blit");
    e_rag_ = model.e_rag = dev->make_event("E_rag");  // set-up: the FrameLoop is not running now
    heap_ = dev->make_heap({.size = 2 * kBytes + 4096, .label = "B_embed"});
    bufs_[0] = heap_->allocate(kBytes, 256, "embeddings.0");
    bufs_[1] = heap_->allocate(kBytes, 256, "embeddings.1");
    out_ = dev->make_buffer(kBytes, StorageMode::shared, "B_result");
    for (auto& e : {e_embed_, e_rag_, e_blit_}) model.watch_event(e);
    model.watch_heap(heap_);
    model.chat.publish({.prompt = "Summarise today's sales by region", .status = "waiting for the ML lane",
                        .model = "demo lanes (synthetic)"});
  }
  ~DemoLanes() { stop(); }

  void start() {
    thread_ = std::thread([this] { loop(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    q_ml_->wait_idle();
    q_blit_->wait_idle();
    q_host_->wait_idle();
  }
  uint64_t iterations() const { return e_blit_->signaled_value(); }
  double ml_busy_ms() const { return static_cast<double>(q_ml_->stats().busy_ns) / 1e6; }

 private:
  static constexpr uint32_t kRows = 512, kDim = 384;
  static constexpr std::size_t kBytes = std::size_t{kRows} * kDim * sizeof(float);

  void loop() {
    static const char* const words[] = {"North ", "leads ", "with ", "41% ", "of ", "revenue; ", "South ", "grew ", "12% ", "week ",
                           "over ", "week. "};
    for (uint64_t i = 1; !stop_; ++i) {
      const Buffer buf = bufs_[i % 2];
      auto embed = q_ml_->make_command_buffer("embed " + std::to_string(i));
      if (i > 2) embed.wait(e_blit_, i - 2);  // reuse a buffer only after it was copied out
      embed.host_task([buf, i] {
             auto v = buf.span<float>();
             for (uint32_t r = 0; r < kRows; ++r) {
               double n = 0;
               for (uint32_t k = 0; k < kDim; ++k) {
                 v[r * kDim + k] = std::sin(static_cast<float>(r * 131 + k * 7 + i));
                 n += static_cast<double>(v[r * kDim + k]) * v[r * kDim + k];
               }
               const auto inv = static_cast<float>(1.0 / std::sqrt(n));
               for (uint32_t k = 0; k < kDim; ++k) v[r * kDim + k] *= inv;
             }
           }, "embed")
          .signal(e_embed_, i)
          .commit();
      auto rag = q_ml_->make_command_buffer("rag " + std::to_string(i));
      rag.wait(e_embed_, i)
          .host_task([this, buf, i] {
             auto v = buf.span<float>();
             float best = -2;
             uint32_t best_row = 0;
             for (uint32_t r = 1; r < kRows; ++r) {
               float d = 0;
               for (uint32_t k = 0; k < kDim; ++k) d += v[k] * v[r * kDim + k];
               if (d > best) {
                 best = d;
                 best_row = r;
               }
             }
             model_.rag.publish({.ready_value = i,
                                 .sources = {{"sales.csv#" + std::to_string(best_row), best},
                                             {"docs/regions.md#2", 0.71f}}});
           }, "search")
          .signal(e_rag_, i)
          .commit();
      auto blit = q_blit_->make_command_buffer("blit " + std::to_string(i));
      blit.wait(e_rag_, i)
          .copy(buf, 0, out_, 0, kBytes)
          .host_task([this, i] {
             const bool end = i % 12 == 0;
             (void)model_.tokens.try_push({.text = words[(i - 1) % 12], .end_of_message = end});
           }, "token")
          .signal(e_blit_, i)
          .commit();
      if (i % 30 == 1) sql(i);
      if (i == 1) model_.chat.publish({.prompt = "Summarise today's sales by region", .status = "generating",
                                       .model = "demo lanes (synthetic)"});
      // Producer-side back-pressure: at most two iterations in flight (a host wait off the render path).
      if (i > 2) e_blit_->wait(i - 2, std::chrono::seconds(10));
      if (paced_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void sql(uint64_t i) {
    const std::string q = "SELECT region, sum(amount) FROM sales GROUP BY region ORDER BY 2 DESC";
    model_.sql.publish({.query = q, .status = SqlStatus::running, .message = "host lane (demo, not DuckDB)"});
    q_host_->make_command_buffer("sql " + std::to_string(i))
        .host_task([this, q, i] {
          const uint64_t t0 = now_ns();
          double sums[4] = {0, 0, 0, 0};
          for (uint64_t r = 0; r < 2'000'000; ++r) sums[(r * 2654435761u + i) % 4] += static_cast<double>(r % 97);
          SqlView v{.query = q, .status = SqlStatus::done};
          char msg[96];
          std::snprintf(msg, sizeof msg, "4 rows in %.1f ms (demo host lane, not DuckDB)",
                        static_cast<double>(now_ns() - t0) / 1e6);
          v.message = msg;
          v.columns = {"region", "sum(amount)"};
          const char* names[] = {"North", "South", "East", "West"};
          for (int k = 0; k < 4; ++k) v.rows.push_back({names[k], std::to_string(static_cast<long long>(sums[k]))});
          model_.sql.publish(std::move(v));
        }, "group by")
        .commit();
  }

  DevicePtr dev_;
  UiModel& model_;
  bool paced_;
  QueuePtr q_ml_, q_blit_, q_host_;
  EventPtr e_embed_, e_rag_, e_blit_;
  HeapPtr heap_;
  Buffer bufs_[2], out_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct UiOptions {
  int frames = 0;          // 0: until the window closes (headless: 600)
  std::string screenshot;
  bool headless = false;
  bool no_lanes = false;
  std::string lanes = "engine";  // engine | demo | none
  std::string db = "ut-engine.duckdb";
  uint32_t width = 1280, height = 800;
  std::string backend;
};

void print_summary(const char* what, const FrameStatsSummary& s) {
  std::printf("%-6s %6llu frames %6.1f Hz | cpu ms avg %6.2f p50 %6.2f p99 %6.2f max %7.2f | gpu ms avg %6.2f p99 %6.2f"
              " | >16.6ms %5.1f%% >33ms %5.1f%% | 1%% low %6.1f fps | late %llu\n",
              what, static_cast<unsigned long long>(s.frames), s.achieved_hz, s.cpu.avg, s.cpu.p50, s.cpu.p99, s.cpu.max,
              s.gpu.avg, s.gpu.p99, s.cpu.over_16_6_pct, s.cpu.over_33_pct, s.interval.one_pct_low_fps,
              static_cast<unsigned long long>(s.late_frames));
}

int ui(const UiOptions& o) {
  const std::string lanes_kind = o.no_lanes ? "none" : o.lanes;
  UiModel model;
  // The engine's lanes feed the panes; the FrameLoop runs on the engine's device, so the diagnostics pane's
  // timeline shows the engine's queues, and is the UI's heartbeat.
  std::unique_ptr<EngineFeed> feed;
  if (lanes_kind == "engine") feed = std::make_unique<EngineFeed>(model, EngineFeedOptions{.backend = o.backend,
                                                                                           .db_path = o.db});
  auto dev = feed ? feed->device() : Device::create({.backend = o.backend});
  std::unique_ptr<Renderer> renderer;
  std::string no_ui;
  const bool want_window = !o.headless && Renderer::display_available();
  try {
    try {
      renderer = Renderer::create({.width = o.width, .height = o.height, .window = want_window});
    } catch (const BackendError& e) {
      if (!want_window) throw;
      std::fprintf(stderr, "ut ui: no window (%s); rendering headless\n", e.what());
      renderer = Renderer::create({.width = o.width, .height = o.height});
    }
  } catch (const BackendError& e) {
    no_ui = e.what();
  }
  if (renderer)
    std::printf("ut ui: %s on %s (%s), %ux%u, backend %s\n", renderer->windowed() ? "window" : "headless",
                renderer->device_name().c_str(), renderer->device_type().c_str(), o.width, o.height,
                dev->backend_name().c_str());
  else
    std::fprintf(stderr, "ut ui: UI unavailable: %s\nut ui: the engine's heartbeat runs on without the UI\n",
                 no_ui.c_str());

  if (!feed) model.device = dev;
  std::unique_ptr<DemoLanes> lanes;
  if (lanes_kind == "demo") lanes = std::make_unique<DemoLanes>(dev, model, /*paced=*/true);
  FrameLoop loop({.device = dev, .renderer = renderer.get(), .model = &model});
  model.watch_event(loop.frame_event());
  if (lanes) lanes->start();
  if (feed) feed->start();
  const uint64_t frames = o.frames > 0 ? static_cast<uint64_t>(o.frames) : (renderer && renderer->windowed() ? 0 : 600);
  if (!o.screenshot.empty() && renderer) {
    if (frames == 0) {
      loop.request_screenshot(o.screenshot);  // windowed, unbounded: the first frame
    } else {
      loop.run(frames - 1);
      loop.request_screenshot(o.screenshot);
      loop.run(1);
    }
  } else {
    loop.run(frames);
  }
  if (lanes) lanes->stop();
  if (feed) feed->stop();
  print_summary("frames", loop.summary());
  std::printf("events: E_frame=%llu E_rag=%llu\n", static_cast<unsigned long long>(loop.frame_event()->signaled_value()),
              static_cast<unsigned long long>(model.e_rag ? model.e_rag->signaled_value() : 0));
  if (!o.screenshot.empty()) {
    if (!renderer) {
      std::fprintf(stderr, "ut ui: no screenshot written: no Vulkan device\n");
      return 1;
    }
    std::printf("screenshot: %s\n", loop.screenshot_written().c_str());
  }
  return 0;
}

struct BenchUiOptions {
  int frames = 1800;
  bool quick = false;
  bool no_low_priority = false;  // skip the third phase (load with Q_ml at low priority)
  std::string json_path = "ut-bench-ui.json";
  uint32_t width = 1280, height = 800;
  std::string backend;
};

int bench_ui(const BenchUiOptions& o) {
  const uint64_t frames = o.quick ? 120 : static_cast<uint64_t>(o.frames);
  auto dev = Device::create({.backend = o.backend});
  std::unique_ptr<Renderer> renderer;
  try {
    renderer = Renderer::create({.width = o.width, .height = o.height});
  } catch (const BackendError& e) {
    std::fprintf(stderr, "ut bench ui: %s\n", e.what());
    return 2;
  }
  const std::string machine = cpu::host_cpu_name() + " (" + std::to_string(cpu::host_cores()) + " cores)";
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
  out["machine"] = {{"cpu", cpu::host_cpu_name()},
                    {"cores", cpu::host_cores()},
                    {"vulkan_device", renderer->device_name()},
                    {"vulkan_device_type", renderer->device_type()},
                    {"gpu_timestamps", renderer->gpu_timestamps()},
                    {"timeline_backend", dev->backend_name()}};
  out["resolution"] = {o.width, o.height};
  out["frames_per_phase"] = frames;
  out["warmup_frames"] = 30;

  loop.run(frames);
  const auto idle = loop.summary();
  print_summary("idle", idle);
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
    print_summary(prio ? "ml-low" : "load", loop.summary());
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

}  // namespace

void add_render_commands(CLI::App& app, CLI::App& bench, int& rc) {
  auto uo = std::make_shared<UiOptions>();
  auto* u = app.add_subcommand("ui",
                               "Show the UI (chat, SQL, documents, diagnostics) drawn with Vulkan + Dear ImGui at a 60 Hz\n"
                               "heartbeat: a window when a display is present, otherwise headless offscreen frames");
  u->add_option("--frames", uo->frames, "Frames to run (default: until the window closes; headless: 600)")
      ->check(CLI::Range(0, 10000000));
  u->add_option("--screenshot", uo->screenshot, "Save the last frame as PNG");
  u->add_flag("--headless", uo->headless, "Never open a window");
  u->add_option("--lanes", uo->lanes,
                 "What feeds the panes: engine (chat with retrieval, SQL over the Debian packages, the documents of\n"
                 "--db, editable), demo (synthetic lanes), none (placeholders)")
      ->capture_default_str()
      ->check(CLI::IsMember({"engine", "demo", "none"}));
  u->add_option("--db", uo->db, "DuckDB file of the documents (as for ut ingest and ut serve)")->capture_default_str();
  u->add_flag("--no-lanes", uo->no_lanes, "Same as --lanes none");
  u->add_option("--width", uo->width, "Frame width")->capture_default_str()->check(CLI::Range(64, 8192));
  u->add_option("--height", uo->height, "Frame height")->capture_default_str()->check(CLI::Range(64, 8192));
  u->add_option("--backend", uo->backend, "Timeline backend: cpu or cuda (default: best available)");
  u->callback([uo, &rc] { rc = ui(*uo); });

  auto bo = std::make_shared<BenchUiOptions>();
  auto* b = bench.add_subcommand("ui", "Frame-time distribution (CPU and GPU, p99, % over 16.6/33 ms, 1% low), idle\n"
                                       "and under concurrent ML/transfer load; saved as JSON naming the machine");
  b->add_option("--frames", bo->frames, "Frames per phase")->capture_default_str()->check(CLI::Range(10, 1000000));
  b->add_flag("--quick", bo->quick, "120 frames per phase (a smoke run)");
  b->add_flag("--no-low-priority-phase", bo->no_low_priority,
              "Measure idle and load only (skip the third phase, the load with Q_ml at low priority)");
  b->add_option("--json", bo->json_path, "Where to save the results")->capture_default_str();
  b->add_option("--width", bo->width, "Frame width")->capture_default_str()->check(CLI::Range(64, 8192));
  b->add_option("--height", bo->height, "Frame height")->capture_default_str()->check(CLI::Range(64, 8192));
  b->add_option("--backend", bo->backend, "Timeline backend: cpu or cuda (default: best available)");
  b->callback([bo, &rc] { rc = bench_ui(*bo); });
}

}  // namespace ut::app
