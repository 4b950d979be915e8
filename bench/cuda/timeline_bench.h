// GPU figures for `ut bench timeline` (CUDA builds): event latencies through SharedEvent vs raw stream memory ops,
// GPU->host notify and host->GPU release latency, render-queue QoS under load (priorities, green contexts), and
// copy/compute overlap. Needs a CUDA device; the caller checks ut::cuda::probe() first.
//
//   ut::bench::CudaBenchOptions o;  o.quick = true;
//   nlohmann::json j = ut::bench::cuda_timeline_bench(o);   // {"card": "NVIDIA H100 80GB HBM3", ...}
#pragma once

#include <nlohmann/json.hpp>

namespace ut::bench {

struct CudaBenchOptions {
  bool quick = false;      // fewer iterations (CI smoke / first look)
  int iterations = 0;      // samples per latency figure; 0 = 200 (quick) or 1000
  int device_index = 0;
  bool print = true;       // print a summary table to stdout
};

nlohmann::json cuda_timeline_bench(const CudaBenchOptions& options);

}  // namespace ut::bench
