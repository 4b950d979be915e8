// Shared set-up for the CUDA backend tests: every GPU test skips, saying why, where no CUDA device is present
// (a failure under UT_REQUIRE_GPU=1).
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "backends/cuda/device.h"
#include "tests/common/skip.h"
#include "tests/timeline/test_kernels.h"
#include "timeline/device.h"
#include "timeline/error.h"

namespace ut::test {

// Empty when CUDA is usable here, else why not.
inline std::string cuda_unavailable() {
  const BackendInfo info = ut::cuda::probe();
  return info.available ? std::string() : "no usable CUDA device here: " + info.reason;
}

#define UT_SKIP_WITHOUT_CUDA()                                                \
  do {                                                                        \
    if (const std::string why = ::ut::test::cuda_unavailable(); !why.empty()) \
      UT_SKIP_NO_GPU(why);                                                    \
  } while (0)

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UT_SKIP_WITHOUT_CUDA();
    register_test_kernels();
    dev = ut::cuda::make_device_with(desc(), options());
  }
  virtual DeviceDesc desc() { return {}; }
  virtual ut::cuda::Options options() { return {}; }

  DevicePtr dev;
  std::mt19937_64 rng{std::random_device{}()};
};

}  // namespace ut::test
