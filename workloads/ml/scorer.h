// Scorer: how likely a decoder finds a token sequence, through llama.cpp — perplexity on held-out text and
// the cross-check of a converted model against its training framework.
//
//   auto lm = ut::ml::Model::load("models/debian/debian-llama-spm-f16.gguf", ut::ml::ModelKind::decoder);
//   ut::ml::Scorer sc(lm);
//   auto s = sc.score(lm->tokenize(text, true, true));   // s.nll_sum / s.predicted: mean NLL in nats
//   double ppl = std::exp(s.mean_nll());
//
// Every token after the first is predicted from the ones before it (one llama_decode with logits for all
// positions); sequences longer than the context are an error, not silently cut. One call at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "workloads/ml/model.h"

struct llama_context;

namespace ut::ml {

class CpuThreadpool;

struct ScoreResult {
  double nll_sum = 0.0;       // sum of -log p(token | prefix) over the predicted tokens, in nats
  int64_t predicted = 0;      // tokens predicted (size - 1)
  int32_t greedy_next = -1;   // the most likely token after the whole sequence
  double mean_nll() const noexcept { return predicted ? nll_sum / static_cast<double>(predicted) : 0.0; }
};

class Scorer {
 public:
  explicit Scorer(ModelPtr model, int n_ctx = 0, int threads = 0);  // n_ctx 0: the model's training context
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  ScoreResult score(const std::vector<int32_t>& tokens);
  int n_ctx() const noexcept { return n_ctx_; }

 private:
  ModelPtr model_;
  std::unique_ptr<CpuThreadpool> pool_;  // outlives ctx_ (freed in the destructor body)
  llama_context* ctx_ = nullptr;
  int n_ctx_ = 0;
};

}  // namespace ut::ml
