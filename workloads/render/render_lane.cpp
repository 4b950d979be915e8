#include "workloads/render/render_lane.h"

#include "timeline/error.h"

namespace ut::render {
namespace {

// Empty when the Vulkan backend can make a device here, else why not.
std::string vulkan_backend_missing() {
  for (const auto& b : Device::backends())
    if (b.name == "vulkan") return b.available ? std::string() : b.reason;
  return "this build has no Vulkan backend";
}

}  // namespace

RenderLane RenderLane::create(const RenderLaneDesc& desc) {
  if (desc.where != "auto" && desc.where != "timeline" && desc.where != "own")
    throw UsageError("[RenderLane::create] where must be auto, timeline or own (got '" + desc.where + "')");
  RenderLane lane;
  std::string why;
  if (desc.where == "own") why = "asked for";
  else if (desc.renderer.window) why = "a window needs a device with a swapchain";
  else why = vulkan_backend_missing();
  if (desc.where == "timeline" && !why.empty())
    throw UsageError("[RenderLane::create] cannot render on the timeline: " + why);
  if (why.empty()) {
    lane.device = Device::create({.backend = "vulkan"});
    lane.queue = lane.device->make_queue({.kind = QueueKind::render, .label = "Q_render"});
    lane.e_frame = lane.device->make_event("E_frame");
    RendererDesc rd = desc.renderer;
    rd.queue = lane.queue;
    lane.renderer = Renderer::create(rd);
    lane.placement = "timeline (Vulkan backend render queue)";
    return lane;
  }
  lane.renderer = Renderer::create(desc.renderer);
  lane.placement = "own device: " + why;
  return lane;
}

}  // namespace ut::render
