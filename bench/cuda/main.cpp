// ut_cuda_bench [--quick] [--json PATH]: the GPU part of `ut bench timeline`, stand-alone; the same samples and
// goals in the same schema (bench/report.h), without the host-side figures.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "backends/cuda/device.h"
#include "bench/cuda/cuda_report.h"
#include "bench/cuda/timeline_bench.h"
#include "bench/report.h"

int main(int argc, char** argv) {
  ut::bench::CudaBenchOptions o;
  std::string path = "cuda-timeline.json";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      o.quick = true;
    } else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json PATH]\n", argv[0]);
      return 2;
    }
  }
  const auto info = ut::cuda::probe();
  if (!info.available) {
    std::printf("GPU figures skipped: %s\n", info.reason.c_str());
    return 0;
  }
  try {
    ut::bench::Report r("timeline");
    r.config() = {{"quick", o.quick}};
    ut::bench::add_cuda_figures(r, ut::bench::cuda_timeline_bench(o));
    r.add_note("GPU figures only (ut_cuda_bench): `ut bench timeline` adds the host-side ones");
    r.write(path);
    std::printf("saved %s\n", path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ut_cuda_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
