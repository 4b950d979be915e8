// Renderer: Dear ImGui drawn with Vulkan into an offscreen image (headless), or shown in a GLFW window.
//
//   auto r = ut::render::Renderer::create({.width = 1280, .height = 800});   // throws ut::BackendError: no device
//   auto t = r->render([&] { ImGui::Begin("hello"); ImGui::Text("hi"); ImGui::End(); }, {.capture = true});
//   std::printf("cpu %.2f ms, gpu %.2f ms on %s\n", t.cpu_ms, t.gpu_ms, r->device_name().c_str());
//   r->save_png("frame.png");                                            // the last captured frame
//
//   // On the timeline: the frame is a command buffer of a Vulkan render queue, E_frame a timeline semaphore.
//   auto vk = ut::Device::create({.backend = "vulkan"});
//   auto q = vk->make_queue({.kind = ut::QueueKind::render, .label = "Q_render"});
//   auto e_frame = vk->make_event("E_frame");
//   auto r2 = ut::render::Renderer::create({.queue = q});
//   r2->build([&] { ImGui::Text("hi"); });                               // ImGui on this thread (CPU)
//   auto cb = q->make_command_buffer("frame");
//   r2->encode(cb, {});                                                  // the frame's Vulkan commands, in order
//   cb.signal(e_frame, 1).commit();                                      // the GPU signals E_frame = 1
//   e_frame->wait(1);  auto t2 = r2->finish({});                          // timestamps, capture
//
// Contract
// - render() runs NewFrame -> draw() -> Render, records one Vulkan command buffer (clear, ImGui, timestamps,
//   optional copy to a host-visible buffer), submits it and waits for its fence: one frame in flight, so the
//   GPU time measured is this frame's. It only waits on its own GPU work, never on a timeline event.
// - With RendererDesc::queue (a render queue of the Vulkan backend, headless only) the renderer adopts that
//   queue's VkDevice and never submits itself: set-up (the font upload) and frames are dispatches on the queue that
//   record into its batch, so they order with the queue's other commands and signal timeline semaphores (E_frame)
//   on the GPU. render() still works (its own command buffer, waited); build/encode/finish split it for a caller
//   that puts the frame into its own command buffer (the FrameLoop).
// - Not thread-safe: one thread at a time (the render queue's worker); the ImGui context is this renderer's,
//   made current at each render().
// - Window mode (RendererDesc::window = true) needs a display (DISPLAY or WAYLAND_DISPLAY) and GLFW; without
//   one, create() throws BackendError — callers fall back to headless (see Renderer::display_available()).
// - Errors: BackendError with "[Renderer::method]" context, naming the failing Vulkan call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "timeline/queue.h"

namespace ut::render {

class VulkanContext;
class Window;

struct RendererDesc {
  uint32_t width = 1280;
  uint32_t height = 800;
  bool window = false;          // show a GLFW window (needs a display); otherwise offscreen only
  std::string title = "Unified Timeline";
  float font_scale = 1.0f;
  QueuePtr queue;               // a Vulkan render queue: frames are its command buffers (see the contract)
};

struct RenderOptions {
  bool capture = false;         // copy the frame into host memory (pixels(), save_png())
  float clear_rgb[3] = {0.06f, 0.07f, 0.09f};
};

struct FrameTimes {
  double cpu_ms = 0;            // ImGui build + record + submit + fence wait, on the calling thread (on a
                                // timeline queue: build() to finish(), the wait for the command buffer included)
  double gpu_ms = -1;           // timestamp queries around the GPU work; < 0 where the device has none
};

// RGBA8 pixels, rows top to bottom.
struct Image {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> rgba;
  const uint8_t* at(uint32_t x, uint32_t y) const { return &rgba[(static_cast<std::size_t>(y) * width + x) * 4]; }
};

class Renderer {
 public:
  static std::unique_ptr<Renderer> create(const RendererDesc& desc = {});
  // True when a display server looks reachable (DISPLAY / WAYLAND_DISPLAY set).
  static bool display_available();
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  FrameTimes render(const std::function<void()>& draw, const RenderOptions& opt = {});
  // On a timeline queue only (UsageError otherwise). build(): ImGui's frame on the calling thread. encode(): the
  // dispatch that records the built frame into `cb` (a buffer of the renderer's queue); the caller keeps the
  // renderer alive and calls nothing else on it until `cb` completed, then finish() (timestamps, capture).
  void build(const std::function<void()>& draw);
  void encode(CommandBuffer& cb, const RenderOptions& opt = {});
  FrameTimes finish(const RenderOptions& opt = {});
  bool on_timeline() const noexcept;
  const QueuePtr& queue() const noexcept;  // the timeline queue, or null
  // Makes this renderer's ImGui context current (to set styles before the first frame).
  void make_current();

  // The last frame rendered with capture = true (empty before one).
  const Image& pixels() const noexcept { return captured_; }
  // Writes pixels() as PNG; throws ut::Error if nothing was captured or the file cannot be written.
  void save_png(const std::string& path) const;

  uint32_t width() const noexcept { return desc_.width; }
  uint32_t height() const noexcept { return desc_.height; }
  bool windowed() const noexcept { return window_ != nullptr; }
  bool window_should_close() const;  // false when headless
  // Window mode: processes window events. GLFW wants this on the thread that made the window (the FrameLoop
  // calls it on its ticker, which is the main thread under FrameLoop::run). No-op when headless.
  void poll_events();
  const std::string& device_name() const;
  const std::string& device_type() const;
  bool gpu_timestamps() const;
  uint64_t frames() const noexcept { return frames_; }

 private:
  struct Impl;
  explicit Renderer(const RendererDesc& d);
  uint32_t imgui_frame(const std::function<void()>& draw, uint64_t t0);
  RendererDesc desc_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Window> window_;
  Image captured_;
  uint64_t frames_ = 0;
  uint64_t last_frame_ns_ = 0;
};

// Encodes RGBA8 pixels as PNG (stb_image_write); throws ut::Error naming the path on failure.
void write_png(const std::string& path, const Image& img);
// Decodes a PNG into RGBA8 (stb_image); throws ut::Error naming the path on failure.
Image read_png(const std::string& path);

}  // namespace ut::render
