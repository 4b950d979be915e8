// The data engine's benchmark (`ut bench data`, and the standalone ut_data_bench for GPU machines):
// GROUP BY over a synthetic lineitem table, our pre-aggregation (DuckDB scan -> heap -> kernels) against
// DuckDB alone, on the same query and machine, in one run; several group counts; JSON saved.
//
//   auto dev = ut::Device::create({.backend = "cuda"});
//   ut::data::run_data_bench(dev, {.rows = 10'000'000}, {.cpu = "AMD EPYC", .cores = 16, .memory_bytes = ...});
//
// Every repetition's kernel result is checked against DuckDB's (same groups; integer columns exact, doubles
// within 1e-9 relative); a mismatch is printed and recorded ("verified": false), never hidden.
#pragma once

#include <cstdint>
#include <string>

#include "timeline/device.h"

namespace ut::data {

struct DataBenchOptions {
  uint64_t rows = 10'000'000;
  bool quick = false;  // at most 1M rows, one repetition
  std::string json_path = "ut-bench-data.json";
  int reps = 3;        // repetitions of DuckDB, ours cold and ours warm per query (medians reported)
  uint64_t seed = 42;
};

struct MachineInfo {
  std::string cpu;
  unsigned cores = 0;
  uint64_t memory_bytes = 0;
};

// Returns 0, or 1 if a kernel result differed from DuckDB's.
int run_data_bench(DevicePtr device, const DataBenchOptions& options, const MachineInfo& machine);

}  // namespace ut::data
