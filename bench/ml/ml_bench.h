// ML lane benchmarks behind `ut bench ml`: our lane (Embedder/Generator run as command buffers on Q_ml,
// tokens through the ring) against a bare llama.cpp loop on the same model, in the same process.
//
//   ut::bench::MlBenchConfig cfg{.quick = true, .models_dir = "models/synth"};
//   ut::bench::Report samples("ml");
//   ut::bench::MlBenchReport rep =
//       ut::bench::run_ml_bench(cfg, [](const std::string& line) { puts(line.c_str()); }, samples);
//   int rc = ut::bench::run_and_report_ml_bench(cfg, "ut-bench-ml.json");   // all of it: progress, table, file
//
// Placement: the GPU when ggml's CUDA backend found one (the report names it), else the CPU.
// Models: the real-size synthetic models in models_dir when present (`ut models synth --real`), else the tiny
// test models written to a temp folder (the report says which). Ours and bare run interleaved; the console
// table shows the best of `reps` (interference only adds time), the JSON every repetition, with the load average
// before and after, because llama.cpp's CPU threads slow down many times over when other processes share the cores.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace ut::bench {

class Report;

struct MlBenchConfig {
  bool quick = false;
  std::string models_dir = "models/synth";
  std::vector<int> embed_batches;   // empty: 1..256 (quick: 1, 8, 32)
  std::vector<int> ttft_prompts;    // empty: 128, 512, 2048 (quick: 128)
  std::vector<int> prefill_chunks;  // empty: 64, 256, 512 at a 512-token prompt (quick: none)
  int decode_tokens = 0;            // 0: 64 (quick 16)
  std::vector<int> batch_chats;     // concurrent chats decoded together; empty: 1, 4, 16 (quick: 1, 4)
  int reps = 0;                     // 0: 5 (quick 3); every figure is the median of the repetitions
};

struct EmbedPoint {
  int batch = 0;
  double embeddings_per_s = 0, tokens_per_s = 0, ms = 0;
};
struct TtftPoint {
  int prompt_tokens = 0, chunk = 0;
  double ms = 0, bare_ms = -1, max_step_ms = 0;
};
// Concurrent generations decoded together: ours (BatchedGenerator) vs a bare llama.cpp loop doing the same
// (one llama_decode per step for all sequences, a greedy sampler each), decode phase only.
struct BatchPoint {
  int chats = 0;
  double tokens_per_s = 0, bare_tokens_per_s = 0;  // all chats together; bare: llama.cpp's greedy sampler chain
  double bare_argmax_tokens_per_s = 0;              // bare, taking the arg-max of the logits as ours does
  double step_ms = 0, sample_ms = 0;               // ours, per step: llama_decode, then sampling
};
struct MlBenchReport {
  std::string machine, llama_system_info, load_before, load_after;
  std::string gpu;  // Runtime::gpu_name(): the models ran there; "" = the CPU
  int threads = 0;
  std::string embed_model, decode_model;
  bool real_models = false;
  std::vector<EmbedPoint> embed;
  double embed_lane_ms = 0, embed_bare_ms = 0;  // one batch (32 sentences) through the lane vs bare
  int embed_overhead_batch = 32;
  std::vector<TtftPoint> ttft;
  std::vector<TtftPoint> chunks;
  double reuse_ms = -1, no_reuse_ms = -1;  // second-turn TTFT with / without prefix reuse (512 + 32 tokens)
  // Bare loops sample two ways: llama.cpp's sampler chain with its greedy sampler (which builds a candidate array
  // over the whole vocabulary per token) and the arg-max of the logits, which is what our lane does for greedy.
  double decode_tps = 0, decode_bare_tps = 0, decode_bare_argmax_tps = 0;
  int decode_tokens = 0;
  std::vector<BatchPoint> batched;
  // GPU only: device-to-device copy bandwidth (bytes read + written per second) and the decode roofline it
  // implies, one read of every weight per token.
  double decoder_weight_bytes = 0, copy_bytes_per_s = 0, roofline_tps = 0;
  double seconds = 0;
};

// The configuration with every default filled in (what a run measures).
MlBenchConfig with_defaults(const MlBenchConfig& cfg);

// Measures; the medians come back for the table, every sample goes into `samples`.
MlBenchReport run_ml_bench(const MlBenchConfig& cfg, const std::function<void(const std::string&)>& progress,
                           Report& samples);

// run_ml_bench with progress on stdout, then the table and the JSON file (what `ut bench ml` prints). Returns 0.
int run_and_report_ml_bench(const MlBenchConfig& cfg, const std::string& json_path);

}  // namespace ut::bench
