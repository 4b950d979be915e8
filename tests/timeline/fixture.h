// Shared set-up for the conformance suite: the backend comes from UT_BACKEND (cpu|cuda).
// A backend that is not available here skips the test and says why (a failure under UT_REQUIRE_GPU=1, or for
// the Vulkan backend under UT_REQUIRE_UI=1).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>

#include "tests/common/skip.h"
#include "tests/timeline/test_kernels.h"
#include "timeline/device.h"
#include "timeline/error.h"

namespace ut::test {

inline std::string requested_backend() {
  const char* b = std::getenv("UT_BACKEND");
  return b != nullptr && *b != '\0' ? b : "cpu";
}

// Creates the device for this test, or nullptr where the backend is not available here (skip_reason() says why).
inline DevicePtr make_test_device(DeviceDesc desc = {}) {
  const std::string name = requested_backend();
  for (const auto& b : Device::backends()) {
    if (b.name == name && !b.available) return nullptr;
  }
  desc.backend = name;
  return Device::create(desc);
}

inline std::string skip_reason() {
  const std::string name = requested_backend();
  for (const auto& b : Device::backends()) {
    if (b.name == name) return "backend '" + name + "' is not available here: " + b.reason;
  }
  return "backend '" + name + "' is not built";
}

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_test_kernels();
    dev = make_test_device(desc());
    if (!dev) {
      // A Vulkan device is what CI has (lavapipe; UT_REQUIRE_UI=1), a CUDA one what the GPU check has
      // (UT_REQUIRE_GPU=1).
      if (requested_backend() == "vulkan") {
        UT_SKIP_NO_UI(skip_reason());
      } else {
        UT_SKIP_NO_GPU(skip_reason());
      }
    }
  }
  virtual DeviceDesc desc() { return {}; }

  DevicePtr dev;
  std::mt19937_64 rng{std::random_device{}()};
};

}  // namespace ut::test
