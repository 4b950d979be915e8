// The GPU figures of `ut bench timeline` (cuda_timeline_bench()'s JSON) as samples, configuration and goals of a
// bench::Report, named as the converted files in docs/measurements name them (gpu_to_gpu_event, render_kernel_idle,
// copy_compute_overlap, ...; the peer side is "raw CUDA").
//
//   nlohmann::json cuda = ut::bench::cuda_timeline_bench(options);
//   ut::bench::add_cuda_figures(report, cuda);   // also sets the report's device to the card
#pragma once

#include <nlohmann/json.hpp>

#include "bench/report.h"

namespace ut::bench {

void add_cuda_figures(Report& report, const nlohmann::json& cuda);

}  // namespace ut::bench
