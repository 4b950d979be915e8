// `ut ui`: the render lane's command (workloads/render); `ut bench ui` lives in bench/ui.
//   ut ui [--frames N] [--screenshot FILE.png] [--headless] [--lanes engine|demo|none]  a window when a display is present,
//                                                                         else headless (offscreen) frames
// `ut ui` feeds the panes from the engine's own lanes (EngineFeed: chat with retrieval, SQL, editable documents);
// `--lanes demo` uses the synthetic lanes of bench/ui/demo_lanes.h, which `ut bench ui` also uses as its load.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "apps/ut/commands.h"
#include "bench/ui/demo_lanes.h"
#include "bench/ui/ui_bench.h"
#include "engine/ui_feed.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "workloads/render/frame_loop.h"
#include "workloads/render/render_lane.h"
#include "workloads/render/renderer.h"

namespace ut::app {
namespace {

using namespace ut::render;

struct UiOptions {
  int frames = 0;          // 0: until the window closes (headless: 600)
  std::string screenshot;
  bool headless = false;
  bool no_lanes = false;
  std::string lanes = "engine";  // engine | demo | none
  std::string db = "ut-engine.duckdb";
  uint32_t width = 1280, height = 800;
  std::string backend;
  int reserve_sms = 0;
  std::string render_on = "auto";  // auto | timeline | own
};

int ui(const UiOptions& o) {
  const std::string lanes_kind = o.no_lanes ? "none" : o.lanes;
  UiModel model;
  // The engine's lanes feed the panes; the FrameLoop runs on the engine's device, so the diagnostics pane's
  // timeline shows the engine's queues, and is the UI's heartbeat.
  std::unique_ptr<engine::EngineFeed> feed;
  if (lanes_kind == "engine") feed = std::make_unique<engine::EngineFeed>(model, engine::EngineFeedOptions{
                                                                            .backend = o.backend,
                                                                            .reserve_sms = o.reserve_sms,
                                                                            .db_path = o.db});
  auto dev = feed ? feed->device() : Device::create({.backend = o.backend});
  RenderLane lane;
  std::string no_ui;
  const bool want_window = !o.headless && o.render_on != "timeline" && Renderer::display_available();
  try {
    try {
      lane = RenderLane::create({.renderer = {.width = o.width, .height = o.height, .window = want_window},
                                 .where = o.render_on});
    } catch (const BackendError& e) {
      if (!want_window) throw;
      std::fprintf(stderr, "ut ui: no window (%s); rendering headless\n", e.what());
      lane = RenderLane::create({.renderer = {.width = o.width, .height = o.height}, .where = o.render_on});
    }
  } catch (const BackendError& e) {
    no_ui = e.what();
  }
  Renderer* renderer = lane.renderer.get();
  if (renderer)
    std::printf("ut ui: %s on %s (%s), %ux%u, frames on %s, engine backend %s\n",
                renderer->windowed() ? "window" : "headless", renderer->device_name().c_str(),
                renderer->device_type().c_str(), o.width, o.height, lane.placement.c_str(),
                dev->backend_name().c_str());
  else
    std::fprintf(stderr, "ut ui: UI unavailable: %s\nut ui: the engine's heartbeat runs on without the UI\n",
                 no_ui.c_str());

  if (!feed) model.device = dev;
  std::unique_ptr<bench::DemoLanes> lanes;
  if (lanes_kind == "demo") lanes = std::make_unique<bench::DemoLanes>(dev, model, /*paced=*/true);
  FrameLoop loop({.device = dev, .queue = lane.queue, .e_frame = lane.e_frame, .renderer = renderer, .model = &model});
  model.watch_event(loop.frame_event());
  if (lanes) lanes->start();
  if (feed) feed->start();
  const uint64_t frames = o.frames > 0 ? static_cast<uint64_t>(o.frames) : (renderer && renderer->windowed() ? 0 : 600);
  // A frame the GPU never finishes (FrameLoopDesc::frame_deadline) ends the process: tearing the renderer and its
  // queue down would wait on that frame for ever.
  const auto run = [&loop](uint64_t n) {
    try {
      loop.run(n);
    } catch (const BackendError& e) {
      std::fprintf(stderr, "ut ui: %s\nut ui: exiting without tearing the GPU device down\n", e.what());
      std::fflush(stdout);
      std::_Exit(3);
    }
  };
  if (!o.screenshot.empty() && renderer) {
    if (frames == 0) {
      loop.request_screenshot(o.screenshot);  // windowed, unbounded: the first frame
      run(0);
    } else {
      run(frames - 1);
      loop.request_screenshot(o.screenshot);
      run(1);
    }
  } else {
    run(frames);
  }
  if (lanes) lanes->stop();
  if (feed) feed->stop();
  bench::print_frame_summary("frames", loop.summary());
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

}  // namespace

void add_render_commands(CLI::App& app, CLI::App&, int& rc) {
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
  u->add_option("--render-on", uo->render_on,
                "Where frames run: timeline (each frame a command buffer of the Vulkan backend's render queue,\n"
                "E_frame a timeline semaphore the GPU signals; headless only), own (the renderer's own Vulkan\n"
                "device; a window always is), auto (timeline when headless and the Vulkan backend is there)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "timeline", "own"}));
  add_reserve_sms_option(*u, uo->reserve_sms);
  u->callback([uo, &rc] { rc = ui(*uo); });
}

}  // namespace ut::app
