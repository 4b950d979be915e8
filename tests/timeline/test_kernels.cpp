#include "tests/timeline/test_kernels.h"

#include <stdexcept>

#include "timeline/kernel.h"

namespace ut::test {

void register_test_kernels() {
  kernels().add("ut_test.fill", "cpu", [](const DispatchContext& c) {
    auto* out = c.buffer<uint32_t>(0);
    const auto& a = c.constants<FillArgs>();
    for (uint64_t i = c.begin; i < c.end; ++i) out[i] = a.value + static_cast<uint32_t>(i) * a.stride;
  });
  kernels().add("ut_test.saxpy", "cpu", [](const DispatchContext& c) {
    const float* x = c.buffer<float>(0);
    float* y = c.buffer<float>(1);
    const float a = c.constants<SaxpyArgs>().a;
    for (uint64_t i = c.begin; i < c.end; ++i) y[i] = a * x[i] + y[i];
  });
  kernels().add("ut_test.add_u32", "cpu", [](const DispatchContext& c) {
    const uint32_t* in = c.buffer<uint32_t>(0);
    uint32_t* out = c.buffer<uint32_t>(1);
    const uint32_t k = c.constants<AddArgs>().k;
    for (uint64_t i = c.begin; i < c.end; ++i) out[i] = in[i] + k;
  });
  kernels().add("ut_test.fault", "cpu", [](const DispatchContext&) {
    throw std::runtime_error("ut_test.fault: deliberate kernel fault");
  });
#ifdef UT_HAVE_CUDA
  register_cuda_test_kernels();
#endif
#ifdef UT_TEST_VULKAN_KERNELS
  register_vulkan_test_kernels();
#endif
}

}  // namespace ut::test
