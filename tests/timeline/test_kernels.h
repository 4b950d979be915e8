// Kernels the conformance suite dispatches; every backend registers the same names with the same meaning.
//   ut_test.fill     buffers {out:u32[n]}            consts FillArgs   out[i] = value + i * stride
//   ut_test.saxpy    buffers {x:f32[n], y:f32[n]}    consts SaxpyArgs  y[i] = a * x[i] + y[i]
//   ut_test.add_u32  buffers {a:u32[n], out:u32[n]}  consts AddArgs    out[i] = a[i] + k
//   ut_test.fault    buffers {}                      consts none       fails (CPU: throws; CUDA: illegal address;
//                                                                       Vulkan: throws while the queue records it)
#pragma once

#include <cstdint>

namespace ut::test {

struct FillArgs {
  uint32_t value;
  uint32_t stride;
};
struct SaxpyArgs {
  float a;
};
struct AddArgs {
  uint32_t k;
};

// Registers the CPU versions (and, in CUDA builds, the CUDA versions; in targets with the Vulkan kernels, those).
// Idempotent.
void register_test_kernels();
#ifdef UT_HAVE_CUDA
void register_cuda_test_kernels();  // defined in test_kernels.cu
#endif
#ifdef UT_TEST_VULKAN_KERNELS
void register_vulkan_test_kernels();  // defined in test_kernels_vulkan.cpp (ut_vulkan_test_kernels in CMake)
#endif

}  // namespace ut::test
