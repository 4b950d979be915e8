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

}  // namespace

struct Renderer::Impl {
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

  ~Impl() {
    if (ctx && ctx->device()) vkDeviceWaitIdle(ctx->device());
    if (imgui) {
      ImGui::SetCurrentContext(imgui);
      if (imgui_vulkan) ImGui_ImplVulkan_Shutdown();
      if (imgui_glfw) Window::shutdown_imgui();
      ImGui::DestroyContext(imgui);
    }
    if (readback_map) vkUnmapMemory(ctx->device(), readback_mem.get());
  }
};

bool Renderer::display_available() {
  const char* x = std::getenv("DISPLAY");
  const char* w = std::getenv("WAYLAND_DISPLAY");
  return (x && *x) || (w && *w);
}

Renderer::Renderer(const RendererDesc& d) : desc_(d), impl_(std::make_unique<Impl>()) {}

Renderer::~Renderer() {
  // Order: GPU idle -> swapchain/surface (need the instance) -> our Vulkan objects, ImGui, instance -> window.
  if (impl_ && impl_->ctx && impl_->ctx->device()) vkDeviceWaitIdle(impl_->ctx->device());
  if (window_) window_->release_vulkan();
  impl_.reset();
  window_.reset();
}

std::unique_ptr<Renderer> Renderer::create(const RendererDesc& desc) {
  constexpr const char* kWhere = "Renderer::create";
  if (desc.width < 64 || desc.height < 64 || desc.width > 8192 || desc.height > 8192)
    throw UsageError("[Renderer::create] size " + std::to_string(desc.width) + "x" + std::to_string(desc.height) +
                     " outside 64..8192");
  std::unique_ptr<Renderer> r(new Renderer(desc));
  auto& m = *r->impl_;

  VulkanContextDesc cd;
  cd.app_name = desc.title;
  if (desc.window) {
    r->window_ = Window::create(desc.title, desc.width, desc.height);  // throws BackendError without a display
    cd.instance_extensions = Window::required_instance_extensions();
    cd.want_swapchain = true;
  }
  m.ctx = VulkanContext::create(cd);
  VkDevice dev = m.ctx->device();

  // Offscreen colour image: the render target, also the copy source for screenshots and the window blit.
  VkImageCreateInfo ii{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
  ii.imageType = VK_IMAGE_TYPE_2D;
  ii.format = kFormat;
  ii.extent = {desc.width, desc.height, 1};
  ii.mipLevels = 1;
  ii.arrayLayers = 1;
  ii.samples = VK_SAMPLE_COUNT_1_BIT;
  ii.tiling = VK_IMAGE_TILING_OPTIMAL;
  ii.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
  ii.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  VkImage img;
  UT_VK_CHECK(kWhere, vkCreateImage(dev, &ii, nullptr, &img));
  m.image = DeviceHandle<VkImage>(dev, img, vkDestroyImage);
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(dev, img, &req);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = m.ctx->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  VkDeviceMemory mem;
  UT_VK_CHECK(kWhere, vkAllocateMemory(dev, &mai, nullptr, &mem));
  m.image_mem = DeviceHandle<VkDeviceMemory>(dev, mem, vkFreeMemory);
  UT_VK_CHECK(kWhere, vkBindImageMemory(dev, img, mem, 0));

  VkImageViewCreateInfo vi{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
  vi.image = img;
  vi.viewType = VK_IMAGE_VIEW_TYPE_2D;
  vi.format = kFormat;
  vi.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  VkImageView view;
  UT_VK_CHECK(kWhere, vkCreateImageView(dev, &vi, nullptr, &view));
  m.view = DeviceHandle<VkImageView>(dev, view, vkDestroyImageView);

  // One subpass; the image ends in TRANSFER_SRC so a copy or blit can follow without another barrier.
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
  VkRenderPass pass;
  UT_VK_CHECK(kWhere, vkCreateRenderPass(dev, &rpi, nullptr, &pass));
  m.pass = DeviceHandle<VkRenderPass>(dev, pass, vkDestroyRenderPass);

  VkFramebufferCreateInfo fbi{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
  fbi.renderPass = pass;
  fbi.attachmentCount = 1;
  fbi.pAttachments = &view;
  fbi.width = desc.width;
  fbi.height = desc.height;
  fbi.layers = 1;
  VkFramebuffer fb;
  UT_VK_CHECK(kWhere, vkCreateFramebuffer(dev, &fbi, nullptr, &fb));
  m.fb = DeviceHandle<VkFramebuffer>(dev, fb, vkDestroyFramebuffer);

  // Host-visible readback buffer, mapped once.
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = VkDeviceSize{desc.width} * desc.height * 4;
  bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buf;
  UT_VK_CHECK(kWhere, vkCreateBuffer(dev, &bci, nullptr, &buf));
  m.readback = DeviceHandle<VkBuffer>(dev, buf, vkDestroyBuffer);
  vkGetBufferMemoryRequirements(dev, buf, &req);
  mai.allocationSize = req.size;
  try {
    mai.memoryTypeIndex = m.ctx->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  } catch (const BackendError&) {
    mai.memoryTypeIndex = m.ctx->memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    m.readback_coherent = false;
  }
  UT_VK_CHECK(kWhere, vkAllocateMemory(dev, &mai, nullptr, &mem));
  m.readback_mem = DeviceHandle<VkDeviceMemory>(dev, mem, vkFreeMemory);
  UT_VK_CHECK(kWhere, vkBindBufferMemory(dev, buf, mem, 0));
  UT_VK_CHECK(kWhere, vkMapMemory(dev, mem, 0, VK_WHOLE_SIZE, 0, &m.readback_map));

  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = m.ctx->queue_family();
  VkCommandPool pool;
  UT_VK_CHECK(kWhere, vkCreateCommandPool(dev, &pci, nullptr, &pool));
  m.pool = DeviceHandle<VkCommandPool>(dev, pool, vkDestroyCommandPool);
  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = pool;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  UT_VK_CHECK(kWhere, vkAllocateCommandBuffers(dev, &cai, &m.cmd));
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  UT_VK_CHECK(kWhere, vkCreateFence(dev, &fci, nullptr, &fence));
  m.fence = DeviceHandle<VkFence>(dev, fence, vkDestroyFence);
  if (r->window_) {
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VkSemaphore s1, s2;
    UT_VK_CHECK(kWhere, vkCreateSemaphore(dev, &sci, nullptr, &s1));
    m.acquired = DeviceHandle<VkSemaphore>(dev, s1, vkDestroySemaphore);
    UT_VK_CHECK(kWhere, vkCreateSemaphore(dev, &sci, nullptr, &s2));
    m.rendered = DeviceHandle<VkSemaphore>(dev, s2, vkDestroySemaphore);
    r->window_->create_swapchain(*m.ctx);
  }
  if (m.ctx->timestamps_supported()) {
    VkQueryPoolCreateInfo qpi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qpi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qpi.queryCount = 2;
    VkQueryPool qp;
    UT_VK_CHECK(kWhere, vkCreateQueryPool(dev, &qpi, nullptr, &qp));
    m.queries = DeviceHandle<VkQueryPool>(dev, qp, vkDestroyQueryPool);
  }
  VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
  dpi.maxSets = 16;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &ps;
  VkDescriptorPool dp;
  UT_VK_CHECK(kWhere, vkCreateDescriptorPool(dev, &dpi, nullptr, &dp));
  m.descriptors = DeviceHandle<VkDescriptorPool>(dev, dp, vkDestroyDescriptorPool);

  // Dear ImGui: our own context; the Vulkan backend draws into our render pass.
  IMGUI_CHECKVERSION();
  m.imgui = ImGui::CreateContext();
  ImGui::SetCurrentContext(m.imgui);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // no imgui.ini beside the binary
  io.DisplaySize = ImVec2(static_cast<float>(desc.width), static_cast<float>(desc.height));
  io.FontGlobalScale = desc.font_scale;
  ImGui::StyleColorsDark();
  if (r->window_) {
    r->window_->init_imgui();
    m.imgui_glfw = true;
  }
  ImGui_ImplVulkan_InitInfo info{};
  info.Instance = m.ctx->instance();
  info.PhysicalDevice = m.ctx->physical_device();
  info.Device = dev;
  info.QueueFamily = m.ctx->queue_family();
  info.Queue = m.ctx->queue();
  info.DescriptorPool = dp;
  info.Subpass = 0;
  info.MinImageCount = 2;
  info.ImageCount = 2;
  info.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
  info.CheckVkResultFn = imgui_check;
  g_imgui_vk_error = VK_SUCCESS;
  if (!ImGui_ImplVulkan_Init(&info, pass)) throw BackendError("[Renderer::create] ImGui_ImplVulkan_Init failed");
  m.imgui_vulkan = true;
  m.ctx->submit_once([](VkCommandBuffer cb) { ImGui_ImplVulkan_CreateFontsTexture(cb); });
  ImGui_ImplVulkan_DestroyFontUploadObjects();
  if (int e = g_imgui_vk_error.exchange(VK_SUCCESS); e != VK_SUCCESS)
    throw_vk_error(kWhere, "ImGui_ImplVulkan (font upload)", static_cast<VkResult>(e));
  return r;
}

FrameTimes Renderer::render(const std::function<void()>& draw, const RenderOptions& opt) {
  constexpr const char* kWhere = "Renderer::render";
  auto& m = *impl_;
  const uint64_t t0 = now_ns();
  VkDevice dev = m.ctx->device();
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
    ImGui::EndFrame();  // leave ImGui between frames, so a later render() starts cleanly
    throw;
  }
  ImGui::Render();

  VkCommandBuffer cb = m.cmd;
  UT_VK_CHECK(kWhere, vkResetCommandBuffer(cb, 0));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  UT_VK_CHECK(kWhere, vkBeginCommandBuffer(cb, &bi));
  if (m.queries) {
    vkCmdResetQueryPool(cb, m.queries.get(), 0, 2);
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, m.queries.get(), 0);
  }
  VkClearValue clear{};
  clear.color = {{opt.clear_rgb[0], opt.clear_rgb[1], opt.clear_rgb[2], 1.0f}};
  VkRenderPassBeginInfo rbi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
  rbi.renderPass = m.pass.get();
  rbi.framebuffer = m.fb.get();
  rbi.renderArea = {{0, 0}, {desc_.width, desc_.height}};
  rbi.clearValueCount = 1;
  rbi.pClearValues = &clear;
  vkCmdBeginRenderPass(cb, &rbi, VK_SUBPASS_CONTENTS_INLINE);
  ImGui_ImplVulkan_RenderDrawData(ImGui::GetDrawData(), cb);
  vkCmdEndRenderPass(cb);
  if (opt.capture) {
    VkBufferImageCopy region{};
    region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
    region.imageExtent = {desc_.width, desc_.height, 1};
    vkCmdCopyImageToBuffer(cb, m.image.get(), VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, m.readback.get(), 1, &region);
    VkBufferMemoryBarrier bar{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
    bar.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    bar.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    bar.srcQueueFamilyIndex = bar.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    bar.buffer = m.readback.get();
    bar.size = VK_WHOLE_SIZE;
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 0, nullptr, 1, &bar, 0,
                         nullptr);
  }
  if (window_) window_->record_blit(cb, m.image.get(), desc_.width, desc_.height, swap_index);
  if (m.queries) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, m.queries.get(), 1);
  UT_VK_CHECK(kWhere, vkEndCommandBuffer(cb));

  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkSemaphore acquired = m.acquired.get(), rendered = m.rendered.get();
  if (window_) {
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &acquired;
    si.pWaitDstStageMask = &wait_stage;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &rendered;
  }
  VkFence fence = m.fence.get();
  UT_VK_CHECK(kWhere, vkResetFences(dev, 1, &fence));
  UT_VK_CHECK(kWhere, vkQueueSubmit(m.ctx->queue(), 1, &si, fence));
  if (window_) window_->present(m.ctx->queue(), swap_index, rendered);
  // Our own GPU work only (never a timeline event): one frame in flight keeps the timings per frame.
  UT_VK_CHECK(kWhere, vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX));
  if (int e = g_imgui_vk_error.exchange(VK_SUCCESS); e != VK_SUCCESS)
    throw_vk_error(kWhere, "ImGui_ImplVulkan_RenderDrawData", static_cast<VkResult>(e));

  FrameTimes t;
  if (m.queries) {
    uint64_t ts[2] = {0, 0};
    UT_VK_CHECK(kWhere, vkGetQueryPoolResults(dev, m.queries.get(), 0, 2, sizeof ts, ts, sizeof(uint64_t),
                                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    const uint32_t bits = m.ctx->timestamp_valid_bits();
    const uint64_t mask = bits >= 64 ? ~uint64_t{0} : ((uint64_t{1} << bits) - 1);
    const uint64_t ticks = ((ts[1] & mask) - (ts[0] & mask)) & mask;
    t.gpu_ms = static_cast<double>(ticks) * m.ctx->timestamp_period_ns() / 1e6;
  }
  if (opt.capture) {
    if (!m.readback_coherent) {
      VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
      range.memory = m.readback_mem.get();
      range.size = VK_WHOLE_SIZE;
      UT_VK_CHECK(kWhere, vkInvalidateMappedMemoryRanges(dev, 1, &range));
    }
    captured_.width = desc_.width;
    captured_.height = desc_.height;
    captured_.rgba.resize(std::size_t{desc_.width} * desc_.height * 4);
    std::memcpy(captured_.rgba.data(), m.readback_map, captured_.rgba.size());
  }
  ++frames_;
  t.cpu_ms = static_cast<double>(now_ns() - t0) / 1e6;
  return t;
}

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
