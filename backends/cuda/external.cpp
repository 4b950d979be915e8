// External timeline semaphores and memory on CUDA: what another API (Vulkan, on the same card) exports as opaque
// file descriptors, imported so that this device's streams signal and wait the same 64-bit semaphore values and
// its kernels read and write the same bytes. The queue's side is in queue.cpp (encode_signal / encode_wait).
#include <unistd.h>

#include <cstring>
#include <string>

#include "backends/cuda/internal.h"
#include "timeline/error.h"

namespace ut::cuda {
namespace detail {

std::shared_ptr<const CudaDevice::ExternalSemaphore> CudaDevice::external_timeline(const SharedEvent& e) {
  std::lock_guard lock(external_mutex_);
  if (external_.empty()) return nullptr;
  auto it = external_.find(e.storage().owner.get());
  return it == external_.end() ? nullptr : it->second;
}

bool CudaDevice::has_external_timeline(const SharedEvent& e) { return external_timeline(e) != nullptr; }

void CudaDevice::add_external_timeline(const SharedEvent& e, std::shared_ptr<ExternalSemaphore> s) {
  std::lock_guard lock(external_mutex_);
  external_.emplace(e.storage().owner.get(), std::move(s));
}

void CudaDevice::drop_external_timelines(bool all) {
  std::vector<std::shared_ptr<ExternalSemaphore>> gone;
  {
    std::lock_guard lock(external_mutex_);
    for (auto it = external_.begin(); it != external_.end();) {
      // An expired owner means no command buffer holds the event any more, so no stream can still use the handle.
      if (all || it->second->owner.expired()) {
        gone.push_back(std::move(it->second));
        it = external_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (gone.empty()) return;
  (void)cudaSetDevice(index_);
  for (auto& s : gone) (void)cudaDestroyExternalSemaphore(s->handle);
}

}  // namespace detail

std::array<uint8_t, 16> device_uuid(const Device& device) {
  auto& d = detail::as_cuda(device, "device_uuid");
  cudaDeviceProp p{};
  UT_CUDA_CHECK(cudaGetDeviceProperties(&p, d.index()));
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), p.uuid.bytes, out.size());
  return out;
}

void import_timeline(Device& device, const SharedEvent& event, ExternalTimeline timeline) {
  auto& d = detail::as_cuda(device, "import_timeline");
  if (timeline.fd < 0 || !timeline.reserve_signal || !timeline.signal_submitted || !timeline.signal_is_submitted ||
      !timeline.when_signal_submitted) {
    if (timeline.fd >= 0) ::close(timeline.fd);
    throw UsageError("[cuda::import_timeline] event '" + event.label() + "': a file descriptor and every hook are needed");
  }
  if (event.storage().device_address != 0) {
    ::close(timeline.fd);
    throw UsageError("[cuda::import_timeline] event '" + event.label() + "' is a CUDA event already");
  }
  d.drop_external_timelines(/*all=*/false);
  if (d.has_external_timeline(event)) {
    ::close(timeline.fd);
    return;
  }
  d.make_current();
  cudaExternalSemaphoreHandleDesc desc{};
  desc.type = cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd;
  desc.handle.fd = timeline.fd;
  auto s = std::make_shared<detail::CudaDevice::ExternalSemaphore>();
  if (const cudaError_t e = cudaImportExternalSemaphore(&s->handle, &desc); e != cudaSuccess) {
    (void)cudaGetLastError();
    ::close(timeline.fd);  // CUDA takes the descriptor over only on success
    throw BackendError("[cuda::import_timeline] event '" + event.label() +
                       "': cudaImportExternalSemaphore (timeline, opaque fd) failed: " + detail::error_text(e));
  }
  s->owner = event.storage().owner;
  timeline.fd = -1;
  s->hooks = std::move(timeline);
  d.add_external_timeline(event, std::move(s));
}

HeapPtr import_memory(Device& device, ExternalMemory memory) {
  auto& d = detail::as_cuda(device, "import_memory");
  const std::string label = memory.label.empty() ? "imported heap" : memory.label;
  if (memory.fd < 0 || memory.size == 0 || memory.allocation_size < memory.size) {
    if (memory.fd >= 0) ::close(memory.fd);
    throw UsageError("[cuda::import_memory] heap '" + label + "': needs a file descriptor and 0 < size <= allocation_size");
  }
  d.make_current();
  cudaExternalMemoryHandleDesc desc{};
  desc.type = cudaExternalMemoryHandleTypeOpaqueFd;
  desc.handle.fd = memory.fd;
  desc.size = memory.allocation_size;
  desc.flags = memory.dedicated ? cudaExternalMemoryDedicated : 0;
  cudaExternalMemory_t ext = nullptr;
  if (const cudaError_t e = cudaImportExternalMemory(&ext, &desc); e != cudaSuccess) {
    (void)cudaGetLastError();
    ::close(memory.fd);
    throw BackendError("[cuda::import_memory] heap '" + label + "': cudaImportExternalMemory (opaque fd, " +
                       std::to_string(memory.allocation_size) + " bytes) failed: " + detail::error_text(e));
  }
  cudaExternalMemoryBufferDesc bd{};
  bd.offset = 0;
  bd.size = memory.size;
  void* p = nullptr;
  if (const cudaError_t e = cudaExternalMemoryGetMappedBuffer(&p, ext, &bd); e != cudaSuccess) {
    (void)cudaGetLastError();
    (void)cudaDestroyExternalMemory(ext);
    throw BackendError("[cuda::import_memory] heap '" + label +
                       "': cudaExternalMemoryGetMappedBuffer failed: " + detail::error_text(e));
  }
  HeapMemory mem;
  mem.size = memory.size;
  mem.device_address = reinterpret_cast<uintptr_t>(p);
  // Freed on the device's reaper thread like every CUDA block; the owner's memory goes after the mapping.
  std::shared_ptr<detail::Reaper> reaper = d.reaper_;
  mem.owner = std::shared_ptr<void>(p, [reaper, ext, keep = std::move(memory.keep)](void* q) mutable {
    reaper->post([q, ext, keep = std::move(keep)]() mutable {
      (void)cudaFree(q);
      (void)cudaDestroyExternalMemory(ext);
      keep.reset();
    });
  });
  return std::make_shared<Heap>(std::move(mem), StorageMode::device, label);
}

}  // namespace ut::cuda
