// The Vulkan loader, opened at run time (binaries start, and say why, where libvulkan.so.1 is missing), the
// function table, error texts, the instance (optionally with the validation layer) and the choice of devices.
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backends/vulkan/internal.h"
#include "timeline/error.h"

namespace ut::vulkan::detail {

PFN_vkGetInstanceProcAddr loader(std::string* why) {
  struct Loaded {
    PFN_vkGetInstanceProcAddr gipa = nullptr;
    std::string error;
  };
  // Opened once and never closed: drivers keep threads and atexit handlers that outlive any device.
  static const Loaded loaded = [] {
    Loaded l;
    void* lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      l.error = std::string("no Vulkan loader (libvulkan.so.1: ") + (e ? e : "not found") +
                "; install libvulkan1 and a driver, e.g. mesa-vulkan-drivers for lavapipe)";
      return l;
    }
    l.gipa = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
    if (l.gipa == nullptr) l.error = "libvulkan.so.1 has no vkGetInstanceProcAddr";
    return l;
  }();
  if (why != nullptr) *why = loaded.error;
  return loaded.gipa;
}

void load_global(Fns& f, PFN_vkGetInstanceProcAddr gipa) {
#define UT_VK_LOAD(fn) f.fn = reinterpret_cast<PFN_##fn>(gipa(VK_NULL_HANDLE, #fn));
  UT_VK_GLOBAL_FNS(UT_VK_LOAD)
#undef UT_VK_LOAD
}

void load_instance(Fns& f, PFN_vkGetInstanceProcAddr gipa, VkInstance instance) {
#define UT_VK_LOAD(fn) f.fn = reinterpret_cast<PFN_##fn>(gipa(instance, #fn));
  UT_VK_INSTANCE_FNS(UT_VK_LOAD)
#undef UT_VK_LOAD
}

void load_device(Fns& f, VkDevice device) {
#define UT_VK_LOAD(fn) f.fn = reinterpret_cast<PFN_##fn>(f.vkGetDeviceProcAddr(device, #fn));
  UT_VK_DEVICE_FNS(UT_VK_LOAD)
#undef UT_VK_LOAD
}

const char* result_name(VkResult r) noexcept {
  switch (r) {
#define UT_VK_CASE(x) case x: return #x;
    UT_VK_CASE(VK_SUCCESS) UT_VK_CASE(VK_NOT_READY) UT_VK_CASE(VK_TIMEOUT) UT_VK_CASE(VK_EVENT_SET)
    UT_VK_CASE(VK_EVENT_RESET) UT_VK_CASE(VK_INCOMPLETE) UT_VK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    UT_VK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY) UT_VK_CASE(VK_ERROR_INITIALIZATION_FAILED)
    UT_VK_CASE(VK_ERROR_DEVICE_LOST) UT_VK_CASE(VK_ERROR_MEMORY_MAP_FAILED) UT_VK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    UT_VK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT) UT_VK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    UT_VK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER) UT_VK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    UT_VK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED) UT_VK_CASE(VK_ERROR_FRAGMENTED_POOL) UT_VK_CASE(VK_ERROR_UNKNOWN)
    UT_VK_CASE(VK_ERROR_OUT_OF_POOL_MEMORY) UT_VK_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    UT_VK_CASE(VK_ERROR_FRAGMENTATION) UT_VK_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
#undef UT_VK_CASE
    default: return "VkResult(?)";
  }
}

void throw_vk_error(VkResult r, const char* call) {
  std::string msg = std::string(call) + " failed: " + result_name(r) + " (" + std::to_string(static_cast<int>(r)) + ")";
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) throw OutOfMemoryError(msg);
  throw BackendError(msg);
}

namespace {

bool env_on(const char* name, std::string* value = nullptr) {
  const char* v = std::getenv(name);
  if (value != nullptr) *value = v != nullptr ? v : "";
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                          VkDebugUtilsMessageTypeFlagsEXT, const VkDebugUtilsMessengerCallbackDataEXT* d,
                                          void* user) {
  const std::string text = std::string(severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error: " : "warning: ") +
                           (d && d->pMessage ? d->pMessage : "?");
  std::fprintf(stderr, "ut: vulkan validation %s\n", text.c_str());
  if (user != nullptr) static_cast<Context*>(user)->add_message(text);
  return VK_FALSE;
}

}  // namespace

// The messenger's user data is the Context (set once the Context exists); until then messages only go to stderr.
Instance make_instance(const Options& options, std::string* why) {
  Instance in;
  in.gipa = loader(why);
  if (in.gipa == nullptr) return in;
  load_global(in.vk, in.gipa);
  uint32_t version = VK_API_VERSION_1_0;
  if (in.vk.vkEnumerateInstanceVersion) (void)in.vk.vkEnumerateInstanceVersion(&version);
  if (version < VK_API_VERSION_1_2) {
    *why = "the Vulkan loader is older than 1.2 (timeline semaphores need 1.2)";
    return in;
  }
  std::string mode;
  const bool want_validation = options.api_validation || options.sync_validation || env_on("UT_VULKAN_VALIDATION", &mode);
  const bool want_sync = options.sync_validation || mode == "sync";
  bool have_layer = false;
  if (want_validation) {
    uint32_t n = 0;
    (void)in.vk.vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> layers(n);
    (void)in.vk.vkEnumerateInstanceLayerProperties(&n, layers.data());
    for (auto& l : layers) have_layer = have_layer || std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0;
    if (!have_layer) std::fprintf(stderr, "ut: vulkan: validation asked for, but VK_LAYER_KHRONOS_validation is not installed\n");
  }
  std::vector<const char*> layers, exts;
  if (have_layer) {
    layers.push_back("VK_LAYER_KHRONOS_validation");
    exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "unified-timeline";
  app.apiVersion = VK_API_VERSION_1_2;
  VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = &sync;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ci.ppEnabledExtensionNames = exts.data();
  if (have_layer && want_sync) ci.pNext = &features;
  const VkResult r = in.vk.vkCreateInstance(&ci, nullptr, &in.instance);
  if (r != VK_SUCCESS) {
    *why = std::string("vkCreateInstance failed: ") + result_name(r);
    in.instance = VK_NULL_HANDLE;
    return in;
  }
  load_instance(in.vk, in.gipa, in.instance);
  in.validation = have_layer;
  return in;
}

void destroy_instance(Instance& in) noexcept {
  if (in.instance == VK_NULL_HANDLE) return;
  if (in.messenger != VK_NULL_HANDLE && in.vk.vkDestroyDebugUtilsMessengerEXT) {
    in.vk.vkDestroyDebugUtilsMessengerEXT(in.instance, in.messenger, nullptr);
  }
  in.vk.vkDestroyInstance(in.instance, nullptr);
  in.instance = VK_NULL_HANDLE;
}

void attach_messenger(Instance& in, Context* ctx) {
  if (!in.validation || in.vk.vkCreateDebugUtilsMessengerEXT == nullptr) return;
  VkDebugUtilsMessengerCreateInfoEXT ci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  ci.pfnUserCallback = on_message;
  ci.pUserData = ctx;
  UT_VK_CHECK(in.vk.vkCreateDebugUtilsMessengerEXT(in.instance, &ci, nullptr, &in.messenger));
}

bool has_extension(const Fns& vk, VkPhysicalDevice p, const char* name) {
  uint32_t n = 0;
  (void)vk.vkEnumerateDeviceExtensionProperties(p, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  (void)vk.vkEnumerateDeviceExtensionProperties(p, nullptr, &n, exts.data());
  return std::any_of(exts.begin(), exts.end(), [&](auto& e) { return std::strcmp(e.extensionName, name) == 0; });
}

std::vector<VkPhysicalDevice> usable_devices(const Instance& in, std::string* why) {
  uint32_t n = 0;
  (void)in.vk.vkEnumeratePhysicalDevices(in.instance, &n, nullptr);
  std::vector<VkPhysicalDevice> all(n);
  if (n > 0) (void)in.vk.vkEnumeratePhysicalDevices(in.instance, &n, all.data());
  all.resize(n);
  if (all.empty()) {
    *why = "no Vulkan device (no driver answered: install mesa-vulkan-drivers for lavapipe, or a GPU driver)";
    return {};
  }
  std::vector<std::pair<int, VkPhysicalDevice>> ok;
  std::string rejected;
  for (VkPhysicalDevice p : all) {
    VkPhysicalDeviceProperties props{};
    in.vk.vkGetPhysicalDeviceProperties(p, &props);
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &f12;
    std::string missing;
    if (props.apiVersion < VK_API_VERSION_1_2) {
      missing = "Vulkan 1.2";
    } else {
      in.vk.vkGetPhysicalDeviceFeatures2(p, &f2);
      if (!f12.timelineSemaphore) missing = "timeline semaphores";
      else if (!has_extension(in.vk, p, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME)) missing = "VK_KHR_push_descriptor";
    }
    if (!missing.empty()) {
      rejected += std::string(rejected.empty() ? "" : "; ") + props.deviceName + " lacks " + missing;
      continue;
    }
    const int rank = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU     ? 0
                     : props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ? 1
                     : props.deviceType == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU    ? 2
                     : props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU            ? 3
                                                                                  : 4;
    ok.emplace_back(rank, p);
  }
  std::stable_sort(ok.begin(), ok.end(), [](auto& a, auto& b) { return a.first < b.first; });
  if (ok.empty()) *why = "no usable Vulkan device: " + rejected;
  std::vector<VkPhysicalDevice> out;
  for (auto& [rank, p] : ok) out.push_back(p);
  return out;
}

}  // namespace ut::vulkan::detail
