// One monotonic clock for every timestamp in the timeline (trace, stats, latencies).
//
//   uint64_t t0 = ut::now_ns();  ...  double ms = (ut::now_ns() - t0) / 1e6;
#pragma once

#include <chrono>
#include <cstdint>

namespace ut {

// Nanoseconds on std::chrono::steady_clock; the trace's time base.
inline uint64_t now_ns() noexcept {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace ut
