// A fuzz target's own checks: unlike assert(), FUZZ_CHECK stays on in release builds, and it aborts, which both
// libFuzzer and the corpus replay (ctest) report as a failure with the message.
//
//   FUZZ_CHECK(chunk.end <= text.size(), "chunk past the end");
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, msg)                                                                  \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, msg, #cond); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)
