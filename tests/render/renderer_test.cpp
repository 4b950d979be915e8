// The renderer on a real Vulkan device (lavapipe here): headless frames make a real picture; no driver is a
// clear error, not a crash.
#include <gtest/gtest.h>
#include <imgui.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "fixture.h"
#include "tests/common/skip.h"
#include "timeline/error.h"
#include "workloads/render/frame_loop.h"
#include "workloads/render/panes.h"

namespace ut::render {
namespace {

TEST(Renderer, HeadlessFramesMakeARealScreenshot) {
  auto dev = Device::create({.backend = "cpu"});
  auto renderer = Renderer::create({.width = 1280, .height = 800});
  std::printf("device: %s (%s), gpu timestamps: %s\n", renderer->device_name().c_str(), renderer->device_type().c_str(),
              renderer->gpu_timestamps() ? "yes" : "no");
  UiModel model;
  model.device = dev;
  model.e_rag = dev->make_event("E_rag");
  model.watch_event(model.e_rag);
  auto heap = dev->make_heap({.size = 8 << 20, .label = "B_embed"});
  auto used = heap->allocate(5 << 20);
  model.watch_heap(heap);
  test::fill_model(model, 3);
  model.e_rag->signal(3);

  // Some queue activity for the diagnostics pane's timeline: ML work and a copy lane beside the frames (simulated
  // work of 12 ms and 4 ms; nothing waits on it by time).
  auto q_ml = dev->make_queue({.kind = QueueKind::compute, .label = "Q_ml"});
  auto q_blit = dev->make_queue({.kind = QueueKind::transfer, .label = "Q_blit"});
  auto e_embed = dev->make_event("E_embed");
  model.watch_event(e_embed);
  for (uint64_t i = 1; i <= 12; ++i) {
    q_ml->make_command_buffer("embed").host_task([] { std::this_thread::sleep_for(std::chrono::milliseconds(12)); })
        .signal(e_embed, i).commit();
    q_blit->make_command_buffer("blit").wait(e_embed, i)
        .host_task([] { std::this_thread::sleep_for(std::chrono::milliseconds(4)); }).commit();
  }

  const std::string path = "ui-lavapipe.png";
  std::filesystem::remove(path);
  FrameLoop* loop_ptr = nullptr;
  FrameLoop loop({.device = dev, .renderer = renderer.get(), .model = &model,
                  .on_frame = [&](uint64_t n, const UiFrameInfo&, const FrameSample&) {
                    if (n == 28) loop_ptr->request_screenshot(path);
                  }});
  model.watch_event(loop.frame_event());
  loop_ptr = &loop;
  loop.run(30);
  ASSERT_EQ(loop.screenshot_written(), path);
  q_ml->wait_idle();
  q_blit->wait_idle();
  EXPECT_EQ(loop.frame_event()->signaled_value(), 30u);

  // Right size, not blank, and the saved PNG is what was rendered.
  const Image& img = renderer->pixels();
  ASSERT_EQ(img.width, 1280u);
  ASSERT_EQ(img.height, 800u);
  const Image png = read_png(path);
  ASSERT_EQ(png.width, img.width);
  ASSERT_EQ(png.height, img.height);
  EXPECT_EQ(png.rgba, img.rgba);
  std::set<uint32_t> colours;
  for (std::size_t i = 0; i < img.rgba.size(); i += 4 * 7)
    colours.insert(uint32_t{img.rgba[i]} << 16 | uint32_t{img.rgba[i + 1]} << 8 | img.rgba[i + 2]);
  EXPECT_GT(colours.size(), 40u) << "the frame looks blank";

  // The clear colour shows in the margin between panes.
  const uint8_t clear[3] = {15, 18, 23};
  EXPECT_GT(test::fraction_near(img, 0, 0, 1280, 3, clear, 3), 0.95);

  // Each pane where the layout puts it: its own title-bar colour, its window background, and text in it.
  for (const auto& spec : pane_specs()) {
    const PaneRect r = pane_rect(spec, 1280, 800);
    const int x0 = static_cast<int>(r.x), y0 = static_cast<int>(r.y);
    const int x1 = static_cast<int>(r.x + r.w), y1 = static_cast<int>(r.y + r.h);
    SCOPED_TRACE(spec.title);
    // Right half of the title bar (the title text is on the left).
    EXPECT_GT(test::fraction_near(img, x0 + static_cast<int>(r.w / 2), y0 + 3, x1 - 4, y0 + 14, spec.title_rgb, 6), 0.9);
    EXPECT_GT(test::fraction_near(img, x0 + 2, y0 + 22, x1 - 2, y1 - 2, kWindowBgRgb, 6), 0.3);
    EXPECT_GT(test::bright_pixels(img, x0 + 2, y0 + 22, x1 - 2, y1 - 2), 150u) << "no text drawn in the pane";
    // Outside the pane, just left of it (or above, for panes at the edge), is not this pane's title colour.
    if (x0 > 20) {
      EXPECT_LT(test::fraction_near(img, x0 - 10, y0 + 3, x0 - 4, y0 + 14, spec.title_rgb, 6), 0.5);
    }
  }
  // The RAG badges (green buttons) are in the chat pane once E_rag reached the ready value.
  const uint8_t badge[3] = {41, 107, 77};
  const PaneRect chat = pane_rect(pane_specs()[0], 1280, 800);
  EXPECT_GT(test::fraction_near(img, static_cast<int>(chat.x), static_cast<int>(chat.y), static_cast<int>(chat.x + chat.w),
                                static_cast<int>(chat.y + chat.h), badge, 6),
            0.002);
  std::printf("screenshot: %s\n", std::filesystem::absolute(path).c_str());
}

TEST(Renderer, MeasuresCpuAndGpuFrameTimes) {
  auto renderer = Renderer::create({.width = 320, .height = 200});
  FrameTimes t;
  for (int i = 0; i < 5; ++i) t = renderer->render([] {
    ImGui::Begin("hello");
    ImGui::Text("frame");
    ImGui::End();
  });
  EXPECT_GT(t.cpu_ms, 0.0);
  if (renderer->gpu_timestamps()) {
    EXPECT_GT(t.gpu_ms, 0.0);
    EXPECT_LT(t.gpu_ms, t.cpu_ms + 1.0);  // the GPU work is inside the CPU's submit -> fence wait
  } else {
    UT_SKIP_NO_UI(renderer->device_name() + " has no timestamp queries on its graphics queue");
  }
  EXPECT_EQ(renderer->frames(), 5u);
  EXPECT_THROW(Renderer::create({.width = 10, .height = 10}), UsageError);
}

TEST(Renderer, PngRoundTrip) {
  Image img;
  img.width = 3;
  img.height = 2;
  img.rgba = {255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255};
  write_png("roundtrip.png", img);
  EXPECT_EQ(read_png("roundtrip.png").rgba, img.rgba);
  EXPECT_THROW(write_png("/nonexistent-dir/x.png", img), Error);
  EXPECT_THROW(read_png("/nonexistent-dir/x.png"), Error);
}

// Bad environment: the Vulkan loader finds no driver. A clear BackendError, no crash, and the engine's
// heartbeat runs on without the UI. (ctest runs each test in its own process, so the loader reads this env.)
TEST(RendererBadEnvironment, NoVulkanDriverIsAClearErrorAndTheHeartbeatRunsOn) {
  ::setenv("VK_ICD_FILENAMES", "/nonexistent/ut_no_icd.json", 1);
  ::setenv("VK_DRIVER_FILES", "/nonexistent/ut_no_icd.json", 1);
  std::string message;
  try {
    auto r = Renderer::create();
    FAIL() << "a renderer was created with no Vulkan driver: " << r->device_name();
  } catch (const BackendError& e) {
    message = e.what();
  }
  ::unsetenv("VK_ICD_FILENAMES");
  ::unsetenv("VK_DRIVER_FILES");
  std::printf("message: %s\n", message.c_str());
  EXPECT_NE(message.find("[VulkanContext::create]"), std::string::npos);
  EXPECT_NE(message.find("no usable Vulkan driver"), std::string::npos);
  EXPECT_NE(message.find("/nonexistent/ut_no_icd.json"), std::string::npos);

  auto dev = Device::create({.backend = "cpu"});
  FrameLoop loop({.device = dev, .renderer = nullptr});
  loop.run(10);
  EXPECT_EQ(loop.frame_event()->signaled_value(), 10u);
  EXPECT_EQ(loop.summary().frames, 10u);
}

}  // namespace
}  // namespace ut::render

namespace ut::render {
namespace {

// Window mode (GLFW + swapchain). Needs a display: ctest runs it once more under xvfb-run when that is
// installed (render.window.xvfb); without a display it skips, saying so.
TEST(RendererWindow, PresentsToAWindowWhenADisplayIsPresent) {
  if (!Renderer::display_available()) {
    // Asking for a window without a display is a clear error (callers fall back to headless), not a crash.
    EXPECT_THROW(Renderer::create({.width = 640, .height = 400, .window = true}), BackendError);
    UT_SKIP_NO_UI("no display (DISPLAY/WAYLAND_DISPLAY unset): ctest runs this test under xvfb-run where it is "
                  "installed (scripts/setup.sh installs it)");
  }
  auto dev = Device::create({.backend = "cpu"});
  auto renderer = Renderer::create({.width = 640, .height = 400, .window = true});
  ASSERT_TRUE(renderer->windowed());
  UiModel model;
  model.device = dev;
  test::fill_model(model, 1);
  FrameLoop loop({.device = dev, .renderer = renderer.get(), .model = &model});
  loop.request_screenshot("ui-window.png");
  loop.run(20);
  EXPECT_EQ(loop.frame_event()->signaled_value(), 20u);
  EXPECT_EQ(loop.screenshot_written(), "ui-window.png");
  EXPECT_EQ(renderer->pixels().width, 640u);
  EXPECT_FALSE(renderer->window_should_close());
}

}  // namespace
}  // namespace ut::render
