// CUDA versions of the conformance kernels (same names and meaning as test_kernels.h; backend "cuda").
// Each launches on DispatchContext::native_queue and never synchronizes.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "tests/timeline/test_kernels.h"
#include "timeline/kernel.h"

namespace ut::test {
namespace {

constexpr unsigned kBlock = 256;

unsigned blocks_for(uint64_t n) { return static_cast<unsigned>((n + kBlock - 1) / kBlock); }
cudaStream_t stream_of(const DispatchContext& c) { return static_cast<cudaStream_t>(c.native_queue); }

__global__ void fill_kernel(uint32_t* out, uint64_t n, FillArgs a) {
  const uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = a.value + static_cast<uint32_t>(i) * a.stride;
}

__global__ void saxpy_kernel(const float* x, float* y, uint64_t n, float a) {
  const uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

__global__ void add_u32_kernel(const uint32_t* in, uint32_t* out, uint64_t n, uint32_t k) {
  const uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = in[i] + k;
}

// A store to an address no allocation covers: the GPU raises cudaErrorIllegalAddress (a sticky error).
__global__ void fault_kernel(int* target) { *reinterpret_cast<volatile int*>(target) = 42; }

}  // namespace

void register_cuda_test_kernels() {
  kernels().add("ut_test.fill", "cuda", [](const DispatchContext& c) {
    const uint64_t n = c.grid.count();
    if (n == 0) return;
    fill_kernel<<<blocks_for(n), kBlock, 0, stream_of(c)>>>(c.buffer<uint32_t>(0), n, c.constants<FillArgs>());
  });
  kernels().add("ut_test.saxpy", "cuda", [](const DispatchContext& c) {
    const uint64_t n = c.grid.count();
    if (n == 0) return;
    saxpy_kernel<<<blocks_for(n), kBlock, 0, stream_of(c)>>>(c.buffer<float>(0), c.buffer<float>(1), n,
                                                             c.constants<SaxpyArgs>().a);
  });
  kernels().add("ut_test.add_u32", "cuda", [](const DispatchContext& c) {
    const uint64_t n = c.grid.count();
    if (n == 0) return;
    add_u32_kernel<<<blocks_for(n), kBlock, 0, stream_of(c)>>>(c.buffer<uint32_t>(0), c.buffer<uint32_t>(1), n,
                                                               c.constants<AddArgs>().k);
  });
  kernels().add("ut_test.fault", "cuda", [](const DispatchContext& c) {
    fault_kernel<<<1, 1, 0, stream_of(c)>>>(reinterpret_cast<int*>(uintptr_t{0x10}));
  });
}

}  // namespace ut::test
