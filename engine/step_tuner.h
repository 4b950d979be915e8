// StepTuner: latency-driven prefill chunk size. A generation's prefill runs as one Q_ml command buffer per chunk,
// so the chunk decides how long other Q_ml work (embeddings for retrieval, the next chat) may have to wait. The
// tuner keeps the longest prefill step near a budget: a step over it halves the chunk; steps under a quarter of
// it in three generations in a row double it. Every change is logged with its reason.
//
//   ut::engine::StepTuner tuner({.min_chunk = 32, .max_chunk = 512, .step_budget_ms = 20}, /*start=*/128);
//   if (auto c = tuner.observe(result.max_prefill_step_ms, result.prefill_chunks, result.prompt_tokens))
//     generator.set_prefill_chunk(*c);
//   for (auto& line : tuner.log()) puts(line.c_str());
//
// On a GPU a 512-token step of a 0.5B decoder takes ~8 ms, so the chunk grows and time to first token drops
// (10 ms at 512 against 46 ms at 64, H200); on a 2-core CPU one 32-token step already takes longer than any
// frame, so it settles at the minimum, where other work waits least. Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ut::engine {

struct StepTunerConfig {
  int min_chunk = 32;
  int max_chunk = 512;
  double step_budget_ms = 20.0;  // longest acceptable single prefill step
};

class StepTuner {
 public:
  StepTuner(StepTunerConfig config, int start_chunk);

  // One finished generation: its longest prefill step, the number of prefill steps and the prompt length.
  // Returns the new chunk when it changed.
  std::optional<int> observe(double max_prefill_step_ms, int prefill_steps, int prompt_tokens);
  int chunk() const;
  std::vector<std::string> log() const;  // "prefill chunk 128 -> 64: longest step 31.0 ms > budget 20 ms"

 private:
  mutable std::mutex mutex_;
  StepTunerConfig config_;
  int chunk_;
  int fast_in_a_row_ = 0;
  std::vector<std::string> log_;
};

}  // namespace ut::engine
