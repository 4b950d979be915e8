// The renderer on the timeline: frames are command buffers of the Vulkan backend's render queue and E_frame is a
// timeline semaphore the GPU signals (lavapipe here, NVIDIA's driver on the GPU machine). The oracle is the
// renderer on its own device: the same UI must give the same pixels either way.
#include <gtest/gtest.h>
#include <imgui.h>
#include <vulkan/vulkan.h>

#include "backends/vulkan/device.h"
#include "fixture.h"
#include "tests/common/skip.h"
#include "timeline/error.h"
#include "workloads/render/frame_loop.h"
#include "workloads/render/panes.h"

namespace ut::render {
namespace {

struct VulkanRender {
  DevicePtr device;
  QueuePtr queue;
  EventPtr e_frame;
};

// A Vulkan timeline device with a render queue, or a skip saying why there is none.
std::string make_vulkan(VulkanRender& v) {
  if (auto info = vulkan::probe(); !info.available) return "no Vulkan device for the timeline: " + info.reason;
  v.device = Device::create({.backend = "vulkan"});
  v.queue = v.device->make_queue({.kind = QueueKind::render, .label = "Q_render"});
  v.e_frame = v.device->make_event("E_frame");
  return {};
}

// The same picture every frame: fixed windows, text and a filled rectangle (no time-dependent widgets).
void draw_fixed() {
  ImGui::SetNextWindowPos(ImVec2(20, 20));
  ImGui::SetNextWindowSize(ImVec2(300, 160));
  ImGui::Begin("timeline", nullptr, ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove);
  ImGui::Text("frames on the render queue, E_frame on the GPU");
  const ImVec2 p = ImGui::GetCursorScreenPos();
  ImGui::GetWindowDrawList()->AddRectFilled(p, ImVec2(p.x + 120, p.y + 40), IM_COL32(200, 60, 30, 255));
  ImGui::End();
}

TEST(RendererOnTimeline, SamePixelsAsOnItsOwnDeviceAndTheGpuSignalsEFrame) {
  VulkanRender v;
  if (auto why = make_vulkan(v); !why.empty()) UT_SKIP_NO_UI(why);
  auto on_timeline = Renderer::create({.width = 400, .height = 240, .queue = v.queue});
  auto own = Renderer::create({.width = 400, .height = 240});
  ASSERT_TRUE(on_timeline->on_timeline());
  ASSERT_FALSE(own->on_timeline());
  EXPECT_EQ(on_timeline->device_name(), own->device_name());
  std::printf("device: %s\n", on_timeline->device_name().c_str());

  // Frames 1-3 through build/encode/finish in our own buffers, each signalling E_frame on the GPU.
  for (uint64_t n = 1; n <= 3; ++n) {
    on_timeline->build(draw_fixed);
    auto cb = v.queue->make_command_buffer("frame");
    on_timeline->encode(cb, {.capture = n == 3});
    cb.signal(v.e_frame, n).commit();
    ASSERT_TRUE(v.e_frame->wait(n, std::chrono::seconds(30))) << "E_frame never reached " << n;
    cb.wait_until_completed();
    const FrameTimes t = on_timeline->finish({.capture = n == 3});
    EXPECT_GT(t.cpu_ms, 0.0);
  }
  for (int n = 1; n <= 3; ++n) own->render(draw_fixed, {.capture = n == 3});

  const Image& a = on_timeline->pixels();
  const Image& b = own->pixels();
  ASSERT_EQ(a.width, 400u);
  ASSERT_EQ(a.rgba.size(), b.rgba.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < a.rgba.size(); i += 4)
    if (std::memcmp(&a.rgba[i], &b.rgba[i], 4) != 0) ++differ;
  EXPECT_EQ(differ, 0u) << "pixels that differ from the renderer on its own device";
  const uint8_t red[3] = {200, 60, 30};
  EXPECT_GT(test::fraction_near(a, 20, 20, 320, 180, red, 4), 0.05) << "the filled rectangle is missing";

  // E_frame is the timeline semaphore itself, not only the host word.
  uint64_t counter = 0;
  const VkSemaphore sem = vulkan::native_semaphore(*v.e_frame).semaphore;
  const VkDevice dev = vulkan::native_device(*v.device).device;
  ASSERT_EQ(vkGetSemaphoreCounterValue(dev, sem, &counter), VK_SUCCESS);
  EXPECT_EQ(counter, 3u);
  EXPECT_EQ(v.e_frame->signaled_value(), 3u);
}

TEST(RendererOnTimeline, TheFrameLoopRunsOnTheRenderersQueue) {
  VulkanRender v;
  if (auto why = make_vulkan(v); !why.empty()) UT_SKIP_NO_UI(why);
  auto renderer = Renderer::create({.width = 640, .height = 400, .queue = v.queue});
  UiModel model;
  model.device = v.device;
  model.e_rag = v.device->make_event("E_rag");
  test::fill_model(model, 1);
  model.e_rag->signal(1);
  FrameLoop loop({.device = v.device, .e_frame = v.e_frame, .renderer = renderer.get(), .model = &model});
  EXPECT_EQ(loop.queue(), v.queue);
  loop.run(10);
  EXPECT_EQ(v.e_frame->signaled_value(), 10u);
  EXPECT_EQ(renderer->frames(), 10u);
  EXPECT_EQ(v.queue->stats().completed, 10u + 1u);  // ten frames and the font upload
  const FrameStatsSummary s = loop.summary();
  EXPECT_EQ(s.frames, 10u);
  if (renderer->gpu_timestamps()) {
    EXPECT_GT(s.gpu.p50, 0.0) << "GPU time measured from the frame's timestamps";
  }
  // A screenshot through the loop is a real picture of the panes.
  loop.request_screenshot("ui-timeline.png");
  loop.run(1);
  EXPECT_EQ(loop.screenshot_written(), "ui-timeline.png");
  EXPECT_GT(test::bright_pixels(renderer->pixels(), 0, 0, 640, 400), 500u);
}

TEST(RendererOnTimeline, MisuseIsAUsageError) {
  VulkanRender v;
  if (auto why = make_vulkan(v); !why.empty()) UT_SKIP_NO_UI(why);
  auto compute = v.device->make_queue({.kind = QueueKind::compute, .label = "Q_ml"});
  EXPECT_THROW(Renderer::create({.queue = compute}), UsageError);
  EXPECT_THROW(Renderer::create({.window = true, .queue = v.queue}), UsageError);
  auto cpu = Device::create({.backend = "cpu"});
  auto cpu_render = cpu->make_queue({.kind = QueueKind::render, .label = "Q_render"});
  EXPECT_THROW(Renderer::create({.queue = cpu_render}), UsageError);  // no Vulkan handles
  auto renderer = Renderer::create({.width = 128, .height = 128, .queue = v.queue});
  auto other = v.device->make_queue({.kind = QueueKind::render, .label = "Q_render2"});
  EXPECT_THROW(FrameLoop({.device = v.device, .queue = other, .renderer = renderer.get()}), UsageError);
  auto own = Renderer::create({.width = 128, .height = 128});
  EXPECT_THROW(own->build(draw_fixed), UsageError);
}

// A frame whose UI code throws fails its command buffer; E_frame carries the error instead of hanging, and the
// next frame renders.
TEST(RendererOnTimeline, AFailedFrameFailsItsBufferAndTheNextOneRenders) {
  VulkanRender v;
  if (auto why = make_vulkan(v); !why.empty()) UT_SKIP_NO_UI(why);
  auto renderer = Renderer::create({.width = 200, .height = 120, .queue = v.queue});
  auto cb = v.queue->make_command_buffer("bad frame");
  cb.host_task([&] { renderer->build([] { throw std::runtime_error("draw failed"); }); }, "draw");
  renderer->encode(cb);
  cb.signal(v.e_frame, 1).commit();
  EXPECT_THROW(cb.wait_until_completed(), std::exception);
  EXPECT_THROW(v.e_frame->wait(1, std::chrono::seconds(30)), std::exception);
  const FrameTimes t = renderer->render(draw_fixed, {.capture = true});
  EXPECT_GE(t.cpu_ms, 0.0);
  EXPECT_EQ(renderer->frames(), 1u);
}

}  // namespace
}  // namespace ut::render
