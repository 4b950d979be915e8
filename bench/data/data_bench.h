// The data engine's benchmark (`ut bench data`, and the standalone ut_data_bench for GPU machines):
// GROUP BY over a synthetic lineitem table, our pre-aggregation (DuckDB scan -> heap -> kernels) against
// DuckDB alone, on the same query and machine, in one run; several group counts; JSON saved.
//
//   int rc = ut::bench::run_data_bench({.rows = 10'000'000, .backend = "cuda"});
//
// Every repetition's kernel result is checked against DuckDB's (same groups; integer columns exact, doubles
// within 1e-9 relative); a mismatch is printed and recorded ("verified": false), never hidden.
#pragma once

#include <cstdint>
#include <string>

namespace ut::bench {

struct DataBenchOptions {
  uint64_t rows = 10'000'000;
  bool quick = false;  // at most 1M rows, one repetition
  std::string json_path = "ut-bench-data.json";
  int reps = 3;        // repetitions of DuckDB, ours cold and ours warm per query (medians reported)
  uint64_t seed = 42;
  std::string backend;  // the kernels' backend; empty: a GPU with data kernels, else cpu
};

// Returns 0, or 1 if a kernel result differed from DuckDB's.
int run_data_bench(const DataBenchOptions& options);

}  // namespace ut::bench
