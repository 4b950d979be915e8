// Vulkan device: probe, the Context (VkDevice with its queue families and queues), capabilities, queues, and the
// public helpers of device.h.
#include "backends/vulkan/device.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "backends/vulkan/internal.h"
#include "timeline/error.h"
#include "timeline/host.h"

namespace ut::vulkan {
namespace detail {

// ---- Context ---------------------------------------------------------------------------------------------------
Context::Context(Instance instance, VkPhysicalDevice physical) : vk(instance.vk), in(instance), phys(physical) {
  try {
    attach_messenger(in, this);
    read_properties();
    choose_families();
    create_device();
  } catch (...) {
    if (device != VK_NULL_HANDLE) vk.vkDestroyDevice(device, nullptr);
    destroy_instance(in);
    throw;
  }
}

Context::~Context() {
  (void)vk.vkDeviceWaitIdle(device);
  for (VkCommandPool p : buried_pools_) vk.vkDestroyCommandPool(device, p, nullptr);
  for (VkSemaphore s : buried_semaphores_) vk.vkDestroySemaphore(device, s, nullptr);
  for (auto& [key, p] : pipelines_) {
    vk.vkDestroyPipeline(device, p.pipeline, nullptr);
    vk.vkDestroyPipelineLayout(device, p.layout, nullptr);
    vk.vkDestroyDescriptorSetLayout(device, p.set_layout, nullptr);
    vk.vkDestroyShaderModule(device, p.module, nullptr);
  }
  vk.vkDestroyDevice(device, nullptr);
  destroy_instance(in);
}

void Context::read_properties() {
  vk.vkGetPhysicalDeviceProperties(phys, &props);
  vk.vkGetPhysicalDeviceMemoryProperties(phys, &memory);
  VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceDriverProperties drv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
  const bool has_sm = has_extension(vk, phys, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
  id.pNext = &drv;
  if (has_sm) drv.pNext = &sm;
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p2.pNext = &id;
  vk.vkGetPhysicalDeviceProperties2(phys, &p2);
  std::memcpy(uuid.data(), id.deviceUUID, VK_UUID_SIZE);
  driver_name = drv.driverName;
  driver_info = drv.driverInfo;
  if (has_sm) sm_count = sm.shaderSMCount;

  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f12;
  vk.vkGetPhysicalDeviceFeatures2(phys, &f2);
  bda = f12.bufferDeviceAddress == VK_TRUE;
  memory_budget = has_extension(vk, phys, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

  // Export support for what later parts hand to CUDA: timeline semaphores and heap memory as opaque fds.
  if (has_extension(vk, phys, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME)) {
    VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO};
    info.pNext = &type;
    info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
    VkExternalSemaphoreProperties out{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
    vk.vkGetPhysicalDeviceExternalSemaphoreProperties(phys, &info, &out);
    external_semaphore_fd = (out.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) != 0;
  }
  if (has_extension(vk, phys, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME)) {
    VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
    info.usage = heap_usage(bda);
    info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    VkExternalBufferProperties out{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
    vk.vkGetPhysicalDeviceExternalBufferProperties(phys, &info, &out);
    const auto features = out.externalMemoryProperties.externalMemoryFeatures;
    external_memory_fd = (features & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT) != 0;
    external_memory_dedicated = (features & VK_EXTERNAL_MEMORY_FEATURE_DEDICATED_ONLY_BIT) != 0;
  }
}

void Context::choose_families() {
  uint32_t n = 0;
  vk.vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, nullptr);
  std::vector<VkQueueFamilyProperties> fam(n);
  vk.vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, fam.data());
  auto find = [&](VkQueueFlags want, VkQueueFlags without) -> int {
    for (uint32_t i = 0; i < n; ++i) {
      if (fam[i].queueCount > 0 && (fam[i].queueFlags & want) == want && (fam[i].queueFlags & without) == 0) {
        return static_cast<int>(i);
      }
    }
    return -1;
  };
  int render = find(VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT, 0);
  if (render < 0) render = find(VK_QUEUE_COMPUTE_BIT, 0);
  if (render < 0) throw BackendError("[vulkan] device '" + std::string(props.deviceName) + "' has no compute queue");
  int compute = find(VK_QUEUE_COMPUTE_BIT, VK_QUEUE_GRAPHICS_BIT);  // async compute where it exists
  if (compute < 0) compute = render;
  int transfer = find(VK_QUEUE_TRANSFER_BIT, VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT);  // copy engines
  if (transfer < 0) transfer = compute;
  family_render = static_cast<uint32_t>(render);
  family_compute = static_cast<uint32_t>(compute);
  family_transfer = static_cast<uint32_t>(transfer);
  for (uint32_t f : {family_render, family_compute, family_transfer}) {
    if (std::find(families.begin(), families.end(), f) != families.end()) continue;
    families.push_back(f);
    // Up to three VkQueues per family, one per priority (high, normal, low), where the family has them.
    const uint32_t k = std::min(fam[f].queueCount, 3u);
    for (uint32_t i = 0; i < k; ++i) {
      auto s = std::make_unique<QueueSlot>();
      s->family = f;
      s->index = i;
      s->priority = k == 1 ? 1.0f : i == 0 ? 1.0f : i == 1 ? 0.5f : 0.0f;
      s->compute = (fam[f].queueFlags & VK_QUEUE_COMPUTE_BIT) != 0;
      slots.push_back(std::move(s));
    }
  }
}

void Context::create_device() {
  std::vector<VkDeviceQueueCreateInfo> qcis;
  std::vector<std::vector<float>> prios;
  prios.reserve(families.size());
  for (uint32_t f : families) {
    prios.emplace_back();
    for (auto& s : slots)
      if (s->family == f) prios.back().push_back(s->priority);
    VkDeviceQueueCreateInfo q{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    q.queueFamilyIndex = f;
    q.queueCount = static_cast<uint32_t>(prios.back().size());
    q.pQueuePriorities = prios.back().data();
    qcis.push_back(q);
  }
  std::vector<const char*> exts{VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
  if (external_memory_fd) exts.push_back(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
  if (external_semaphore_fd) exts.push_back(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
  if (memory_budget) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  f12.timelineSemaphore = VK_TRUE;
  f12.bufferDeviceAddress = bda ? VK_TRUE : VK_FALSE;
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f12;
  VkDeviceCreateInfo ci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  ci.pNext = &f2;
  ci.queueCreateInfoCount = static_cast<uint32_t>(qcis.size());
  ci.pQueueCreateInfos = qcis.data();
  ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ci.ppEnabledExtensionNames = exts.data();
  UT_VK_CHECK(vk.vkCreateDevice(phys, &ci, nullptr, &device));
  load_device(vk, device);
  if (vk.vkCmdPushDescriptorSetKHR == nullptr) throw BackendError("[vulkan] vkCmdPushDescriptorSetKHR is missing");
  for (auto& s : slots) vk.vkGetDeviceQueue(device, s->family, s->index, &s->queue);
}

QueueSlot& Context::slot_for(QueueKind kind, QueuePriority priority) {
  const uint32_t f = kind == QueueKind::render     ? family_render
                     : kind == QueueKind::transfer ? family_transfer
                                                   : family_compute;
  std::vector<QueueSlot*> of;
  for (auto& s : slots)
    if (s->family == f) of.push_back(s.get());
  const std::size_t want = priority == QueuePriority::high ? 0 : priority == QueuePriority::normal ? 1 : 2;
  return *of[std::min(want, of.size() - 1)];
}

int Context::priority_levels() const {
  int n = 0;
  for (auto& s : slots) n += s->family == family_compute ? 1 : 0;
  return n;
}

std::size_t Context::device_memory_total() const {
  std::size_t total = 0;
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i)
    if (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) total += memory.memoryHeaps[i].size;
  return total;
}

std::size_t Context::device_memory_free() const {
  if (!memory_budget) return device_memory_total();
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 m2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  m2.pNext = &budget;
  vk.vkGetPhysicalDeviceMemoryProperties2(phys, &m2);
  std::size_t free_bytes = 0;
  for (uint32_t i = 0; i < m2.memoryProperties.memoryHeapCount; ++i) {
    if ((m2.memoryProperties.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) == 0) continue;
    if (budget.heapBudget[i] > budget.heapUsage[i]) free_bytes += budget.heapBudget[i] - budget.heapUsage[i];
  }
  return free_bytes;
}

std::string Context::lost_reason() const {
  std::lock_guard lock(mutex_);
  return lost_reason_;
}

void Context::set_lost(VkResult r) {
  {
    std::lock_guard lock(mutex_);
    if (lost_reason_.empty()) lost_reason_ = result_name(r);
  }
  if (!lost.exchange(true)) {
    std::fprintf(stderr, "ut: Vulkan device '%s' lost (%s); work in flight fails, new work is refused\n",
                 props.deviceName, result_name(r));
  }
}

void Context::bury(VkSemaphore s, VkCommandPool p) {
  std::lock_guard lock(mutex_);
  buried_semaphores_.push_back(s);
  buried_pools_.push_back(p);
}

void Context::add_message(std::string m) {
  std::lock_guard lock(mutex_);
  messages_.push_back(std::move(m));
}

std::vector<std::string> Context::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

// ---- device ------------------------------------------------------------------------------------------------------
namespace {

std::string version_text(uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
         std::to_string(VK_API_VERSION_PATCH(v));
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU (software rasterizer)";
    default: return "other";
  }
}

}  // namespace

VulkanDevice::VulkanDevice(const DeviceDesc& desc, std::shared_ptr<Context> ctx) : Device(desc), ctx_(std::move(ctx)) {
  const Context& c = *ctx_;
  const HostInfo host = host_info();
  caps_.backend = "vulkan";
  caps_.name = c.props.deviceName;
  const auto type = c.props.deviceType;
  caps_.is_gpu = type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU || type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                 type == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU;
  caps_.zero_copy_shared_heaps = true;  // kernels read HOST_VISIBLE memory in place
  caps_.gpu_side_events = true;         // semaphore waits and signals in the queue
  caps_.host_signal_wakes_device = false;  // a host-signalled value resumes a parked queue through its worker
  caps_.priority_levels = c.priority_levels();
  caps_.native_priority_high = 100;
  caps_.native_priority_low = caps_.priority_levels >= 3 ? 0 : caps_.priority_levels == 2 ? 50 : 100;
  caps_.memory_total = c.device_memory_total();
  caps_.memory_free = c.device_memory_free();
  caps_.compute_units = c.sm_count > 0 ? c.sm_count : type == VK_PHYSICAL_DEVICE_TYPE_CPU ? host.cores : 1;
  caps_.cpu_cores = host.cores;
  caps_.driver = "Vulkan " + version_text(c.props.apiVersion) + ", " + c.driver_name +
                 (c.driver_info.empty() ? "" : " " + c.driver_info);
  auto& n = caps_.notes;
  n.push_back(std::string("device type: ") + type_name(type));
  n.push_back("queue families: render " + std::to_string(c.family_render) + ", compute " +
              std::to_string(c.family_compute) + ", transfer " + std::to_string(c.family_transfer) +
              (c.family_transfer != c.family_compute ? " (transfer-only: no dispatches on transfer queues)" : ""));
  n.push_back(std::to_string(c.slots.size()) + " VkQueue(s) with priorities 1.0/0.5/0.0 where a family has them; "
              "timeline queues share them (drivers may ignore priorities)");
  n.push_back(c.external_semaphore_fd ? "external semaphores: timeline semaphores exportable as opaque fds"
                                      : "external semaphores: no exportable timeline semaphores (VK_KHR_external_semaphore_fd)");
  n.push_back(c.external_memory_fd ? std::string("external memory: heaps exportable as opaque fds") +
                                         (c.external_memory_dedicated ? " (dedicated allocations)" : "")
                                   : "external memory: heaps not exportable (VK_KHR_external_memory_fd)");
  n.push_back(c.bda ? "buffer device addresses: on" : "buffer device addresses: off (device_address() is the offset)");
  if (c.sm_count == 0 && type != VK_PHYSICAL_DEVICE_TYPE_CPU) n.push_back("compute units unknown (no VK_NV_shader_sm_builtins)");
  if (!c.memory_budget) n.push_back("memory_free is the total (no VK_EXT_memory_budget)");
  n.push_back("a GPU-side wait is submitted only after its producer; other waits park on the host worker");
  if (desc.reserve_sms > 0) {
    caps_.partition.mode = "queue priorities (no SM partition: Vulkan has no green contexts)";
    n.push_back("SM partition: " + caps_.partition.mode);
  }
  if (c.in.validation) n.push_back("Vulkan validation layer on");
  if (validator()) n.push_back("validation on");
}

VulkanDevice::~VulkanDevice() = default;

DeviceCaps VulkanDevice::refresh_caps() {
  DeviceCaps c = caps_;
  c.memory_free = ctx_->device_memory_free();
  return c;
}

QueuePtr VulkanDevice::make_queue(QueueDesc desc) {
  if (ctx_->lost) throw BackendError("[Device::make_queue] Vulkan device lost: " + ctx_->lost_reason());
  return std::make_shared<VulkanQueue>(*this, std::move(desc));
}

namespace {

VulkanDevice& as_vulkan(const Device& d, const char* fn) {
  auto* v = dynamic_cast<const VulkanDevice*>(&d);
  if (v == nullptr) throw UsageError(std::string("[vulkan::") + fn + "] device '" + d.caps().name + "' is not a Vulkan device");
  return const_cast<VulkanDevice&>(*v);
}

}  // namespace
}  // namespace detail

// ---- public API ----------------------------------------------------------------------------------------------
BackendInfo probe() {
  // Cached: loading drivers is slow and the answer does not change while the process runs.
  static const BackendInfo info = [] {
    BackendInfo b{"vulkan", false, {}};
    std::string why;
    detail::Instance in = detail::make_instance({}, &why);
    if (in.instance == VK_NULL_HANDLE) {
      b.reason = why;
      return b;
    }
    const auto devices = detail::usable_devices(in, &why);
    detail::destroy_instance(in);
    b.available = !devices.empty();
    if (!b.available) b.reason = why;
    return b;
  }();
  return info;
}

DevicePtr make_device(const DeviceDesc& desc) { return make_device_with(desc, Options{}); }

DevicePtr make_device_with(const DeviceDesc& desc, const Options& options) {
  std::string why;
  detail::Instance in = detail::make_instance(options, &why);
  if (in.instance == VK_NULL_HANDLE) throw BackendError("[vulkan::make_device] Vulkan is not available: " + why);
  const auto devices = detail::usable_devices(in, &why);
  if (desc.device_index < 0 || static_cast<std::size_t>(desc.device_index) >= devices.size()) {
    detail::destroy_instance(in);
    if (devices.empty()) throw BackendError("[vulkan::make_device] Vulkan is not available: " + why);
    throw UsageError("[vulkan::make_device] device_index " + std::to_string(desc.device_index) +
                     " is out of range (" + std::to_string(devices.size()) + " usable Vulkan devices)");
  }
  auto ctx = std::make_shared<detail::Context>(in, devices[static_cast<std::size_t>(desc.device_index)]);
  return std::make_shared<detail::VulkanDevice>(desc, std::move(ctx));
}

std::vector<std::string> validation_messages(const Device& device) {
  return detail::as_vulkan(device, "validation_messages").context()->messages();
}

NativeDevice native_device(const Device& device) {
  const detail::Context& c = *detail::as_vulkan(device, "native_device").context();
  NativeDevice n;
  n.instance = c.in.instance;
  n.physical_device = c.phys;
  n.device = c.device;
  n.get_instance_proc_addr = c.in.gipa;
  n.api_version = c.props.apiVersion;
  n.device_uuid = c.uuid;
  n.external_memory_fd = c.external_memory_fd;
  n.external_semaphore_fd = c.external_semaphore_fd;
  return n;
}

NativeQueue native_queue(const Queue& queue) {
  auto* q = dynamic_cast<const detail::VulkanQueue*>(&queue);
  if (q == nullptr) throw UsageError("[vulkan::native_queue] queue '" + queue.label() + "' is not a Vulkan queue");
  auto& core = const_cast<detail::VulkanQueue*>(q)->core();
  return {core.slot.queue, core.slot.family, core.slot.index, core.progress};
}

}  // namespace ut::vulkan
