// SharedEvent on CUDA: the 64-bit value lives in a 64-byte slot of pinned, mapped host memory, so the host reads
// signaled_value() with a plain atomic load and the GPU writes/waits on it with stream memory operations.
//
// Slots come from a small pool (64 KiB cudaHostAlloc chunks carved into 64-byte slots, one cache line each) rather
// than one cudaHostAlloc per event: pinned allocations are slow and page-granular.
//
// Events made by another backend (no device address) are never waited on by the GPU: a CUDA buffer waiting on
// one parks on the host until the value is reached (see CudaQueue::encode_wait), so their words need no
// cudaHostRegister (which would pin whole pages shared with other data, fail for two words on one page, and
// outlive the event's memory).
#include <cstring>

#include "backends/cuda/internal.h"
#include "timeline/error.h"

namespace ut::cuda::detail {

PinnedPool::~PinnedPool() {
  for (void* c : chunks_) {
    (void)cudaFreeHost(c);
    native_alloc_removed();
  }
}

PinnedPool::Slot PinnedPool::acquire() {
  std::unique_lock lock(mutex_);
  if (free_.empty()) {
    UT_CUDA_CHECK(cudaSetDevice(device_index_));
    void* chunk = nullptr;
    UT_CUDA_CHECK(cudaHostAlloc(&chunk, kChunkBytes, cudaHostAllocMapped | cudaHostAllocPortable));
    native_alloc_added();
    void* dev = nullptr;
    const cudaError_t e = cudaHostGetDevicePointer(&dev, chunk, 0);
    if (e != cudaSuccess) {
      (void)cudaFreeHost(chunk);
      native_alloc_removed();
      throw_cuda_error(e, "cudaHostGetDevicePointer(&dev, chunk, 0)");
    }
    chunks_.push_back(chunk);
    for (std::size_t off = kChunkBytes; off >= kSlotBytes; off -= kSlotBytes) {
      free_.emplace_back(reinterpret_cast<uint64_t*>(static_cast<std::byte*>(chunk) + off - kSlotBytes),
                         reinterpret_cast<uintptr_t>(dev) + off - kSlotBytes);
    }
  }
  auto [host, device] = free_.back();
  free_.pop_back();
  lock.unlock();
  std::memset(host, 0, kSlotBytes);
  Slot s;
  s.device = device;
  s.host = std::shared_ptr<uint64_t>(host, [self = shared_from_this(), device](uint64_t* p) {
    self->release(p, device);
  });
  return s;
}

void PinnedPool::release(uint64_t* host, uint64_t device) noexcept {
  std::lock_guard lock(mutex_);
  try {
    free_.emplace_back(host, device);
  } catch (...) {
    // Out of memory while returning a slot: leaking 64 bytes is the lesser evil.
  }
}

EventPtr CudaDevice::make_event(std::string label, uint64_t initial_value) {
  PinnedPool::Slot slot = pool_->acquire();
  EventStorage st;
  st.host_word = slot.host.get();
  st.device_address = slot.device;
  st.error_word = slot.host.get() + 1;
  st.owner = slot.host;
  return std::make_shared<SharedEvent>(std::move(st), std::move(label), initial_value);
}

}  // namespace ut::cuda::detail
