// Vulkan -> CUDA sharing of events and heaps: the Vulkan backend exports opaque fds and keeps the semaphore's rules
// (ut::vulkan::reserve_semaphore_signal ...); the CUDA backend imports them (ut::cuda::import_timeline /
// import_memory) and follows those rules in its queues. This file only joins the two.
#include "backends/interop/cuda_vulkan.h"

#include <cstring>
#include <map>
#include <mutex>

#include "backends/cuda/device.h"
#include "backends/vulkan/device.h"
#include "timeline/error.h"

namespace ut::interop {
namespace {

std::string hex(const uint8_t* b, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += d[b[i] >> 4];
    s += d[b[i] & 15];
  }
  return s;
}

// Imported heap -> the Vulkan heap it aliases (for alias()); an entry lives as long as that Vulkan heap.
std::mutex g_mutex;
std::map<const Heap*, std::weak_ptr<const Heap>>& imports() {
  static auto* m = new std::map<const Heap*, std::weak_ptr<const Heap>>();
  return *m;
}

}  // namespace

BackendInfo probe(const Device& cuda, const Device& vulkan) {
  BackendInfo info{.name = "cuda+vulkan"};
  try {
    const auto cu = ut::cuda::device_uuid(cuda);
    const auto vk = ut::vulkan::native_device(vulkan);
    if (std::memcmp(cu.data(), vk.device_uuid.data(), cu.size()) != 0) {
      info.reason = "the CUDA device (" + hex(cu.data(), cu.size()) + ") and the Vulkan device (" +
                    hex(vk.device_uuid.data(), vk.device_uuid.size()) + ", '" + vulkan.caps().name +
                    "') are not the same GPU";
      return info;
    }
    if (!vk.external_semaphore_fd || !vk.external_memory_fd) {
      info.reason = "the Vulkan device '" + vulkan.caps().name + "' cannot export " +
                    (vk.external_semaphore_fd ? "memory (VK_KHR_external_memory_fd)"
                                              : "timeline semaphores (VK_KHR_external_semaphore_fd)");
      return info;
    }
  } catch (const Error& e) {
    info.reason = e.what();
    return info;
  }
  info.available = true;
  return info;
}

void share_event(Device& cuda, const SharedEvent& vulkan_event) {
  const auto sem = ut::vulkan::native_semaphore(vulkan_event);  // UsageError for non-Vulkan events
  if (!sem.exportable) {
    throw UsageError("[interop::share_event] event '" + vulkan_event.label() +
                     "': its Vulkan device cannot export timeline semaphores (VK_KHR_external_semaphore_fd)");
  }
  // The hooks hold the event weakly: the CUDA device drops the import once the event is gone.
  auto* e = const_cast<SharedEvent*>(&vulkan_event);
  ut::cuda::ExternalTimeline t;
  t.reserve_signal = [e](uint64_t v) { return ut::vulkan::reserve_semaphore_signal(*e, v); };
  t.signal_submitted = [e](uint64_t v) { ut::vulkan::semaphore_signal_submitted(*e, v); };
  t.signal_is_submitted = [e](uint64_t v) { return ut::vulkan::semaphore_signal_is_submitted(*e, v); };
  t.when_signal_submitted = [e](uint64_t v, std::function<void()> fn) {
    ut::vulkan::when_semaphore_signal_submitted(*e, v, std::move(fn));
  };
  t.fd = ut::vulkan::export_semaphore_fd(vulkan_event);
  ut::cuda::import_timeline(cuda, vulkan_event, std::move(t));
}

HeapPtr import_heap(Device& cuda, const Heap& vulkan_heap) {
  const auto mem = ut::vulkan::native_memory(vulkan_heap);  // UsageError for non-Vulkan heaps
  if (!mem.exportable) {
    throw UsageError("[interop::import_heap] heap '" + vulkan_heap.label() +
                     "': its Vulkan device cannot export memory (VK_KHR_external_memory_fd)");
  }
  ut::cuda::ExternalMemory m;
  m.size = static_cast<std::size_t>(mem.size);
  m.allocation_size = static_cast<std::size_t>(mem.allocation_size);
  m.dedicated = mem.dedicated;
  auto owner = const_cast<Heap&>(vulkan_heap).shared_from_this();
  m.keep = owner;
  m.label = vulkan_heap.label() + " (CUDA)";
  m.fd = ut::vulkan::export_memory_fd(vulkan_heap);
  HeapPtr h = ut::cuda::import_memory(cuda, std::move(m));
  std::lock_guard lock(g_mutex);
  for (auto it = imports().begin(); it != imports().end();) it = it->second.expired() ? imports().erase(it) : std::next(it);
  imports()[h.get()] = owner;
  return h;
}

Buffer alias(Heap& imported, const Buffer& vulkan_buffer) {
  std::shared_ptr<const Heap> source;
  {
    std::lock_guard lock(g_mutex);
    if (auto it = imports().find(&imported); it != imports().end()) source = it->second.lock();
  }
  if (!source || source.get() != &vulkan_buffer.heap()) {
    throw UsageError("[interop::alias] heap '" + imported.label() + "' was not imported from heap '" +
                     vulkan_buffer.heap().label() + "' (buffer '" + vulkan_buffer.label() + "')");
  }
  return imported.allocate_at(vulkan_buffer.offset(), vulkan_buffer.size(), vulkan_buffer.label());
}

}  // namespace ut::interop
