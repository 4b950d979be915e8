// ut_ml_bench: `ut bench ml` without the rest of `ut` (DuckDB, Vulkan, the server), so the GPU machine can run the
// ML lane's benchmark from a small carried binary. Same measurements, table and JSON.
//
//   ut_ml_bench [--quick] [--models DIR] [--synth] [--json PATH]
//   ut_ml_bench --decode [--models DIR] [--json PATH]     (`ut bench decode`: the own CUDA decode path)
#include <cstdio>
#include <filesystem>
#include <string>

#include "timeline/error.h"
#include "bench/ml/decode_bench.h"
#include "bench/ml/ml_bench.h"
#include "workloads/ml/synth.h"

int main(int argc, char** argv) {
  ut::bench::MlBenchConfig cfg;
  std::string json = "ut-bench-ml.json";
  bool synth = false, decode = false, own_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      cfg.quick = true;
    } else if (a == "--decode") {
      decode = true;
    } else if (a == "--own-only") {
      own_only = true;
    } else if (a == "--synth") {
      synth = true;
    } else if ((a == "--models" || a == "--json") && i + 1 < argc) {
      (a == "--models" ? cfg.models_dir : json) = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: ut_ml_bench [--decode] [--quick] [--models DIR] [--synth] [--json PATH]\n"
                   "  --decode       `ut bench decode` instead: the own CUDA decode path vs llama.cpp (needs a GPU)\n"
                   "  --own-only     with --decode: the own path alone (no llama.cpp side)\n"
                   "  --quick        a short run (fewer batches, prompts and repetitions)\n"
                   "  --models DIR   real-size synthetic models from `ut models synth --real` (default models/synth;\n"
                   "                 tiny test models when they are missing)\n"
                   "  --synth        first write the real-size models into DIR where missing (~1.1 GB)\n"
                   "  --json PATH    where to save the results (default ut-bench-ml.json)\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  try {
    if (synth) {
      for (const auto& spec : {ut::ml::SynthSpec::bge_small(), ut::ml::SynthSpec::qwen25_05b()}) {
        const std::string path = cfg.models_dir + "/" + spec.file_name;
        if (std::filesystem::exists(path)) continue;
        std::filesystem::create_directories(cfg.models_dir);
        std::printf("writing %s ...\n", path.c_str());
        std::fflush(stdout);
        ut::ml::write_synthetic_model(spec, path);
      }
    }
    if (decode) {
      ut::bench::DecodeBenchConfig d;
      d.models_dir = cfg.models_dir;
      d.own_only = own_only;
      return ut::bench::run_and_report_decode_bench(d, json == "ut-bench-ml.json" ? "ut-bench-decode.json" : json);
    }
    return ut::bench::run_and_report_ml_bench(cfg, json);
  } catch (const ut::Error& e) {
    std::fprintf(stderr, "ut_ml_bench: %s\n", e.what());
    return 1;
  }
}
