// The one way a test skips for want of hardware or a tool: it says why, and where the run requires that
// hardware the skip is a failure instead.
//
//   if (!dev) UT_SKIP_NO_GPU("no usable CUDA device here: " + reason);   // GPU, driver, CUDA backend
//   if (!have_chromium) UT_SKIP_NO_UI("chromium is not installed");       // Vulkan device, display, browser
//
// UT_REQUIRE_GPU=1 (the GPU check, scripts/gpu/check.sh) turns UT_SKIP_NO_GPU into a failure; UT_REQUIRE_UI=1 (CI,
// .ci/run) does the same for UT_SKIP_NO_UI. Both return from the calling function (test body or SetUp), like
// GTEST_SKIP and FAIL. ctest lists a test whose cases all skipped as Skipped (SKIP_REGULAR_EXPRESSION on GoogleTest's
// "[  SKIPPED ]" line): the GPU suites are ctest entries of their own in which every case skips for the same reason.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace ut::test {

// True when the environment variable `name` is set to something other than "" or "0".
inline bool required(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

}  // namespace ut::test

#define UT_SKIP_UNLESS_REQUIRED_(var, reason)                                  \
  do {                                                                        \
    const std::string ut_skip_reason_ = (reason);                             \
    if (::ut::test::required(var)) {                                          \
      FAIL() << var "=1, but: " << ut_skip_reason_;                           \
    } else {                                                                  \
      GTEST_SKIP() << ut_skip_reason_;                                        \
    }                                                                         \
  } while (0)

#define UT_SKIP_NO_GPU(reason) UT_SKIP_UNLESS_REQUIRED_("UT_REQUIRE_GPU", reason)
#define UT_SKIP_NO_UI(reason) UT_SKIP_UNLESS_REQUIRED_("UT_REQUIRE_UI", reason)
