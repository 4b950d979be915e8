// GenRun (internal): one generation's state after its prompt — the sampler, the text so far, stop strings,
// streaming into the ring and the end reasons. Shared by Generator (one sequence) and BatchedGenerator (many
// sequences in one llama_decode); the callers own the llama context, the KV cache and the prefill.
//
//   GenRun run(model, prompt, opts);            // empty stop strings dropped, sampler built
//   ... decode the prompt ...
//   int32_t tok = llama_sampler_sample(run.sampler(), ctx, idx);
//   if (!run.on_sampled(tok)) { /* ended: run.result().reason says why */ }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "workloads/ml/generator.h"

struct llama_sampler;
struct llama_token_data;

namespace ut::ml {

class GenRun {
 public:
  GenRun(const Model& model, std::vector<int32_t> prompt, GenerateOptions o);
  ~GenRun();
  GenRun(const GenRun&) = delete;
  GenRun& operator=(const GenRun&) = delete;

  llama_sampler* sampler() const noexcept { return sampler_; }
  const std::vector<int32_t>& prompt() const noexcept { return prompt_; }
  GenerateResult& result() noexcept { return result_; }
  bool cancel_requested() const noexcept {
    return opts_.cancel && opts_.cancel->load(std::memory_order_relaxed);
  }
  bool done() const noexcept { return done_; }
  bool prefilled() const noexcept { return prefilled_; }
  int generated() const noexcept { return static_cast<int>(result_.tokens.size()); }
  int max_tokens() const noexcept { return opts_.max_tokens; }

  // Prompt tokens whose KV is computed (reused or decoded); the next prefill chunk starts here.
  std::size_t prefill_pos = 0;

  // Samples from one row of logits (n_vocab floats) and accepts the token into the sampler. Touches only this
  // run, so different runs may sample on different threads. Greedy runs take the arg-max directly (masking
  // end-of-generation tokens under ignore_eog): the chain's answer without building the candidate array.
  // Runs with stateful samplers (penalties, a grammar) always go through the chain.
  int32_t sample(const float* logits);
  // One sampled token: the first one fixes the time to first token. Appends its text, ends the run on an
  // end-of-generation token, a stop string or max_tokens, streams what is safe. False when the run ended.
  bool on_sampled(int32_t tok);
  // Ends the run (idempotent): decode time, the final stream event with any held-back text.
  void end(StopReason reason);
  // The longest llama_decode this run took part in, and the longest prefill chunk.
  void note_step(double ms, bool prefill) noexcept;
  // A run that failed is over without a final stream event (its waiter gets the error instead).
  void abandon() noexcept { done_ = true; }

 private:
  void emit(std::string text, int32_t id, bool last);

  const Model& model_;
  std::vector<int32_t> prompt_;
  GenerateOptions opts_;
  llama_sampler* sampler_ = nullptr;
  std::vector<llama_token_data> cur_;  // candidates, reused between tokens
  GenerateResult result_;
  bool prefilled_ = false, done_ = false;
  std::size_t streamed_ = 0;  // bytes of result_.text already streamed
  uint32_t next_index_ = 0;
  std::chrono::steady_clock::time_point t0_, t_first_;
};

}  // namespace ut::ml
