#include "workloads/render/renderer.h"

#include <imgui.h>
#include <imgui_impl_vulkan.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "timeline/clock.h"
#include "timeline/error.h"
#include "timeline/queue.h"
#include "workloads/render/vk_context.h"
#include "workloads/render/window.h"

namespace ut::render {
namespace {

// ImGui's backend reports Vulkan errors through a C callback; remember the first one and raise it after the frame.
std::atomic<int> g_imgui_vk_error{VK_SUCCESS};
void imgui_check(VkResult r) {
  if (r < 0) {
    int expected = VK_SUCCESS;
    g_imgui_vk_error.compare_exchange_strong(expected, static_cast<int>(r));
  }
}

constexpr VkFormat kFormat = VK_FORMAT_R8G8B8A8_UNORM;
constexpr const char* kCreate = "Renderer::create";
constexpr const char* kRender = "Renderer::render";

// The kernel that lets the renderer record its own Vulkan commands into a timeline queue's batch: a dispatch of it
// calls *fn with the VkCommandBuffer being recorded. The caller keeps *fn alive until the buffer completed.
constexpr const char* kRecordKernel = "ut.render.record";
struct RecordArgs {
  const std::function<void(VkCommandBuffer)>* fn;
};
void register_record_kernel() {
  static const bool once = kernels().add(kRecordKernel, "vulkan", [](const DispatchContext& c) {
    if (c.native_commands == nullptr) throw UsageError("[Renderer] ut.render.record ran outside a Vulkan queue's batch");
    (*c.constants<RecordArgs>().fn)(static_cast<VkCommandBuffer>(c.native_commands));
  });
  (void)once;
}

// Runs `record` in a command buffer of `queue` and waits for it (rethrows its failure).
void submit_on(Queue& queue, const std::function<void(VkCommandBuffer)>& record, const std::string& label) {
  auto cb = queue.make_command_buffer(label);
  cb.dispatch(kRecordKernel, Grid{1}, DispatchArgs::make({}, RecordArgs{&record}));
  cb.commit();
  cb.wait_until_completed();
}

}  // namespace

struct Renderer::Impl {
  QueuePtr queue;  // the timeline's render queue (frames are its command buffers), or null: our own VkQueue
  std::unique_ptr<VulkanContext> ctx;
  DeviceHandle<VkImage> image;
  DeviceHandle<VkDeviceMemory> image_mem;
  DeviceHandle<VkImageView> view;
  DeviceHandle<VkRenderPass> pass;
  DeviceHandle<VkFramebuffer> fb;
  DeviceHandle<VkBuffer> readback;
  DeviceHandle<VkDeviceMemory> readback_mem;
  void* readback_map = nullptr;
  bool readback_coherent = true;
  DeviceHandle<VkCommandPool> pool;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  DeviceHandle<VkFence> fence;
  DeviceHandle<VkSemaphore> acquired, rendered;  // window mode
  DeviceHandle<VkQueryPool> queries;
  DeviceHandle<VkDescriptorPool> descriptors;
  ImGuiContext* imgui = nullptr;
  bool imgui_vulkan = false;
  bool imgui_glfw = false;

  // Timeline mode: what the frame's dispatch records (set by encode()), and the time spent recording it.
  RenderOptions pending;
  std::function<void(VkCommandBuffer)> frame_recorder;
  uint64_t build_start_ns = 0;

  ~Impl() { idle(); release(); }
  // Every submitted frame done. On the timeline the queue's worker owns the VkQueue: vkDeviceWaitIdle would race it.
  void idle() {
    if (queue) queue->wait_idle();
    else if (ctx && ctx->device()) vkDeviceWaitIdle(ctx->device());
  }
  void release() {
    if (imgui) {
      ImGui::SetCurrentContext(imgui);
      if (imgui_vulkan) ImGui_ImplVulkan_Shutdown();
      if (imgui_glfw) Window::shutdown_imgui();
      ImGui::DestroyContext(imgui);
    }
    if (readback_map) vkUnmapMemory(ctx->device(), readback_mem.get());
  }

  // The steps of Renderer::create(), in order; each owns what it makes as soon as it is made, so a failure
  // part-way is cleaned up by ~Impl.
  void create_target(uint32_t width, uint32_t height);
  void create_pass(uint32_t width, uint32_t height);
  void create_readback(uint32_t width, uint32_t height);
  void create_commands(bool windowed);
  void create_pools();
  void init_imgui(const RendererDesc& desc, Window* window);
  // The steps of Renderer::render() after ImGui built the frame.
  void record(const RenderOptions& opt, uint32_t width, uint32_t height, Window* window, uint32_t swap_index);
  void record_commands(VkCommandBuffer cb, const RenderOptions& opt, uint32_t width, uint32_t height, Window* window,
                       uint32_t swap_index);
  void submit_and_wait(Window* window, uint32_t swap_index);
  double gpu_ms() const;
  void copy_capture(Image& out, uint32_t width, uint32_t height) const;
};

// Offscreen colour image: the render target, also the copy source for screenshots and the window blit.
void Renderer::Impl::create_target(uint32_t width, uint32_t height) {
  VkDevice dev = ctx->device();
  VkImageCreateInfo ii{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
  ii.imageType = VK_IMAGE_TYPE_2D;
  ii.format = kFormat;
  ii.extent = {width, height, 1};
  ii.mipLevels = 1;
  ii.arrayLayers = 1;
  ii.samples = VK_SAMPLE_COUNT_1_BIT;
  ii.tiling = VK_IMAGE_TILING_OPTIMAL;
  ii.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
  ii.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  VkImage img;
  UT_VK_CHECK(kCreate, vkCreateImage(dev, &ii, nullptr, &img));
  image = DeviceHandle<VkImage>(dev, img, vkDestroyImage);
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(dev, img, &req);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = ctx->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  VkDeviceMemory mem;
  UT_VK_CHECK(kCreate, vkAllocateMemory(dev, &mai, nullptr, &mem));
  image_mem = DeviceHandle<VkDeviceMemory>(dev, mem, vkFreeMemory);
  UT_VK_CHECK(kCreate, vkBindImageMemory(dev, img, mem, 0));

  VkImageViewCreateInfo vi{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
  vi.image = img;
  vi.viewType = VK_IMAGE_VIEW_TYPE_2D;
  vi.format = kFormat;
  vi.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  VkImageView v;
  UT_VK_CHECK(kCreate, vkCreateImageView(dev, &vi, nullptr, &v));
  view = DeviceHandle<VkImageView>(dev, v, vkDestroyImageView);
}

// One subpass and its framebuffer; the image ends in TRANSFER_SRC so a copy or blit can follow without another
// barrier.
void Renderer::Impl::create_pass(uint32_t width, uint32_t height) {
  VkDevice dev = ctx->device();
  VkAttachmentDescription att{};
  att.format = kFormat;
  att.samples = VK_SAMPLE_COUNT_1_BIT;
  att.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
  att.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
  att.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
  att.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
  att.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  att.finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
  VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription sub{};
  sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
  sub.colorAttachmentCount = 1;
  sub.pColorAttachments = &ref;
  VkSubpassDependency deps[2]{};
  deps[0].srcSubpass = VK_SUBPASS_EXTERNAL;  // the previous frame's copy/blit read the image
  deps[0].dstSubpass = 0;
  deps[0].srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
  deps[0].dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  deps[0].srcAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
  deps[0].dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  deps[1].srcSubpass = 0;                    // this frame's copy/blit reads what the pass wrote
  deps[1].dstSubpass = VK_SUBPASS_EXTERNAL;
  deps[1].srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  deps[1].dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
  deps[1].srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  deps[1].dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
  VkRenderPassCreateInfo rpi{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
  rpi.attachmentCount = 1;
  rpi.pAttachments = &att;
  rpi.subpassCount = 1;
  rpi.pSubpasses = &sub;
  rpi.dependencyCount = 2;
  rpi.pDependencies = deps;
  VkRenderPass p;
  UT_VK_CHECK(kCreate, vkCreateRenderPass(dev, &rpi, nullptr, &p));
  pass = DeviceHandle<VkRenderPass>(dev, p, vkDestroyRenderPass);

  VkImageView v = view.get();
  VkFramebufferCreateInfo fbi{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
  fbi.renderPass = p;
  fbi.attachmentCount = 1;
  fbi.pAttachments = &v;
  fbi.width = width;
  fbi.height = height;
  fbi.layers = 1;
  VkFramebuffer f;
  UT_VK_CHECK(kCreate, vkCreateFramebuffer(dev, &fbi, nullptr, &f));
  fb = DeviceHandle<VkFramebuffer>(dev, f, vkDestroyFramebuffer);
}

// Host-visible readback buffer, mapped once (coherent memory where the device has it).
void Renderer::Impl::create_readback(uint32_t width, uint32_t height) {
  VkDevice dev = ctx->device();
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = VkDeviceSize{width} * height * 4;
  bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buf;
  UT_VK_CHECK(kCreate, vkCreateBuffer(dev, &bci, nullptr, &buf));
  readback = DeviceHandle<VkBuffer>(dev, buf, vkDestroyBuffer);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, buf, &req);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  try {
    mai.memoryTypeIndex = ctx->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                                   VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  } catch (const BackendError&) {
    mai.memoryTypeIndex = ctx->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    readback_coherent = false;
  }
  VkDeviceMemory mem;
  UT_VK_CHECK(kCreate, vkAllocateMemory(dev, &mai, nullptr, &mem));
  readback_mem = DeviceHandle<VkDeviceMemory>(dev, mem, vkFreeMemory);
  UT_VK_CHECK(kCreate, vkBindBufferMemory(dev, buf, mem, 0));
  UT_VK_CHECK(kCreate, vkMapMemory(dev, mem, 0, VK_WHOLE_SIZE, 0, &readback_map));
}

// The frame's command buffer and fence; in window mode also the acquire/present semaphores.
void Renderer::Impl::create_commands(bool windowed) {
  VkDevice dev = ctx->device();
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = ctx->queue_family();
  VkCommandPool cp;
  UT_VK_CHECK(kCreate, vkCreateCommandPool(dev, &pci, nullptr, &cp));
  pool = DeviceHandle<VkCommandPool>(dev, cp, vkDestroyCommandPool);
  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = cp;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  UT_VK_CHECK(kCreate, vkAllocateCommandBuffers(dev, &cai, &cmd));
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence f;
  UT_VK_CHECK(kCreate, vkCreateFence(dev, &fci, nullptr, &f));
  fence = DeviceHandle<VkFence>(dev, f, vkDestroyFence);
  if (windowed) {
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VkSemaphore s1, s2;
    UT_VK_CHECK(kCreate, vkCreateSemaphore(dev, &sci, nullptr, &s1));
    acquired = DeviceHandle<VkSemaphore>(dev, s1, vkDestroySemaphore);
    UT_VK_CHECK(kCreate, vkCreateSemaphore(dev, &sci, nullptr, &s2));
    rendered = DeviceHandle<VkSemaphore>(dev, s2, vkDestroySemaphore);
  }
}

// Timestamp queries around the frame's GPU work (where the device has them) and ImGui's descriptor pool.
void Renderer::Impl::create_pools() {
  VkDevice dev = ctx->device();
  if (ctx->timestamps_supported()) {
    VkQueryPoolCreateInfo qpi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qpi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qpi.queryCount = 2;
    VkQueryPool qp;
    UT_VK_CHECK(kCreate, vkCreateQueryPool(dev, &qpi, nullptr, &qp));
    queries = DeviceHandle<VkQueryPool>(dev, qp, vkDestroyQueryPool);
  }
  VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
  dpi.maxSets = 16;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &ps;
  VkDescriptorPool dp;
  UT_VK_CHECK(kCreate, vkCreateDescriptorPool(dev, &dpi, nullptr, &dp));
  descriptors = DeviceHandle<VkDescriptorPool>(dev, dp, vkDestroyDescriptorPool);
}

// Dear ImGui: our own context; the Vulkan backend draws into our render pass. Uploads the font texture.
void Renderer::Impl::init_imgui(const RendererDesc& desc, Window* window) {
  IMGUI_CHECKVERSION();
  imgui = ImGui::CreateContext();
  ImGui::SetCurrentContext(imgui);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // no imgui.ini beside the binary
  io.DisplaySize = ImVec2(static_cast<float>(desc.width), static_cast<float>(desc.height));
  io.FontGlobalScale = desc.font_scale;
  ImGui::StyleColorsDark();
  if (window) {
    window->init_imgui();
    imgui_glfw = true;
  }
  ImGui_ImplVulkan_InitInfo info{};
  info.Instance = ctx->instance();
  info.PhysicalDevice = ctx->physical_device();
  info.Device = ctx->device();
  info.QueueFamily = ctx->queue_family();
  info.Queue = ctx->queue();
  info.DescriptorPool = descriptors.get();
  info.Subpass = 0;
  info.MinImageCount = 2;
  info.ImageCount = 2;
  info.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
  info.CheckVkResultFn = imgui_check;
  g_imgui_vk_error = VK_SUCCESS;
  if (!ImGui_ImplVulkan_Init(&info, pass.get())) throw BackendError("[Renderer::create] ImGui_ImplVulkan_Init failed");
  imgui_vulkan = true;
  ctx->submit_once([](VkCommandBuffer cb) { ImGui_ImplVulkan_CreateFontsTexture(cb); });
  ImGui_ImplVulkan_DestroyFontUploadObjects();
  if (int e = g_imgui_vk_error.exchange(VK_SUCCESS); e != VK_SUCCESS)
    throw_vk_error(kCreate, "ImGui_ImplVulkan (font upload)", static_cast<VkResult>(e));
}

// Records the frame: the render pass with ImGui's draw data, the copy into the readback buffer when capturing,
// the blit to the swapchain image in window mode, timestamps around it all.
void Renderer::Impl::record(const RenderOptions& opt, uint32_t width, uint32_t height, Window* window,
                            uint32_t swap_index) {
  VkCommandBuffer cb = cmd;
  UT_VK_CHECK(kRender, vkResetCommandBuffer(cb, 0));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  UT_VK_CHECK(kRender, vkBeginCommandBuffer(cb, &bi));
  record_commands(cb, opt, width, height, window, swap_index);
  UT_VK_CHECK(kRender, vkEndCommandBuffer(cb));
}

// The frame's commands (into our own command buffer, or into the timeline queue's batch).
void Renderer::Impl::record_commands(VkCommandBuffer cb, const RenderOptions& opt, uint32_t width, uint32_t height,
                                     Window* window, uint32_t swap_index) {
  if (queries) {
    vkCmdResetQueryPool(cb, queries.get(), 0, 2);
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries.get(), 0);
  }
  VkClearValue clear{};
  clear.color = {{opt.clear_rgb[0], opt.clear_rgb[1], opt.clear_rgb[2], 1.0f}};
  VkRenderPassBeginInfo rbi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
  rbi.renderPass = pass.get();
  rbi.framebuffer = fb.get();
  rbi.renderArea = {{0, 0}, {width, height}};
  rbi.clearValueCount = 1;
  rbi.pClearValues = &clear;
  vkCmdBeginRenderPass(cb, &rbi, VK_SUBPASS_CONTENTS_INLINE);
  ImGui_ImplVulkan_RenderDrawData(ImGui::GetDrawData(), cb);
  vkCmdEndRenderPass(cb);
  if (opt.capture) {
    VkBufferImageCopy region{};
    region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    region.imageExtent = {width, height, 1};
    vkCmdCopyImageToBuffer(cb, image.get(), VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, readback.get(), 1, &region);
    VkBufferMemoryBarrier bar{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
    bar.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    bar.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    bar.srcQueueFamilyIndex = bar.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    bar.buffer = readback.get();
    bar.size = VK_WHOLE_SIZE;
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 0, nullptr, 1, &bar, 0,
                         nullptr);
  }
  if (window) window->record_blit(cb, image.get(), width, height, swap_index);
  if (queries) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries.get(), 1);
}

// Submits the frame (after the swapchain image is acquired, in window mode), presents it, and waits for it.
void Renderer::Impl::submit_and_wait(Window* window, uint32_t swap_index) {
  VkDevice dev = ctx->device();
  VkCommandBuffer cb = cmd;
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkSemaphore acq = acquired.get(), ren = rendered.get();
  if (window) {
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &acq;
    si.pWaitDstStageMask = &wait_stage;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &ren;
  }
  VkFence f = fence.get();
  UT_VK_CHECK(kRender, vkResetFences(dev, 1, &f));
  UT_VK_CHECK(kRender, vkQueueSubmit(ctx->queue(), 1, &si, f));
  if (window) window->present(ctx->queue(), swap_index, ren);
  // Our own GPU work only (never a timeline event): one frame in flight keeps the timings per frame.
  UT_VK_CHECK(kRender, vkWaitForFences(dev, 1, &f, VK_TRUE, UINT64_MAX));
  if (int e = g_imgui_vk_error.exchange(VK_SUCCESS); e != VK_SUCCESS)
    throw_vk_error(kRender, "ImGui_ImplVulkan_RenderDrawData", static_cast<VkResult>(e));
}

// The last frame's GPU time from its two timestamps (counters narrower than 64 bits wrap). Needs `queries`.
double Renderer::Impl::gpu_ms() const {
  uint64_t ts[2] = {0, 0};
  UT_VK_CHECK(kRender, vkGetQueryPoolResults(ctx->device(), queries.get(), 0, 2, sizeof ts, ts, sizeof(uint64_t),
                                             VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  const uint32_t bits = ctx->timestamp_valid_bits();
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : ((uint64_t{1} << bits) - 1);
  const uint64_t ticks = ((ts[1] & mask) - (ts[0] & mask)) & mask;
  return static_cast<double>(ticks) * ctx->timestamp_period_ns() / 1e6;
}

// The captured frame's pixels from the readback buffer into `out`.
void Renderer::Impl::copy_capture(Image& out, uint32_t width, uint32_t height) const {
  if (!readback_coherent) {
    VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
    range.memory = readback_mem.get();
    range.size = VK_WHOLE_SIZE;
    UT_VK_CHECK(kRender, vkInvalidateMappedMemoryRanges(ctx->device(), 1, &range));
  }
  out.width = width;
  out.height = height;
  out.rgba.resize(std::size_t{width} * height * 4);
  std::memcpy(out.rgba.data(), readback_map, out.rgba.size());
}

bool Renderer::display_available() {
  const char* x = std::getenv("DISPLAY");
  const char* w = std::getenv("WAYLAND_DISPLAY");
  return (x && *x) || (w && *w);
}

Renderer::Renderer(const RendererDesc& d) : desc_(d), impl_(std::make_unique<Impl>()) {}

Renderer::~Renderer() {
  // Order: GPU idle -> swapchain/surface (need the instance) -> our Vulkan objects, ImGui, instance -> window.
  if (impl_) impl_->idle();
  if (window_) window_->release_vulkan();
  impl_.reset();
  window_.reset();
}

std::unique_ptr<Renderer> Renderer::create(const RendererDesc& desc) {
  if (desc.width < 64 || desc.height < 64 || desc.width > 8192 || desc.height > 8192)
    throw UsageError("[Renderer::create] size " + std::to_string(desc.width) + "x" + std::to_string(desc.height) +
                     " outside 64..8192");
  std::unique_ptr<Renderer> r(new Renderer(desc));
  auto& m = *r->impl_;

  if (desc.queue) {
    // On the timeline: the render queue's device, every submission a command buffer of that queue.
    if (desc.window) throw UsageError("[Renderer::create] a window needs its own device (swapchain); render headless on a queue");
    if (desc.queue->kind() != QueueKind::render)
      throw UsageError("[Renderer::create] queue '" + desc.queue->label() + "' is not a render queue");
    register_record_kernel();
    m.queue = desc.queue;
    Queue* q = desc.queue.get();
    m.ctx = VulkanContext::adopt(q->native_handles(), [q](const std::function<void(VkCommandBuffer)>& record) {
      submit_on(*q, record, "renderer set-up");
    });
    m.frame_recorder = [&m, w = desc.width, h = desc.height](VkCommandBuffer cb) {
      m.record_commands(cb, m.pending, w, h, nullptr, 0);
    };
  } else {
    VulkanContextDesc cd;
    cd.app_name = desc.title;
    if (desc.window) {
      r->window_ = Window::create(desc.title, desc.width, desc.height);  // throws BackendError without a display
      cd.instance_extensions = Window::required_instance_extensions();
      cd.want_swapchain = true;
    }
    m.ctx = VulkanContext::create(cd);
  }
  m.create_target(desc.width, desc.height);
  m.create_pass(desc.width, desc.height);
  m.create_readback(desc.width, desc.height);
  m.create_commands(r->window_ != nullptr);
  if (r->window_) r->window_->create_swapchain(*m.ctx);
  m.create_pools();
  m.init_imgui(desc, r->window_.get());
  return r;
}

FrameTimes Renderer::render(const std::function<void()>& draw, const RenderOptions& opt) {
  auto& m = *impl_;
  if (m.queue) {
    build(draw);
    auto cb = m.queue->make_command_buffer("frame");
    encode(cb, opt);
    cb.commit();
    cb.wait_until_completed();
    return finish(opt);
  }
  const uint64_t t0 = now_ns();
  const uint32_t swap_index = imgui_frame(draw, t0);
  m.record(opt, desc_.width, desc_.height, window_.get(), swap_index);
  m.submit_and_wait(window_.get(), swap_index);
  FrameTimes t;
  if (m.queries) t.gpu_ms = m.gpu_ms();
  if (opt.capture) m.copy_capture(captured_, desc_.width, desc_.height);
  ++frames_;
  t.cpu_ms = static_cast<double>(now_ns() - t0) / 1e6;
  return t;
}

// ImGui's frame (NewFrame, draw, Render) on the calling thread; in window mode after acquiring the swapchain image,
// whose index it returns.
uint32_t Renderer::imgui_frame(const std::function<void()>& draw, uint64_t t0) {
  auto& m = *impl_;
  ImGui::SetCurrentContext(m.imgui);
  ImGuiIO& io = ImGui::GetIO();
  io.DeltaTime = last_frame_ns_ ? static_cast<float>(static_cast<double>(t0 - last_frame_ns_) / 1e9) : 1.0f / 60.0f;
  if (io.DeltaTime <= 0) io.DeltaTime = 1e-4f;
  last_frame_ns_ = t0;
  uint32_t swap_index = 0;
  if (window_) swap_index = window_->acquire(*m.ctx, m.acquired.get());
  ImGui_ImplVulkan_NewFrame();
  if (window_) window_->new_imgui_frame();
  io.DisplaySize = ImVec2(static_cast<float>(desc_.width), static_cast<float>(desc_.height));
  ImGui::NewFrame();
  try {
    draw();
  } catch (...) {
    ImGui::EndFrame();  // leave ImGui between frames, so a later frame starts cleanly
    throw;
  }
  ImGui::Render();
  return swap_index;
}

void Renderer::build(const std::function<void()>& draw) {
  auto& m = *impl_;
  if (!m.queue) throw UsageError("[Renderer::build] only on a timeline queue (RendererDesc::queue); use render()");
  const uint64_t t0 = now_ns();
  imgui_frame(draw, t0);
  m.build_start_ns = t0;
}

void Renderer::encode(CommandBuffer& cb, const RenderOptions& opt) {
  auto& m = *impl_;
  if (!m.queue) throw UsageError("[Renderer::encode] only on a timeline queue (RendererDesc::queue); use render()");
  m.pending = opt;
  cb.dispatch(kRecordKernel, Grid{1}, DispatchArgs::make({}, RecordArgs{&m.frame_recorder}));
}

FrameTimes Renderer::finish(const RenderOptions& opt) {
  auto& m = *impl_;
  if (!m.queue) throw UsageError("[Renderer::finish] only on a timeline queue (RendererDesc::queue); use render()");
  if (int e = g_imgui_vk_error.exchange(VK_SUCCESS); e != VK_SUCCESS)
    throw_vk_error(kRender, "ImGui_ImplVulkan_RenderDrawData", static_cast<VkResult>(e));
  FrameTimes t;
  if (m.queries) t.gpu_ms = m.gpu_ms();
  if (opt.capture) m.copy_capture(captured_, desc_.width, desc_.height);
  ++frames_;
  t.cpu_ms = static_cast<double>(now_ns() - m.build_start_ns) / 1e6;  // build() to here, GPU wait included
  return t;
}

bool Renderer::on_timeline() const noexcept { return impl_->queue != nullptr; }
const QueuePtr& Renderer::queue() const noexcept { return impl_->queue; }

void Renderer::save_png(const std::string& path) const {
  if (captured_.rgba.empty()) throw UsageError("[Renderer::save_png] no frame captured yet (render with capture = true)");
  write_png(path, captured_);
}

void Renderer::poll_events() {
  if (window_) window_->poll_events();
}
void Renderer::make_current() { ImGui::SetCurrentContext(impl_->imgui); }
bool Renderer::window_should_close() const { return window_ && window_->should_close(); }
const std::string& Renderer::device_name() const { return impl_->ctx->device_name(); }
const std::string& Renderer::device_type() const { return impl_->ctx->device_type(); }
bool Renderer::gpu_timestamps() const { return static_cast<bool>(impl_->queries); }

void write_png(const std::string& path, const Image& img) {
  if (img.rgba.size() != std::size_t{img.width} * img.height * 4 || img.width == 0)
    throw UsageError("[render::write_png] image size does not match its pixels");
  const int stride = static_cast<int>(img.width * 4);
  if (!stbi_write_png(path.c_str(), static_cast<int>(img.width), static_cast<int>(img.height), 4, img.rgba.data(), stride))
    throw Error("[render::write_png] cannot write " + path);
}

Image read_png(const std::string& path) {
  int w = 0, h = 0, n = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &n, 4);
  if (!data) throw Error("[render::read_png] cannot read " + path + ": " + stbi_failure_reason());
  Image img;
  img.width = static_cast<uint32_t>(w);
  img.height = static_cast<uint32_t>(h);
  img.rgba.assign(data, data + std::size_t{img.width} * img.height * 4);
  stbi_image_free(data);
  return img;
}

}  // namespace ut::render
