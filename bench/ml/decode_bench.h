// `ut bench decode`: the own GPU decode path (GpuDecoder: our kernels as command buffers on a CUDA timeline queue,
// replayed as one graph per step) against llama.cpp's CUDA backend on the same GGUF file, on the same card, in the
// same process, with the weight-bandwidth roofline measured there too. Batch-1 greedy decode, interleaved runs,
// medians of the repetitions; the roofline from device-to-device copies on the same timeline queue; llama.cpp as a bare loop taking the arg-max (as ours does) and through its sampler
// chain; llama.cpp's batched decode of 16 chats. Needs a CUDA GPU (and ggml's CUDA backend): says so otherwise.
//
//   ut::bench::DecodeBenchConfig cfg;                          // Qwen2.5-0.5B shape, F16, 256 tokens, 5 reps
//   int rc = ut::bench::run_and_report_decode_bench(cfg, "own-decode.json");
//
// The JSON is the one schema (ut-bench/1) plus an "own_decode" object with the figures named by the plan
// (roofline_tok_s, own_decode_tok_s, llama_cpp_decode_tok_s, ...; null where not measured).
#pragma once

#include <string>

namespace ut::bench {

struct DecodeBenchConfig {
  std::string model;                     // a GGUF decoder; empty: models_dir's Qwen2.5-0.5B shape (written if absent)
  std::string models_dir = "models/synth";
  int tokens = 256;                      // generated per run (the first comes from the prompt's last step)
  int prompt = 32;                       // random prompt tokens before each run
  int reps = 5;
  int chats = 16;                        // llama.cpp's batched decode (0: skip)
  bool own_only = false;                 // no llama.cpp side (a GPU without ggml's CUDA backend): no comparison
};

int run_and_report_decode_bench(const DecodeBenchConfig& cfg, const std::string& json_path);

}  // namespace ut::bench
