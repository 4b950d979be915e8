// RenderLane: the renderer and where its frames run. Headless, it draws on the timeline: a render queue of the
// Vulkan backend, so each frame is a command buffer of that queue and E_frame a timeline semaphore the GPU
// signals (the Metal plan's render queue and MTLSharedEvent). With a window, or where the Vulkan backend is not
// available, the renderer keeps a device of its own and E_frame is the heartbeat's event.
//
//   auto lane = ut::render::RenderLane::create({.renderer = {.width = 1280, .height = 800}});
//   std::printf("%s\n", lane.placement.c_str());           // "timeline" or "own device: <why>"
//   ut::render::FrameLoop loop({.device = dev, .queue = lane.queue, .e_frame = lane.e_frame,
//                               .renderer = lane.renderer.get()});
//
// create() throws ut::BackendError where no Vulkan device can draw at all (callers run the heartbeat without UI),
// and UsageError for `where = "timeline"` with a window or without the Vulkan backend.
#pragma once

#include <memory>
#include <string>

#include "timeline/device.h"
#include "workloads/render/renderer.h"

namespace ut::render {

struct RenderLaneDesc {
  RendererDesc renderer;
  std::string where = "auto";  // auto: the timeline when headless and the Vulkan backend is there | timeline | own
};

struct RenderLane {
  // Declared before the renderer, so they outlive it (the renderer adopts the queue's VkDevice).
  DevicePtr device;  // the Vulkan timeline device; null on the renderer's own device
  QueuePtr queue;    // its render queue ("Q_render"), or null
  EventPtr e_frame;  // "E_frame" on that device (a timeline semaphore), or null
  std::unique_ptr<Renderer> renderer;
  std::string placement;  // "timeline (Vulkan backend render queue)" or "own device: <why>"

  static RenderLane create(const RenderLaneDesc& desc);
  bool on_timeline() const noexcept { return queue != nullptr; }
};

}  // namespace ut::render
