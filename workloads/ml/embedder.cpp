#include "workloads/ml/embedder.h"

#include <llama.h>

#include <algorithm>
#include <optional>
#include <cmath>
#include <cstring>

#include "workloads/ml/cpu_threadpool.h"
#include "workloads/ml/runtime.h"

namespace ut::ml {

std::span<const float> EmbedResult::row(std::size_t i) const {
  if (i >= count) throw UsageError("[EmbedResult::row] row " + std::to_string(i) + " of " + std::to_string(count));
  return {vectors.span<const float>().data() + (first_row + i) * dim, dim};
}

bool Embedder::abort_cb(void* self) {
  const auto* e = static_cast<const Embedder*>(self);
  return e->abort_check_ && e->abort_check_();
}

Embedder::Embedder(ModelPtr model, HeapPtr heap, EmbedderOptions opts)
    : model_(std::move(model)), heap_(std::move(heap)), opts_(opts) {
  if (!model_) throw UsageError("[Embedder::Embedder] no model");
  if (model_->kind() != ModelKind::embedder)
    throw ModelError("[Embedder::Embedder] " + model_->path() + ": is a " + to_string(model_->kind()) +
                     " model, not an embedder");
  if (opts_.batch_tokens < 8 || opts_.max_seqs < 1) throw UsageError("[Embedder::Embedder] batch too small");
  opts_.max_seqs = static_cast<int>(
      std::min<std::size_t>(static_cast<std::size_t>(opts_.max_seqs), llama_max_parallel_sequences()));
  // llama.cpp reserves its graph with n_batch / n_seq_max tokens per sequence and aborts (mean pooling) when
  // that does not divide evenly, so the batch is rounded up to a multiple of the sequence count.
  opts_.batch_tokens = (opts_.batch_tokens + opts_.max_seqs - 1) / opts_.max_seqs * opts_.max_seqs;
  const int train = model_->n_ctx_train();
  max_tokens_ = opts_.max_tokens > 0 ? opts_.max_tokens : train;
  max_tokens_ = std::min({max_tokens_, opts_.batch_tokens, train > 0 ? train : max_tokens_});
  const int threads = opts_.threads > 0 ? opts_.threads : model_->compute_threads();

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(opts_.batch_tokens);
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(opts_.batch_tokens);
  cp.n_seq_max = static_cast<uint32_t>(opts_.max_seqs);
  cp.n_threads = cp.n_threads_batch = threads_ = threads;
  cp.embeddings = true;
  cp.pooling_type = LLAMA_POOLING_TYPE_UNSPECIFIED;  // the model's own
  cp.no_perf = true;
  cp.abort_callback = &Embedder::abort_cb;
  cp.abort_callback_data = this;
  Runtime::clear_log();
  ctx_ = llama_init_from_model(model_->native(), cp);
  if (ctx_) {
    pool_ = std::make_unique<CpuThreadpool>(std::max(threads_, Runtime::threads()));
    pool_->attach(ctx_);
  }
  if (!ctx_)
    throw ModelError("[Embedder::Embedder] " + model_->path() + ": llama.cpp could not create a context (" +
                     Runtime::last_log() + ")");
  pooling_ = llama_pooling_type(ctx_);
  if (pooling_ == LLAMA_POOLING_TYPE_NONE || pooling_ == LLAMA_POOLING_TYPE_RANK) {
    llama_free(ctx_);
    throw ModelError("[Embedder::Embedder] " + model_->path() + ": the model declares no sentence pooling");
  }
  dim_ = llama_model_n_embd_out(model_->native());
  if (dim_ <= 0) dim_ = model_->n_embd();
}

Embedder::~Embedder() { llama_free(ctx_); }

void Embedder::set_threads(int n) {
  std::lock_guard lock(mutex_);
  threads_ = std::max(1, n);
  llama_set_n_threads(ctx_, threads_, threads_);
}

const char* Embedder::pooling() const noexcept {
  switch (pooling_) {
    case LLAMA_POOLING_TYPE_MEAN: return "mean";
    case LLAMA_POOLING_TYPE_CLS: return "cls";
    case LLAMA_POOLING_TYPE_LAST: return "last";
    default: return "other";
  }
}

EmbedResult Embedder::embed(const std::vector<std::string>& texts) {
  const std::size_t bytes = std::max<std::size_t>(1, texts.size() * static_cast<std::size_t>(dim_) * sizeof(float));
  Buffer out = heap_ ? heap_->allocate(bytes, 256, "embeddings")
                     : throw UsageError("[Embedder::embed] no heap given; use embed_into");
  return embed_into(texts, out, 0);
}

EmbedResult Embedder::embed_into(const std::vector<std::string>& texts, const Buffer& out, std::size_t first_row) {
  const std::size_t dim = static_cast<std::size_t>(dim_);
  if (out.size() < (first_row + texts.size()) * dim * sizeof(float))
    throw UsageError("[Embedder::embed_into] buffer '" + out.label() + "' holds " + std::to_string(out.size()) +
                     " bytes; " + std::to_string(texts.size()) + " rows of " + std::to_string(dim) +
                     " floats from row " + std::to_string(first_row) + " do not fit");
  std::lock_guard lock(mutex_);
  EmbedResult r;
  r.vectors = out;
  r.first_row = first_row;
  r.count = texts.size();
  r.dim = dim;
  r.input_tokens.resize(texts.size());
  r.truncated.assign(texts.size(), false);
  float* dst = out.span<float>().data() + first_row * dim;
  const llama_vocab* vocab = model_->vocab();
  const bool ends_with_sep = llama_vocab_get_add_sep(vocab) || llama_vocab_get_add_eos(vocab);

  std::vector<std::vector<int32_t>> toks(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    toks[i] = model_->tokenize(texts[i], /*add_special=*/true);
    r.input_tokens[i] = static_cast<int>(toks[i].size());
    if (toks[i].empty()) toks[i].push_back(llama_vocab_bos(vocab) >= 0 ? llama_vocab_bos(vocab) : 0);
    if (truncate_keeping_separator(toks[i], max_tokens_, ends_with_sep)) {
      r.truncated[i] = true;
      ++r.truncated_count;
    }
  }

  llama_batch batch = llama_batch_init(opts_.batch_tokens, 0, 1);
  struct BatchFree {
    llama_batch* b;
    ~BatchFree() { llama_batch_free(*b); }
  } free_batch{&batch};
  llama_memory_t mem = llama_get_memory(ctx_);

  std::size_t i = 0;
  while (i < texts.size()) {
    // Pack whole inputs until the token or sequence budget is reached.
    batch.n_tokens = 0;
    std::size_t first = i;
    int seqs = 0;
    while (i < texts.size() && seqs < opts_.max_seqs &&
           batch.n_tokens + static_cast<int>(toks[i].size()) <= opts_.batch_tokens) {
      for (std::size_t p = 0; p < toks[i].size(); ++p) {
        const int k = batch.n_tokens++;
        batch.token[k] = toks[i][p];
        batch.pos[k] = static_cast<llama_pos>(p);
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = seqs;
        batch.logits[k] = true;
      }
      r.total_tokens += toks[i].size();
      ++seqs;
      ++i;
    }
    if (mem) llama_memory_clear(mem, true);
    Runtime::clear_log();
    std::optional<Runtime::QuietErrors> quiet;  // a stop by the abort check logs an error: expected, not news
    if (abort_check_) quiet.emplace();
    const int32_t rc = llama_decode(ctx_, batch);
    quiet.reset();
    if (rc == 2 && abort_check_) {
      if (mem) llama_memory_clear(mem, true);
      throw EmbedAborted("[Embedder::embed] stopped by its abort check");
    }
    if (rc != 0)
      throw ModelError("[Embedder::embed] " + model_->path() + ": llama_decode returned " + std::to_string(rc) +
                       " (" + Runtime::last_log() + ")");
    for (int s = 0; s < seqs; ++s) {
      const float* e = llama_get_embeddings_seq(ctx_, s);
      if (!e) throw ModelError("[Embedder::embed] " + model_->path() + ": no pooled embedding for a sequence");
      float* row = dst + (first + static_cast<std::size_t>(s)) * dim;
      double norm = 0.0;
      for (std::size_t d = 0; d < dim; ++d) norm += static_cast<double>(e[d]) * e[d];
      const float scale = opts_.normalize && norm > 0.0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 1.0f;
      for (std::size_t d = 0; d < dim; ++d) row[d] = e[d] * scale;
    }
  }
  return r;
}

}  // namespace ut::ml
