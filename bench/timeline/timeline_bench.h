// `ut bench timeline`: the core's own costs, measured and saved (never pass/fail) — event wake-up latencies,
// command-buffer submit overhead, ring-buffer throughput, and the GPU figures of bench/cuda where a GPU is present.
//
//   ut::bench::TimelineBenchOptions o;
//   o.quick = true;
//   int rc = ut::bench::run_timeline_bench(o);   // prints a table, saves o.json_path
#pragma once

#include <string>

namespace ut::bench {

struct TimelineBenchOptions {
  std::string json_path;  // where to save results; empty: ut-bench-timeline.json
  std::string backend;    // empty: cpu
  bool quick = false;     // CI smoke: fewer iterations
};

// Returns 0; throws ut::Error when the file cannot be written.
int run_timeline_bench(const TimelineBenchOptions& o);

}  // namespace ut::bench
