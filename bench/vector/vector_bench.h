// `ut bench vector`: hnswlib on the CPU vs exact top-k (CPU, and the best device's kernels), at recall@10 >= 0.95,
// on seeded random unit vectors.
//
//   ut::bench::VectorBenchOptions o;
//   o.n = 10'000;
//   int rc = ut::bench::run_vector_bench(o);   // prints a table, saves o.json_path
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ut::bench {

struct VectorBenchOptions {
  std::size_t n = 100'000, dim = 384, queries = 200, k = 10;
  std::size_t device_queries = 0;  // queries timed on the device in one batch (0: --queries); recall uses --queries
  bool quick = false, no_hnsw = false;
  std::string json_path = "ut-bench-vector.json";
  uint64_t seed = 1;
};

// Returns 0; throws ut::Error when the file cannot be written.
int run_vector_bench(const VectorBenchOptions& o);

}  // namespace ut::bench
