#include "workloads/ml/scorer.h"

#include <llama.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "timeline/error.h"
#include "workloads/ml/cpu_threadpool.h"
#include "workloads/ml/runtime.h"

namespace ut::ml {

Scorer::Scorer(ModelPtr model, int n_ctx, int threads) : model_(std::move(model)) {
  if (!model_ || model_->kind() != ModelKind::decoder) throw UsageError("[Scorer] needs a decoder model");
  n_ctx_ = n_ctx > 0 ? std::min(n_ctx, model_->n_ctx_train()) : model_->n_ctx_train();
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(n_ctx_);
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = threads > 0 ? threads : model_->compute_threads();
  cp.no_perf = true;
  Runtime::clear_log();
  ctx_ = llama_init_from_model(model_->native(), cp);
  if (ctx_) {
    pool_ = std::make_unique<CpuThreadpool>(std::max(cp.n_threads, Runtime::threads()));
    pool_->attach(ctx_);
  }
  if (!ctx_)
    throw ModelError("[Scorer] " + model_->path() + ": llama.cpp could not create a context (" + Runtime::last_log() + ")");
}

Scorer::~Scorer() {
  if (ctx_) llama_free(ctx_);
}

ScoreResult Scorer::score(const std::vector<int32_t>& tokens) {
  if (tokens.size() < 2) throw UsageError("[Scorer::score] needs at least two tokens");
  if (static_cast<int>(tokens.size()) > n_ctx_)
    throw UsageError("[Scorer::score] " + std::to_string(tokens.size()) + " tokens do not fit the context of " +
                     std::to_string(n_ctx_));
  llama_memory_clear(llama_get_memory(ctx_), true);
  llama_batch batch = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = true;
  }
  batch.n_tokens = static_cast<int32_t>(tokens.size());
  Runtime::clear_log();
  const int32_t rc = llama_decode(ctx_, batch);
  llama_batch_free(batch);
  if (rc != 0)
    throw ModelError("[Scorer::score] " + model_->path() + ": llama_decode returned " + std::to_string(rc) + " (" +
                     Runtime::last_log() + ")");
  const int n_vocab = model_->n_vocab();
  ScoreResult r;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const float* logits = llama_get_logits_ith(ctx_, static_cast<int32_t>(i));
    const float mx = *std::max_element(logits, logits + n_vocab);
    if (i + 1 == tokens.size()) {
      r.greedy_next = static_cast<int32_t>(std::max_element(logits, logits + n_vocab) - logits);
      break;
    }
    double sum = 0.0;
    for (int v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(logits[v] - mx));
    r.nll_sum += std::log(sum) + mx - logits[tokens[i + 1]];  // -log softmax at the next token
    ++r.predicted;
  }
  return r;
}

}  // namespace ut::ml
