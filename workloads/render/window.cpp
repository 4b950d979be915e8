#include "workloads/render/window.h"

#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>

#include <algorithm>

#include "timeline/error.h"
#include "workloads/render/vk_context.h"

namespace ut::render {

std::unique_ptr<Window> Window::create(const std::string& title, uint32_t width, uint32_t height) {
  if (!glfwInit()) {
    const char* msg = nullptr;
    glfwGetError(&msg);
    throw BackendError(std::string("[Window::create] glfwInit failed (no display?): ") + (msg ? msg : "unknown"));
  }
  std::unique_ptr<Window> w(new Window());
  if (!glfwVulkanSupported()) throw BackendError("[Window::create] GLFW found no Vulkan loader/ICD for windows");
  glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
  glfwWindowHint(GLFW_RESIZABLE, GLFW_FALSE);
  w->window_ = glfwCreateWindow(static_cast<int>(width), static_cast<int>(height), title.c_str(), nullptr, nullptr);
  if (!w->window_) throw BackendError("[Window::create] glfwCreateWindow failed");
  w->width_ = width;
  w->height_ = height;
  return w;
}

std::vector<std::string> Window::required_instance_extensions() {
  uint32_t n = 0;
  const char** names = glfwGetRequiredInstanceExtensions(&n);
  if (!names) throw BackendError("[Window::required_instance_extensions] GLFW cannot present with Vulkan here");
  return {names, names + n};
}

Window::~Window() {
  release_vulkan();
  if (window_) glfwDestroyWindow(window_);
  glfwTerminate();
}

void Window::release_vulkan() noexcept {
  if (device_ && swapchain_) vkDestroySwapchainKHR(device_, swapchain_, nullptr);
  if (instance_ && surface_) vkDestroySurfaceKHR(instance_, surface_, nullptr);
  swapchain_ = VK_NULL_HANDLE;
  surface_ = VK_NULL_HANDLE;
}

void Window::create_swapchain(VulkanContext& ctx) {
  instance_ = ctx.instance();
  device_ = ctx.device();
  UT_VK_CHECK("Window::create_swapchain", glfwCreateWindowSurface(instance_, window_, nullptr, &surface_));
  VkBool32 ok = VK_FALSE;
  UT_VK_CHECK("Window::create_swapchain",
              vkGetPhysicalDeviceSurfaceSupportKHR(ctx.physical_device(), ctx.queue_family(), surface_, &ok));
  if (!ok) throw BackendError("[Window::create_swapchain] the graphics queue cannot present to this window");
  build_swapchain(ctx);
}

void Window::build_swapchain(VulkanContext& ctx) {
  constexpr const char* kWhere = "Window::build_swapchain";
  VkPhysicalDevice pd = ctx.physical_device();
  VkSurfaceCapabilitiesKHR caps;
  UT_VK_CHECK(kWhere, vkGetPhysicalDeviceSurfaceCapabilitiesKHR(pd, surface_, &caps));
  if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT))
    throw BackendError("[Window::build_swapchain] swapchain images cannot be blit targets on this device");
  uint32_t n = 0;
  UT_VK_CHECK(kWhere, vkGetPhysicalDeviceSurfaceFormatsKHR(pd, surface_, &n, nullptr));
  std::vector<VkSurfaceFormatKHR> formats(n);
  UT_VK_CHECK(kWhere, vkGetPhysicalDeviceSurfaceFormatsKHR(pd, surface_, &n, formats.data()));
  if (formats.empty()) throw BackendError("[Window::build_swapchain] the surface lists no formats");
  VkSurfaceFormatKHR fmt = formats[0];
  for (auto f : formats)
    if (f.format == VK_FORMAT_B8G8R8A8_UNORM || f.format == VK_FORMAT_R8G8B8A8_UNORM) fmt = f;
  UT_VK_CHECK(kWhere, vkGetPhysicalDeviceSurfacePresentModesKHR(pd, surface_, &n, nullptr));
  std::vector<VkPresentModeKHR> modes(n);
  UT_VK_CHECK(kWhere, vkGetPhysicalDeviceSurfacePresentModesKHR(pd, surface_, &n, modes.data()));
  // The FrameLoop paces frames itself; MAILBOX/IMMEDIATE keep vsync from pacing them a second time.
  VkPresentModeKHR mode = VK_PRESENT_MODE_FIFO_KHR;
  for (auto want : {VK_PRESENT_MODE_MAILBOX_KHR, VK_PRESENT_MODE_IMMEDIATE_KHR})
    if (std::find(modes.begin(), modes.end(), want) != modes.end()) {
      mode = want;
      break;
    }
  extent_ = caps.currentExtent.width != UINT32_MAX ? caps.currentExtent : VkExtent2D{width_, height_};
  VkSwapchainCreateInfoKHR sci{VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR};
  sci.surface = surface_;
  sci.minImageCount = std::max(caps.minImageCount, 2u);
  if (caps.maxImageCount) sci.minImageCount = std::min(sci.minImageCount, caps.maxImageCount);
  sci.imageFormat = fmt.format;
  sci.imageColorSpace = fmt.colorSpace;
  sci.imageExtent = extent_;
  sci.imageArrayLayers = 1;
  sci.imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT;
  sci.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
  sci.preTransform = caps.currentTransform;
  sci.compositeAlpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
  sci.presentMode = mode;
  sci.clipped = VK_TRUE;
  sci.oldSwapchain = swapchain_;
  VkSwapchainKHR sc;
  UT_VK_CHECK(kWhere, vkCreateSwapchainKHR(device_, &sci, nullptr, &sc));
  if (swapchain_) vkDestroySwapchainKHR(device_, swapchain_, nullptr);
  swapchain_ = sc;
  UT_VK_CHECK(kWhere, vkGetSwapchainImagesKHR(device_, swapchain_, &n, nullptr));
  images_.resize(n);
  UT_VK_CHECK(kWhere, vkGetSwapchainImagesKHR(device_, swapchain_, &n, images_.data()));
  out_of_date_ = false;
}

void Window::init_imgui() {
  if (!ImGui_ImplGlfw_InitForVulkan(window_, true)) throw BackendError("[Window::init_imgui] ImGui_ImplGlfw_Init failed");
}
void Window::shutdown_imgui() { ImGui_ImplGlfw_Shutdown(); }
void Window::new_imgui_frame() { ImGui_ImplGlfw_NewFrame(); }
void Window::poll_events() { glfwPollEvents(); }
bool Window::should_close() const { return glfwWindowShouldClose(window_); }

uint32_t Window::acquire(VulkanContext& ctx, VkSemaphore signal) {
  if (out_of_date_) {
    vkDeviceWaitIdle(device_);
    build_swapchain(ctx);
  }
  uint32_t index = 0;
  VkResult r = vkAcquireNextImageKHR(device_, swapchain_, UINT64_MAX, signal, VK_NULL_HANDLE, &index);
  if (r == VK_ERROR_OUT_OF_DATE_KHR) {
    vkDeviceWaitIdle(device_);
    build_swapchain(ctx);
    r = vkAcquireNextImageKHR(device_, swapchain_, UINT64_MAX, signal, VK_NULL_HANDLE, &index);
  }
  if (r != VK_SUCCESS && r != VK_SUBOPTIMAL_KHR) throw_vk_error("Window::acquire", "vkAcquireNextImageKHR", r);
  return index;
}

void Window::record_blit(VkCommandBuffer cb, VkImage src, uint32_t width, uint32_t height, uint32_t index) {
  VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
  b.srcAccessMask = 0;
  b.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  b.oldLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  b.newLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
  b.image = images_[index];
  b.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 0, nullptr, 1, &b);
  VkImageBlit blit{};
  blit.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  blit.srcOffsets[1] = {static_cast<int32_t>(width), static_cast<int32_t>(height), 1};
  blit.dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  blit.dstOffsets[1] = {static_cast<int32_t>(extent_.width), static_cast<int32_t>(extent_.height), 1};
  vkCmdBlitImage(cb, src, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, images_[index], VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                 1, &blit, VK_FILTER_LINEAR);
  b.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  b.dstAccessMask = 0;
  b.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  b.newLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, nullptr, 0,
                       nullptr, 1, &b);
}

void Window::present(VkQueue queue, uint32_t index, VkSemaphore wait) {
  VkPresentInfoKHR pi{VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
  pi.waitSemaphoreCount = 1;
  pi.pWaitSemaphores = &wait;
  pi.swapchainCount = 1;
  pi.pSwapchains = &swapchain_;
  pi.pImageIndices = &index;
  const VkResult r = vkQueuePresentKHR(queue, &pi);
  if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) {
    out_of_date_ = true;
  } else if (r != VK_SUCCESS) {
    throw_vk_error("Window::present", "vkQueuePresentKHR", r);
  }
}

}  // namespace ut::render
