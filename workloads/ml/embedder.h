// Embedder: batched sentence embeddings with the model's own pooling, L2-normalised, written into a Buffer
// (the plan's B_embed) from a shared heap.
//
//   auto model = ut::ml::Model::load("bge-small.gguf", ut::ml::ModelKind::embedder);
//   auto heap = device->make_heap({.size = 16 << 20, .mode = ut::StorageMode::shared, .label = "B_embed"});
//   ut::ml::Embedder emb(model, heap, {.max_tokens = 256});
//   ut::ml::EmbedResult r = emb.embed({"first text", "second text"});
//   std::span<const float> v0 = r.row(0);          // dim() floats, |v0| == 1
//   if (r.truncated_count) { /* r.truncated[i]: input i was cut to max_tokens (r.input_tokens[i] before) */ }
//
// Contract
// - Pooling is what the model file declares (mean, CLS, last); a model without pooling is rejected.
// - Inputs longer than max_tokens are cut (keeping the final separator token where the model adds one) and
//   flagged in the result; nothing is dropped silently.
// - Inputs are packed into batches of up to batch_tokens tokens and max_seqs sequences; the result does not
//   depend on how inputs were packed beyond float rounding (tested: batch vs one-by-one).
// - One call at a time per Embedder (calls are serialised by a mutex); use one Embedder per thread/queue.
// - Abort: with set_abort_check(fn), llama.cpp asks fn between the graph's operations (CPU backend) and a call
//   whose fn returned true throws EmbedAborted: nothing was written, the texts are to be embedded again later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "timeline/heap.h"
#include "workloads/ml/model.h"

struct llama_context;

namespace ut::ml {

class CpuThreadpool;

struct EmbedderOptions {
  int max_tokens = 0;      // per input; 0: the model's training context (512 for bge)
  // Tokens and inputs per llama_decode call. Non-causal attention over a batch costs batch_tokens^2 per head
  // (masked across inputs), so bigger is not faster beyond ~1k tokens.
  int batch_tokens = 1024;
  int max_seqs = 64;
  int threads = 0;         // 0: Runtime::threads()
  bool normalize = true;   // L2-normalise (the default callers rely on)
};

struct EmbedResult {
  Buffer vectors;                   // row-major floats; this call's rows start at first_row
  std::size_t first_row = 0;
  std::size_t count = 0, dim = 0;
  std::vector<int> input_tokens;    // tokens of each input before truncation
  std::vector<bool> truncated;      // input i was cut to max_tokens
  std::size_t truncated_count = 0;
  std::size_t total_tokens = 0;     // tokens actually run
  std::span<const float> row(std::size_t i) const;
};

// An embed() stopped by the abort check (see set_abort_check).
class EmbedAborted : public ut::Error {
 public:
  using ut::Error::Error;
};

class Embedder {
 public:
  Embedder(ModelPtr model, HeapPtr heap, EmbedderOptions opts = {});
  ~Embedder();
  Embedder(const Embedder&) = delete;
  Embedder& operator=(const Embedder&) = delete;

  // Allocates the output from the heap (throws OutOfMemoryError naming the heap when it does not fit).
  EmbedResult embed(const std::vector<std::string>& texts);
  // Writes into `out` starting at row `first_row` (out must hold (first_row + texts.size()) * dim floats).
  EmbedResult embed_into(const std::vector<std::string>& texts, const Buffer& out, std::size_t first_row = 0);

  // CPU threads for the next calls (llama_set_n_threads; a budget sets it per step); threads() is the count now.
  void set_threads(int n);
  int threads() const noexcept { return threads_; }
  // Asked while a call computes (from ggml's threads); true stops the call with EmbedAborted. Set and clear it
  // between calls, on the thread that makes them; nullptr: never stop.
  void set_abort_check(std::function<bool()> check) { abort_check_ = std::move(check); }

  int dim() const noexcept { return dim_; }
  int max_tokens() const noexcept { return max_tokens_; }
  const char* pooling() const noexcept;
  const ModelPtr& model() const noexcept { return model_; }

 private:
  ModelPtr model_;
  HeapPtr heap_;
  EmbedderOptions opts_;
  std::unique_ptr<CpuThreadpool> pool_;  // outlives ctx_ (freed in the destructor body)
  llama_context* ctx_ = nullptr;
  int dim_ = 0, max_tokens_ = 0, pooling_ = 0, threads_ = 0;
  std::function<bool()> abort_check_;
  std::mutex mutex_;
  static bool abort_cb(void* self);
};

}  // namespace ut::ml
