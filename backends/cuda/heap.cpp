// Heaps on CUDA: shared storage is pinned, mapped host memory (cudaHostAlloc: the CPU writes, a kernel reads, no
// copy); device storage is one cudaMalloc block (the host cannot address it). Never managed memory.
// The core's Heap does placement sub-allocation inside the block.
#include <string>

#include "backends/cuda/internal.h"
#include "timeline/error.h"

namespace ut::cuda::detail {

// ---- Reaper ------------------------------------------------------------------------------------------------------
Reaper::Reaper(int device_index) : device_index_(device_index) {
  thread_ = std::thread([this] { run(); });
}

Reaper::~Reaper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Reaper::post(std::function<void()> fn) noexcept {
  try {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(fn));
    }
    cv_.notify_one();
  } catch (...) {
    // Could not queue the free: leak the block rather than free it on this thread (see the class comment).
  }
}

void Reaper::run() {
  (void)cudaSetDevice(device_index_);
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

// ---- heaps -----------------------------------------------------------------------------------------------------
HeapPtr CudaDevice::make_heap(HeapDesc desc) {
  const std::string label = desc.label.empty() ? "heap" : desc.label;
  if (desc.size == 0) throw UsageError("[Device::make_heap] heap '" + label + "' has size 0");
  if (lost()) throw BackendError("[Device::make_heap] heap '" + label + "': device lost: " + lost_reason());
  make_current();
  HeapMemory mem;
  mem.size = desc.size;
  const int index = index_;
  std::shared_ptr<Reaper> reaper = reaper_;
  if (desc.mode == StorageMode::shared) {
    void* p = nullptr;
    const cudaError_t e = cudaHostAlloc(&p, desc.size, cudaHostAllocMapped | cudaHostAllocPortable);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      throw OutOfMemoryError("[Device::make_heap] shared heap '" + label + "': cudaHostAlloc of " +
                             std::to_string(desc.size) + " bytes of pinned host memory failed: " + error_text(e));
    }
    native_alloc_added();
    void* dev = nullptr;
    if (const cudaError_t e2 = cudaHostGetDevicePointer(&dev, p, 0); e2 != cudaSuccess) {
      (void)cudaFreeHost(p);
      native_alloc_removed();
      throw_cuda_error(e2, "cudaHostGetDevicePointer(&dev, p, 0)");
    }
    mem.host = p;
    mem.device_address = reinterpret_cast<uintptr_t>(dev);
    mem.owner = std::shared_ptr<void>(p, [reaper](void* q) {
      reaper->post([q] {
        (void)cudaFreeHost(q);
        native_alloc_removed();
      });
    });
  } else {
    std::size_t free_bytes = 0, total_bytes = 0;
    UT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (desc.size > free_bytes) {
      throw OutOfMemoryError("[Device::make_heap] device heap '" + label + "' needs " + std::to_string(desc.size) +
                             " bytes but only " + std::to_string(free_bytes) + " of " + std::to_string(total_bytes) +
                             " bytes of GPU memory are free (cudaMemGetInfo on device " + std::to_string(index) +
                             ")");
    }
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, desc.size);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // cudaErrorMemoryAllocation is not sticky; clear it
      throw OutOfMemoryError("[Device::make_heap] device heap '" + label + "': cudaMalloc of " +
                             std::to_string(desc.size) + " bytes failed: " + error_text(e));
    }
    native_alloc_added();
    mem.host = nullptr;
    mem.device_address = reinterpret_cast<uintptr_t>(p);
    mem.owner = std::shared_ptr<void>(p, [reaper](void* q) {
      reaper->post([q] {
        (void)cudaFree(q);
        native_alloc_removed();
      });
    });
  }
  return std::make_shared<Heap>(std::move(mem), desc.mode, label);
}

}  // namespace ut::cuda::detail
