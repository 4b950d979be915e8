// GenRun (internal): one generation's state after its prompt — the sampler, the text so far, stop strings,
// streaming into the ring and the end reasons. Shared by Generator (one sequence) and BatchedGenerator (many
// sequences in one llama_decode); the callers own the llama context, the KV cache and the prefill.
//
//   GenRun run(model, prompt, opts);            // empty stop strings dropped, sampler built
//   ... decode the prompt ...
//   int32_t tok = run.sample(llama_get_logits_ith(ctx, idx));   // the chain, the grammar, the logprobs
//   if (!run.on_sampled(tok)) { /* ended: run.result().reason says why */ }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
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
  // Runs with penalties go through the chain. A grammar checks only the drawn token; when it rejects it, the
  // grammar filters every candidate and the token is drawn again from what is left (llama.cpp's server does
  // the same: the answer follows the grammar either way, and most tokens cost one check, not a vocabulary).
  // With logprobs, the token's log-probability under the raw logits goes with it to on_sampled().
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
  int32_t draw(const float* logits, bool grammar_first);  // one token from the chain (after the grammar)
  bool grammar_accepts(int32_t tok, float logit);
  void compute_logprobs(const float* logits, int32_t tok);

  const Model& model_;
  std::vector<int32_t> prompt_;
  GenerateOptions opts_;
  llama_sampler* sampler_ = nullptr;  // the chain, without the grammar
  llama_sampler* grammar_ = nullptr;  // null: free text
  bool greedy_ = false;               // stateless arg-max: no chain needed
  std::vector<TokenLogprob> pending_lp_;     // the last sampled token's, until on_sampled takes it
  std::vector<TokenLogprob> unstreamed_lp_;  // the last accepted token's, until a stream event carries it
  std::vector<int32_t> top_ids_;
  std::vector<llama_token_data> cur_;  // candidates, reused between tokens
  GenerateResult result_;
  bool prefilled_ = false, done_ = false;
  std::size_t streamed_ = 0;  // bytes of result_.text already streamed
  uint32_t next_index_ = 0;
  std::chrono::steady_clock::time_point t0_, t_first_;
};

}  // namespace ut::ml
