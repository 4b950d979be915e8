// Window: a GLFW window with a Vulkan swapchain that the Renderer blits its offscreen frame into.
//
//   auto w = ut::render::Window::create("Unified Timeline", 1280, 800);   // throws BackendError: no display
//   ctx = VulkanContext::create({.instance_extensions = Window::required_instance_extensions(),
//                                .want_swapchain = true});
//   w->create_swapchain(*ctx);
//   uint32_t i = w->acquire(*ctx, acquired);  ...  w->record_blit(cb, image, 1280, 800, i);
//   w->present(queue, i, rendered);
//
// Internal to the Renderer (which owns the order of creation and destruction); one thread at a time. The
// window is not resizable: the offscreen image keeps the window's size.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct GLFWwindow;

namespace ut::render {

class VulkanContext;

class Window {
 public:
  static std::unique_ptr<Window> create(const std::string& title, uint32_t width, uint32_t height);
  static std::vector<std::string> required_instance_extensions();
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  void create_swapchain(VulkanContext& ctx);
  // Destroys the swapchain and surface; the Renderer calls it before the Vulkan instance goes.
  void release_vulkan() noexcept;
  void init_imgui();
  static void shutdown_imgui();
  void new_imgui_frame();

  void poll_events();
  bool should_close() const;
  uint32_t acquire(VulkanContext& ctx, VkSemaphore signal);
  void record_blit(VkCommandBuffer cb, VkImage src, uint32_t width, uint32_t height, uint32_t index);
  void present(VkQueue queue, uint32_t index, VkSemaphore wait);

 private:
  Window() = default;
  void build_swapchain(VulkanContext& ctx);

  GLFWwindow* window_ = nullptr;
  uint32_t width_ = 0, height_ = 0;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkSurfaceKHR surface_ = VK_NULL_HANDLE;
  VkSwapchainKHR swapchain_ = VK_NULL_HANDLE;
  VkExtent2D extent_{};
  std::vector<VkImage> images_;
  bool out_of_date_ = false;
};

}  // namespace ut::render
