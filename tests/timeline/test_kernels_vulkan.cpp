// Vulkan versions of the conformance kernels (same names and meaning as test_kernels.h; backend "vulkan"): GLSL in
// shaders/, compiled to SPIR-V at build time (cmake/UtVulkan.cmake).
#include <cstdint>
#include <stdexcept>

#include "add_u32.comp.h"
#include "backends/vulkan/device.h"
#include "fill.comp.h"
#include "saxpy.comp.h"
#include "tests/timeline/test_kernels.h"
#include "timeline/kernel.h"

namespace ut::test {

void register_vulkan_test_kernels() {
  constexpr uint32_t kLocal = 256;  // local_size_x of the shaders
  vulkan::add_kernel("ut_test.fill", {ut_spv_fill, sizeof(ut_spv_fill)}, kLocal);
  vulkan::add_kernel("ut_test.saxpy", {ut_spv_saxpy, sizeof(ut_spv_saxpy)}, kLocal);
  vulkan::add_kernel("ut_test.add_u32", {ut_spv_add_u32, sizeof(ut_spv_add_u32)}, kLocal);
  // A real GPU fault is VK_ERROR_DEVICE_LOST: the whole VkDevice is gone (lavapipe aborts the process). The
  // failing kernel is therefore one that fails while the queue records it, which exercises the same error flow.
  kernels().add("ut_test.fault", "vulkan", [](const DispatchContext&) {
    throw std::runtime_error("ut_test.fault: deliberate kernel fault");
  });
}

}  // namespace ut::test
