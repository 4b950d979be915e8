// Vulkan context: RAII wrappers for the handles the renderer uses, and one instance + device + graphics queue.
//
//   auto ctx = ut::render::VulkanContext::create({.app_name = "ut"});   // throws ut::BackendError if no device
//   std::printf("%s\n", ctx->device_name().c_str());                     // "llvmpipe (LLVM 15.0.6, 256 bits)"
//   VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
//   VkFence f;
//   UT_VK_CHECK("MyClass::method", vkCreateFence(ctx->device(), &info, nullptr, &f));  // BackendError naming the call
//   ut::render::DeviceHandle<VkFence> fence(ctx->device(), f, vkDestroyFence);        // destroyed with the handle
//
// Contract
// - Every vendor call that returns a VkResult goes through UT_VK_CHECK, which throws ut::BackendError with
//   "[Class::method] vkCall(...) failed: VK_ERROR_..." context.
// - Handles destroy themselves (destructors never throw); they are move-only.
// - create() with no usable device (no ICD, or no graphics queue) throws ut::BackendError with a sentence a
//   person can act on; the process keeps running.
// - A context is used by one thread at a time (the render queue's worker); handing it over between threads
//   needs external ordering (the render queue provides it).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "timeline/queue.h"

namespace ut::render {

const char* vk_result_name(VkResult r) noexcept;
// Throws ut::BackendError("[where] call failed: NAME").
[[noreturn]] void throw_vk_error(const char* where, const char* call, VkResult r);

#define UT_VK_CHECK(where, call)                                                    \
  do {                                                                              \
    const VkResult ut_vk_result_ = (call);                                          \
    if (ut_vk_result_ != VK_SUCCESS) ::ut::render::throw_vk_error(where, #call, ut_vk_result_); \
  } while (0)

// A handle owned together with the VkDevice (or VkInstance) that destroys it.
template <class Parent, class T>
class OwnedHandle {
 public:
  using Destroy = void (*)(Parent, T, const VkAllocationCallbacks*);
  OwnedHandle() = default;
  OwnedHandle(Parent parent, T handle, Destroy destroy) noexcept : parent_(parent), handle_(handle), destroy_(destroy) {}
  ~OwnedHandle() { reset(); }
  OwnedHandle(OwnedHandle&& o) noexcept
      : parent_(o.parent_), handle_(std::exchange(o.handle_, VK_NULL_HANDLE)), destroy_(o.destroy_) {}
  OwnedHandle& operator=(OwnedHandle&& o) noexcept {
    if (this != &o) {
      reset();
      parent_ = o.parent_;
      handle_ = std::exchange(o.handle_, VK_NULL_HANDLE);
      destroy_ = o.destroy_;
    }
    return *this;
  }
  OwnedHandle(const OwnedHandle&) = delete;
  OwnedHandle& operator=(const OwnedHandle&) = delete;

  T get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != VK_NULL_HANDLE; }
  void reset() noexcept {
    if (handle_ != VK_NULL_HANDLE && destroy_) destroy_(parent_, handle_, nullptr);
    handle_ = VK_NULL_HANDLE;
  }

 private:
  Parent parent_ = VK_NULL_HANDLE;
  T handle_ = VK_NULL_HANDLE;
  Destroy destroy_ = nullptr;
};

template <class T>
using DeviceHandle = OwnedHandle<VkDevice, T>;
template <class T>
using InstanceHandle = OwnedHandle<VkInstance, T>;

// The instance and the logical device; destroyed in the right order.
struct VulkanContextDesc {
  std::string app_name = "ut";
  std::vector<std::string> instance_extensions;  // e.g. what glfwGetRequiredInstanceExtensions lists
  bool want_swapchain = false;                    // enable VK_KHR_swapchain on the device (window mode)
  int device_index = -1;                          // -1: prefer a discrete/integrated GPU, else any (lavapipe)
};

class VulkanContext {
 public:
  static std::unique_ptr<VulkanContext> create(const VulkanContextDesc& desc = {});
  // Records `record` into a command buffer that the timeline submits, and returns once it ran on the GPU.
  using Submitter = std::function<void(const std::function<void(VkCommandBuffer)>& record)>;
  // A context over the device of a timeline queue (handles.api == "vulkan"; throws UsageError otherwise): it
  // creates and destroys nothing of the device's, and submit_once() goes through `submit`, because the queue's
  // worker owns the VkQueue (vkQueueSubmit needs it externally synchronized).
  static std::unique_ptr<VulkanContext> adopt(const NativeQueueHandles& handles, Submitter submit);
  ~VulkanContext();
  bool adopted() const noexcept { return static_cast<bool>(submit_); }
  VulkanContext(const VulkanContext&) = delete;
  VulkanContext& operator=(const VulkanContext&) = delete;

  VkInstance instance() const noexcept { return instance_; }
  VkPhysicalDevice physical_device() const noexcept { return physical_; }
  VkDevice device() const noexcept { return device_; }
  VkQueue queue() const noexcept { return queue_; }
  uint32_t queue_family() const noexcept { return family_; }
  const std::string& device_name() const noexcept { return name_; }
  const std::string& device_type() const noexcept { return type_; }     // "cpu", "discrete-gpu", ...
  const std::string& driver_version() const noexcept { return driver_; }
  bool timestamps_supported() const noexcept { return timestamp_bits_ > 0; }
  double timestamp_period_ns() const noexcept { return timestamp_period_ns_; }
  uint32_t timestamp_valid_bits() const noexcept { return timestamp_bits_; }

  // A memory type index matching `type_bits` with all of `props`; throws BackendError if none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags props) const;

  // Records commands into a one-time command buffer, submits them and waits for the queue (set-up only).
  template <class F>
  void submit_once(F&& record) {
    if (submit_) {
      submit_(std::function<void(VkCommandBuffer)>(std::forward<F>(record)));
      return;
    }
    VkCommandBuffer cb = begin_once();
    record(cb);
    end_once(cb);
  }

 private:
  VulkanContext() = default;
  void read_properties(uint32_t family);
  VkCommandBuffer begin_once();
  void end_once(VkCommandBuffer cb);

  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t family_ = 0;
  std::string name_, type_, driver_;
  uint32_t timestamp_bits_ = 0;
  double timestamp_period_ns_ = 1.0;
  VkPhysicalDeviceMemoryProperties mem_props_{};
  DeviceHandle<VkCommandPool> once_pool_;
  Submitter submit_;  // set: adopted (the device belongs to the timeline)
};

}  // namespace ut::render
