// BatchedGenerator: many generations decoded together — every running chat's next token and the queued
// prompts' prefill chunks go into one llama_decode per step (continuous batching), so N concurrent chats
// cost about one forward pass per token instead of N.
//
//   auto model = ut::ml::Model::load("qwen.gguf", ut::ml::ModelKind::decoder);
//   ut::ml::BatchedGenerator gen(model, {.slots = 8, .n_ctx = 2048, .step_tokens = 256});
//   gen.submit(gen.tokenize_chat({{"user", "Hi"}}), {.max_tokens = 64, .ring = &ring},
//              [](ut::ml::GenerateResult r, std::exception_ptr err) { /* on the stepping thread */ });
//   while (gen.step()) {}        // the ML lane calls step() once per command buffer
//
// Contract
// - Per generation, the same as Generator: chat template, sampling (a sampler per generation, so a seed
//   gives the same tokens alone or batched), streaming into its ring, stop strings, max_tokens, ignore_eog,
//   cancellation (checked before every step), context_full at the sequence's n_ctx.
// - Slots: at most `slots` generations run at once, each in its own KV sequence of n_ctx tokens; more wait
//   in submission order. A new generation takes the free slot whose cached tokens share the longest prefix
//   with its prompt (result.reused_tokens), so a follow-up turn reuses its conversation's KV.
// - One step: each decoding generation's next token first, then prefill chunks of waiting prompts, oldest
//   first, up to step_tokens in all (at least one prompt token when nothing decodes). set_step_tokens() is the
//   latency knob: a step's time is what a decoding chat waits for each of its tokens.
// - `done` runs exactly once per submission, on the thread that calls step(), outside any lock. A failed
//   llama_decode fails the generations in that batch (done gets the error) and clears their sequences; a sampler
//   that throws fails only its own generation (its sequence cleared, the others go on).
// - submit() and the queries are thread-safe; step() is called by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "workloads/ml/generator.h"

struct llama_batch;

namespace ut::ml {

class CpuThreadpool;

class GenRun;

struct BatchedGeneratorOptions {
  int slots = 4;           // generations decoded together (KV sequences)
  int n_ctx = 2048;        // tokens per sequence, capped at the model's training context
  int step_tokens = 256;   // tokens per llama_decode: decode tokens first, the rest prefill
  int max_step_tokens = 0; // the most set_step_tokens() may set (sizes llama's batch); 0: step_tokens
  int threads = 0;         // 0: the model's compute threads
  // One KV cache for all sequences (attention masks the others' cells). With a stream per sequence llama.cpp
  // must split a batch that mixes one chat's prefill with the others' decode tokens into several passes: on an
  // H200 with 16 chats that cost 2x the time to first token (ut serve, 2048 tokens a step).
  bool unified_kv = true;
};

// What one step() did; the tuner reads it.
struct BatchStep {
  int decoded = 0;    // generations that got a token
  int prefilled = 0;  // prompt tokens computed
  int sequences = 0;  // generations in the batch
  double ms = 0.0;         // the llama_decode call until its results are ready
  double sample_ms = 0.0;  // sampling every generation that got logits (on the CPU, after the decode)
};

class BatchedGenerator {
 public:
  using Done = std::function<void(GenerateResult, std::exception_ptr)>;

  explicit BatchedGenerator(ModelPtr model, BatchedGeneratorOptions opts = {});
  ~BatchedGenerator();
  BatchedGenerator(const BatchedGenerator&) = delete;
  BatchedGenerator& operator=(const BatchedGenerator&) = delete;

  std::vector<int32_t> tokenize_chat(const std::vector<ChatMessage>& messages);

  // Queues one generation (any thread). Throws UsageError for an empty prompt or one that does not fit n_ctx.
  void submit(std::vector<int32_t> prompt, GenerateOptions o, Done done);
  // One llama_decode over the running generations (see the contract). True while any run or wait.
  bool step();
  bool busy() const;
  int running() const noexcept { return running_.load(std::memory_order_relaxed); }
  int waiting() const;
  BatchStep last_step() const noexcept { return last_; }  // on the thread that calls step()

  void set_step_tokens(int tokens) noexcept;  // clamped to [slots + 1, max_step_tokens]; any thread
  // CPU threads for the next steps (llama_set_n_threads; a budget sets it before each step). On the stepping thread.
  void set_threads(int n);
  int threads() const noexcept { return threads_; }
  int step_tokens() const noexcept { return step_tokens_.load(std::memory_order_relaxed); }
  int slots() const noexcept { return static_cast<int>(slots_.size()); }
  int n_ctx() const noexcept { return n_ctx_; }
  const ModelPtr& model() const noexcept { return model_; }

 private:
  struct Pending {
    std::vector<int32_t> prompt;
    GenerateOptions opts;
    Done done;
  };
  struct Slot {
    int seq = 0;
    std::vector<int32_t> cached;  // tokens whose KV is in this sequence, in order
    std::unique_ptr<GenRun> run;  // null: free
    Done done;
    int32_t next = -1;            // sampled, not yet decoded
    uint64_t started = 0;         // admission order (prefill goes oldest first)
  };
  struct Finished {
    Done done;
    GenerateResult result;
    std::exception_ptr error;
  };

  struct BatchEntry {  // one generation's share of a step's batch
    Slot* slot;
    int n;            // tokens of this slot in the batch
    bool prefill;
    int logits = -1;  // batch index whose logits are sampled
  };

  void admit();
  void finish(Slot& s, std::vector<Finished>& out, std::exception_ptr error = nullptr);
  void clear_sequence(Slot& s);
  // The parts of step(), in order.
  void end_stopped(std::vector<Finished>& finished);
  std::vector<BatchEntry> plan_batch();
  void fill_batch(llama_batch& b, std::vector<BatchEntry>& entries);
  void decode_and_sample(std::vector<BatchEntry>& entries, std::vector<Finished>& finished);
  void sample_and_advance(std::vector<BatchEntry>& entries, std::vector<Finished>& finished);

  class SamplePool;
  ModelPtr model_;
  std::unique_ptr<CpuThreadpool> pool_;  // outlives ctx_ (freed in the destructor body)
  llama_context* ctx_ = nullptr;
  std::unique_ptr<SamplePool> sample_pool_;
  int n_ctx_ = 0;
  int max_step_tokens_ = 0;
  int threads_ = 0;
  std::atomic<int> step_tokens_;
  std::vector<Slot> slots_;
  std::atomic<int> running_{0};
  uint64_t admitted_ = 0;
  BatchStep last_;
  mutable std::mutex mutex_;  // guards waiting_
  std::deque<Pending> waiting_;
};

}  // namespace ut::ml
