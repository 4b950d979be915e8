// Heaps on Vulkan: one VkDeviceMemory per heap with one VkBuffer bound over all of it; the core's Heap places
// buffers inside (their offsets are offsets into that VkBuffer). shared = HOST_VISIBLE | HOST_COHERENT (preferring
// HOST_CACHED and system memory: what cudaHostAlloc gives on CUDA), mapped for the heap's life; device = DEVICE_LOCAL,
// never mapped. Memory is allocated exportable where the device can export it (caps notes), for later interop.
#include <mutex>
#include <unordered_set>

#include "backends/vulkan/internal.h"
#include "timeline/error.h"

namespace ut::vulkan::detail {
namespace {

std::mutex g_heaps_mutex;
std::unordered_set<const void*>& heaps() {
  static auto* s = new std::unordered_set<const void*>();  // leaked: heaps may die during static destruction
  return *s;
}

// The best memory type for the mode among `bits`, or -1.
int pick_memory_type(const VkPhysicalDeviceMemoryProperties& m, uint32_t bits, StorageMode mode) {
  int best = -1, best_score = -1;
  for (uint32_t i = 0; i < m.memoryTypeCount; ++i) {
    if ((bits & (1u << i)) == 0) continue;
    const VkMemoryPropertyFlags f = m.memoryTypes[i].propertyFlags;
    const bool device_local = (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) != 0;
    int score = 0;
    if (mode == StorageMode::shared) {
      const VkMemoryPropertyFlags need = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      if ((f & need) != need) continue;
      score = ((f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 2 : 0) + (device_local ? 0 : 1);
    } else {
      if (!device_local) continue;
      score = (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) ? 0 : 1;  // plain VRAM before the BAR window
    }
    if (score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  return best;
}

}  // namespace

HeapRecord::~HeapRecord() {
  {
    std::lock_guard lock(g_heaps_mutex);
    heaps().erase(this);
  }
  const Fns& vk = ctx->vk;
  if (mapped != nullptr) vk.vkUnmapMemory(ctx->device, memory);
  if (buffer != VK_NULL_HANDLE) vk.vkDestroyBuffer(ctx->device, buffer, nullptr);
  if (memory != VK_NULL_HANDLE) vk.vkFreeMemory(ctx->device, memory, nullptr);
}

HeapRecord* find_heap(const Heap& h) {
  const void* owner = h.memory().owner.get();
  std::lock_guard lock(g_heaps_mutex);
  return heaps().count(owner) != 0 ? static_cast<HeapRecord*>(const_cast<void*>(owner)) : nullptr;
}

HeapPtr VulkanDevice::make_heap(HeapDesc desc) {
  const std::string label = desc.label.empty() ? "heap" : desc.label;
  if (desc.size == 0) throw UsageError("[Device::make_heap] heap '" + label + "' has size 0");
  if (ctx_->lost) throw BackendError("[Device::make_heap] heap '" + label + "': Vulkan device lost: " + ctx_->lost_reason());
  const Fns& vk = ctx_->vk;
  const VkDevice dev = ctx_->device;
  auto rec = std::make_shared<HeapRecord>();
  rec->ctx = ctx_;
  rec->size = desc.size;

  VkExternalMemoryBufferCreateInfo ext_buf{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
  ext_buf.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  if (ctx_->external_memory_fd) bci.pNext = &ext_buf;
  bci.size = desc.size;
  bci.usage = heap_usage(ctx_->bda);
  // Every family the device's queues use may touch any buffer: concurrent sharing, no ownership transfers.
  bci.sharingMode = ctx_->families.size() > 1 ? VK_SHARING_MODE_CONCURRENT : VK_SHARING_MODE_EXCLUSIVE;
  bci.queueFamilyIndexCount = ctx_->families.size() > 1 ? static_cast<uint32_t>(ctx_->families.size()) : 0;
  bci.pQueueFamilyIndices = ctx_->families.data();
  UT_VK_CHECK(vk.vkCreateBuffer(dev, &bci, nullptr, &rec->buffer));

  VkMemoryDedicatedRequirements dreq{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
  VkMemoryRequirements2 req{VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2};
  req.pNext = &dreq;
  VkBufferMemoryRequirementsInfo2 rinfo{VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2};
  rinfo.buffer = rec->buffer;
  vk.vkGetBufferMemoryRequirements2(dev, &rinfo, &req);
  const int type = pick_memory_type(ctx_->memory, req.memoryRequirements.memoryTypeBits, desc.mode);
  if (type < 0) {
    throw BackendError("[Device::make_heap] heap '" + label + "': no " +
                       (desc.mode == StorageMode::shared ? "HOST_VISIBLE|HOST_COHERENT" : "DEVICE_LOCAL") +
                       " memory type for a storage buffer on this device");
  }
  rec->memory_type = static_cast<uint32_t>(type);
  rec->exportable = ctx_->external_memory_fd;
  rec->dedicated = dreq.requiresDedicatedAllocation || (rec->exportable && ctx_->external_memory_dedicated);

  VkMemoryAllocateFlagsInfo flags{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
  flags.flags = ctx_->bda ? VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT : 0;
  VkExportMemoryAllocateInfo exp{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
  exp.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  VkMemoryDedicatedAllocateInfo ded{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  ded.buffer = rec->buffer;
  const void* chain = nullptr;
  if (rec->dedicated) {
    ded.pNext = chain;
    chain = &ded;
  }
  if (rec->exportable) {
    exp.pNext = chain;
    chain = &exp;
  }
  flags.pNext = chain;
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.pNext = &flags;
  ai.allocationSize = req.memoryRequirements.size;
  ai.memoryTypeIndex = rec->memory_type;
  rec->allocation_size = ai.allocationSize;
  if (const VkResult r = vk.vkAllocateMemory(dev, &ai, nullptr, &rec->memory); r != VK_SUCCESS) {
    rec->memory = VK_NULL_HANDLE;
    const std::string what = std::string("[Device::make_heap] ") + to_string(desc.mode) + " heap '" + label +
                             "': vkAllocateMemory of " + std::to_string(ai.allocationSize) + " bytes failed: " +
                             result_name(r);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) throw OutOfMemoryError(what);
    throw BackendError(what);
  }
  UT_VK_CHECK(vk.vkBindBufferMemory(dev, rec->buffer, rec->memory, 0));
  if (desc.mode == StorageMode::shared) UT_VK_CHECK(vk.vkMapMemory(dev, rec->memory, 0, VK_WHOLE_SIZE, 0, &rec->mapped));

  HeapMemory mem;
  mem.size = desc.size;
  mem.host = desc.mode == StorageMode::shared ? rec->mapped : nullptr;
  if (ctx_->bda) {
    VkBufferDeviceAddressInfo bai{VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO};
    bai.buffer = rec->buffer;
    mem.device_address = vk.vkGetBufferDeviceAddress(dev, &bai);
  }
  {
    std::lock_guard lock(g_heaps_mutex);
    heaps().insert(rec.get());
  }
  mem.owner = rec;
  return std::make_shared<Heap>(std::move(mem), desc.mode, label);
}

}  // namespace ut::vulkan::detail

namespace ut::vulkan {

NativeMemory native_memory(const Heap& heap) {
  detail::HeapRecord* r = detail::find_heap(heap);
  if (r == nullptr) throw UsageError("[vulkan::native_memory] heap '" + heap.label() + "' is not a Vulkan heap");
  const bool host_visible =
      (r->ctx->memory.memoryTypes[r->memory_type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;
  return {r->memory, r->buffer, r->size, r->allocation_size, r->exportable, r->dedicated, host_visible};
}

int export_memory_fd(const Heap& heap) {
  detail::HeapRecord* r = detail::find_heap(heap);
  if (r == nullptr) throw UsageError("[vulkan::export_memory_fd] heap '" + heap.label() + "' is not a Vulkan heap");
  if (!r->exportable || r->ctx->vk.vkGetMemoryFdKHR == nullptr) {
    throw UsageError("[vulkan::export_memory_fd] heap '" + heap.label() +
                     "': this device cannot export memory (VK_KHR_external_memory_fd)");
  }
  VkMemoryGetFdInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR};
  info.memory = r->memory;
  info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  int fd = -1;
  UT_VK_CHECK(r->ctx->vk.vkGetMemoryFdKHR(r->ctx->device, &info, &fd));
  return fd;
}

}  // namespace ut::vulkan
