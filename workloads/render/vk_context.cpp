#include "workloads/render/vk_context.h"

#include <cstdlib>
#include <cstring>

#include "timeline/error.h"

namespace ut::render {

const char* vk_result_name(VkResult r) noexcept {
  switch (r) {
#define UT_VK_CASE(x) \
  case x:             \
    return #x;
    UT_VK_CASE(VK_SUCCESS)
    UT_VK_CASE(VK_NOT_READY)
    UT_VK_CASE(VK_TIMEOUT)
    UT_VK_CASE(VK_INCOMPLETE)
    UT_VK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    UT_VK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    UT_VK_CASE(VK_ERROR_INITIALIZATION_FAILED)
    UT_VK_CASE(VK_ERROR_DEVICE_LOST)
    UT_VK_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    UT_VK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    UT_VK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    UT_VK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    UT_VK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    UT_VK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    UT_VK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    UT_VK_CASE(VK_ERROR_SURFACE_LOST_KHR)
    UT_VK_CASE(VK_ERROR_NATIVE_WINDOW_IN_USE_KHR)
    UT_VK_CASE(VK_SUBOPTIMAL_KHR)
    UT_VK_CASE(VK_ERROR_OUT_OF_DATE_KHR)
#undef UT_VK_CASE
    default:
      return "VK_ERROR_(unknown)";
  }
}

void throw_vk_error(const char* where, const char* call, VkResult r) {
  std::string call_name(call);
  if (auto p = call_name.find('('); p != std::string::npos) call_name = call_name.substr(0, p) + "(...)";
  throw BackendError("[" + std::string(where) + "] " + call_name + " failed: " + vk_result_name(r) + " (" +
                     std::to_string(static_cast<int>(r)) + ")");
}

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string(fallback);
}

std::string no_device_hint() {
  return " — no usable Vulkan driver (VK_ICD_FILENAMES=" + env_or("VK_ICD_FILENAMES", "<unset>") +
         ", VK_DRIVER_FILES=" + env_or("VK_DRIVER_FILES", "<unset>") +
         "). Install mesa-vulkan-drivers (lavapipe) or a GPU driver; the engine runs on without the UI.";
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

}  // namespace

std::unique_ptr<VulkanContext> VulkanContext::create(const VulkanContextDesc& desc) {
  constexpr const char* kWhere = "VulkanContext::create";
  std::unique_ptr<VulkanContext> ctx(new VulkanContext());

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = desc.app_name.c_str();
  app.pEngineName = "Unified Timeline";
  app.apiVersion = VK_API_VERSION_1_1;
  std::vector<const char*> exts;
  for (const auto& e : desc.instance_extensions) exts.push_back(e.c_str());
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  ici.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ici.ppEnabledExtensionNames = exts.data();
  if (VkResult r = vkCreateInstance(&ici, nullptr, &ctx->instance_); r != VK_SUCCESS) {
    ctx->instance_ = VK_NULL_HANDLE;
    throw BackendError(std::string("[") + kWhere + "] vkCreateInstance failed: " + vk_result_name(r) + no_device_hint());
  }

  uint32_t n = 0;
  UT_VK_CHECK(kWhere, vkEnumeratePhysicalDevices(ctx->instance_, &n, nullptr));
  std::vector<VkPhysicalDevice> devs(n);
  if (n) UT_VK_CHECK(kWhere, vkEnumeratePhysicalDevices(ctx->instance_, &n, devs.data()));
  if (devs.empty()) throw BackendError(std::string("[") + kWhere + "] no Vulkan physical device" + no_device_hint());

  // Pick: the requested index, else the best-ranked device type that has a graphics queue.
  int best = -1, best_rank = 99;
  uint32_t best_family = 0;
  for (std::size_t i = 0; i < devs.size(); ++i) {
    if (desc.device_index >= 0 && static_cast<int>(i) != desc.device_index) continue;
    uint32_t nf = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(devs[i], &nf, nullptr);
    std::vector<VkQueueFamilyProperties> fams(nf);
    vkGetPhysicalDeviceQueueFamilyProperties(devs[i], &nf, fams.data());
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devs[i], &p);
    for (uint32_t f = 0; f < nf; ++f) {
      if (!(fams[f].queueFlags & VK_QUEUE_GRAPHICS_BIT)) continue;
      if (type_rank(p.deviceType) < best_rank) {
        best = static_cast<int>(i);
        best_rank = type_rank(p.deviceType);
        best_family = f;
        ctx->timestamp_bits_ = fams[f].timestampValidBits;
      }
      break;
    }
  }
  if (best < 0) throw BackendError(std::string("[") + kWhere + "] no Vulkan device with a graphics queue" + no_device_hint());
  ctx->physical_ = devs[static_cast<std::size_t>(best)];
  ctx->read_properties(best_family);

  const float prio = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = ctx->family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;
  const char* dev_exts[] = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = desc.want_swapchain ? 1u : 0u;
  dci.ppEnabledExtensionNames = desc.want_swapchain ? dev_exts : nullptr;
  UT_VK_CHECK(kWhere, vkCreateDevice(ctx->physical_, &dci, nullptr, &ctx->device_));
  vkGetDeviceQueue(ctx->device_, ctx->family_, 0, &ctx->queue_);

  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = ctx->family_;
  VkCommandPool pool;
  UT_VK_CHECK(kWhere, vkCreateCommandPool(ctx->device_, &pci, nullptr, &pool));
  ctx->once_pool_ = DeviceHandle<VkCommandPool>(ctx->device_, pool, vkDestroyCommandPool);
  return ctx;
}

void VulkanContext::read_properties(uint32_t family) {
  family_ = family;
  uint32_t nf = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nf, nullptr);
  std::vector<VkQueueFamilyProperties> fams(nf);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nf, fams.data());
  timestamp_bits_ = family < nf ? fams[family].timestampValidBits : 0;
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(physical_, &props);
  name_ = props.deviceName;
  type_ = type_name(props.deviceType);
  char ver[16];
  std::snprintf(ver, sizeof ver, "%x", props.driverVersion);
  driver_ = "api " + std::to_string(VK_API_VERSION_MAJOR(props.apiVersion)) + "." +
            std::to_string(VK_API_VERSION_MINOR(props.apiVersion)) + "." +
            std::to_string(VK_API_VERSION_PATCH(props.apiVersion)) + ", driver 0x" + ver;
  timestamp_period_ns_ = props.limits.timestampPeriod;
  if (!props.limits.timestampComputeAndGraphics) timestamp_bits_ = 0;
  vkGetPhysicalDeviceMemoryProperties(physical_, &mem_props_);
}

std::unique_ptr<VulkanContext> VulkanContext::adopt(const NativeQueueHandles& h, Submitter submit) {
  if (h.api != "vulkan" || !h.device || !h.queue)
    throw UsageError("[VulkanContext::adopt] not a Vulkan queue (its backend gives no Vulkan handles)");
  if (!submit) throw UsageError("[VulkanContext::adopt] a submit function is required");
  std::unique_ptr<VulkanContext> ctx(new VulkanContext());
  ctx->instance_ = static_cast<VkInstance>(h.instance);
  ctx->physical_ = static_cast<VkPhysicalDevice>(h.physical_device);
  ctx->device_ = static_cast<VkDevice>(h.device);
  ctx->queue_ = static_cast<VkQueue>(h.queue);
  ctx->submit_ = std::move(submit);
  ctx->read_properties(h.family);
  return ctx;
}

VulkanContext::~VulkanContext() {
  if (submit_) return;  // adopted: the timeline's device, not ours
  if (device_) vkDeviceWaitIdle(device_);
  once_pool_.reset();
  if (device_) vkDestroyDevice(device_, nullptr);
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

uint32_t VulkanContext::memory_type(uint32_t type_bits, VkMemoryPropertyFlags props) const {
  for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (mem_props_.memoryTypes[i].propertyFlags & props) == props) return i;
  throw BackendError("[VulkanContext::memory_type] no memory type with flags " + std::to_string(props) + " in mask " +
                     std::to_string(type_bits));
}

VkCommandBuffer VulkanContext::begin_once() {
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = once_pool_.get();
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cb;
  UT_VK_CHECK("VulkanContext::submit_once", vkAllocateCommandBuffers(device_, &ai, &cb));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  UT_VK_CHECK("VulkanContext::submit_once", vkBeginCommandBuffer(cb, &bi));
  return cb;
}

void VulkanContext::end_once(VkCommandBuffer cb) {
  struct Free {
    VkDevice d;
    VkCommandPool p;
    VkCommandBuffer c;
    ~Free() { vkFreeCommandBuffers(d, p, 1, &c); }
  } guard{device_, once_pool_.get(), cb};
  UT_VK_CHECK("VulkanContext::submit_once", vkEndCommandBuffer(cb));
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  UT_VK_CHECK("VulkanContext::submit_once", vkQueueSubmit(queue_, 1, &si, VK_NULL_HANDLE));
  UT_VK_CHECK("VulkanContext::submit_once", vkQueueWaitIdle(queue_));
}

}  // namespace ut::render
