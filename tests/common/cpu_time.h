// CPU time of this process (user + system, every thread), for tests that assert pacing without a wall-clock
// window: a timer-paced loop uses a small fraction of the wall time it spans, a busy loop about all of it.
//
//   const double c0 = ut::test::process_cpu_seconds();
//   ... wait on an event ...
//   EXPECT_LT(ut::test::process_cpu_seconds() - c0, 0.3 * wall_s);
#pragma once

#include <sys/resource.h>

namespace ut::test {

inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace ut::test
