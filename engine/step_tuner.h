// StepTuner: a latency-driven size for work that runs as steps on Q_ml — the tokens of a batched decode step
// (running chats' next tokens plus prefill; one command buffer a step) and the background embedding batch (one
// host task per batch of document chunks).
// The size decides how long other Q_ml work (embeddings for retrieval, the next chat) may have to wait. The
// tuner keeps the longest step near a budget: a step over it halves the size; full-size steps under a share of it
// (a quarter by default) three times in a row double it. Every change is logged with its reason.
//
//   ut::engine::StepTuner tuner({.min_chunk = 32, .max_chunk = 2048, .confirm_over = 2}, /*start=*/2048);
//   if (auto c = tuner.observe_step(prefill_ms, /*full=*/step.decoded + step.prefilled >= gen.step_tokens()))
//     gen.set_step_tokens(*c);
//   // one whole generation instead: tuner.observe(result.max_prefill_step_ms, result.prefill_chunks, prompt)
//   ut::engine::StepTuner batch({.min_chunk = 1, .max_chunk = 32, .what = "embedding batch"}, 32);
//   batch.observe_step(batch_ms, /*full=*/chunks == batch.chunk());
//   for (auto& line : tuner.log()) puts(line.c_str());
//
// On a GPU a 1024-token step of a 0.5B decoder adds ~15 ms, so the step stays large and time to first token low
// (H200: 2048 -> 1024 under 16 concurrent chats). On a CPU the Assistant gives decode steps a 40 ms budget
// (AssistantConfig::cpu_step_budget_ms): smaller steps only spread a prompt over more of them. Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ut::engine {

struct StepTunerConfig {
  int min_chunk = 32;
  int max_chunk = 512;
  double step_budget_ms = 20.0;  // longest acceptable single step
  std::string what = "prefill chunk";  // names the size in the log
  // Steps over budget in a row before halving: 2 lets one spike pass (a new batch shape makes llama.cpp
  // build and allocate its graph once, 78 ms on an H200 where the steady step takes 4 ms).
  int confirm_over = 1;
  // Full steps under this share of the budget, three in a row, double the size. 1/4 leaves room for steps whose
  // time grows faster than their size; for work whose cost is linear in the size (an embedding batch) a step under
  // 0.47 of the budget still fits after doubling.
  double grow_below = 0.25;
};

class StepTuner {
 public:
  StepTuner(StepTunerConfig config, int start_chunk);

  // One finished generation: its longest prefill step, the number of prefill steps and the prompt length.
  // Returns the new chunk when it changed.
  std::optional<int> observe(double max_prefill_step_ms, int prefill_steps, int prompt_tokens);
  // One step of the current size (`full`: it had a whole chunk's worth of work, so its time says how the size
  // performs; a short step can still halve the size but never grows it). Returns the new size when it changed.
  std::optional<int> observe_step(double step_ms, bool full);
  int chunk() const;
  double budget_ms() const { return config_.step_budget_ms; }
  std::vector<std::string> log() const;  // "prefill chunk 128 -> 64: longest step 31.0 ms > budget 20 ms"

 private:
  std::optional<int> observe_locked(double step_ms, bool full);
  mutable std::mutex mutex_;
  StepTunerConfig config_;
  int chunk_;
  int fast_in_a_row_ = 0, slow_in_a_row_ = 0;
  std::vector<std::string> log_;
};

}  // namespace ut::engine
