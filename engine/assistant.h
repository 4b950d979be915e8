// Assistant: the chat, embedding and document paths of the engine, chained by events on its queues.
//
//   ut::engine::Assistant ai(engine, {.embed_model = "bge.gguf", .chat_model = "qwen.gguf", .db_path = "ut.duckdb"});
//   auto job = ai.chat({.messages = {{"user", "What is apt?"}}, .gen = {.max_tokens = 64}});   // nullptr: busy
//   while (auto t = job->ring->pop_wait(50ms)) { std::cout << t->text; if (t->last) break; }
//   job->wait();                          // rethrows a failure; job->sources are the RAG badges
//   uint64_t doc = ai.docs()->create("notes.md", text);   // visible at once; chunks embed in the background
//
// Paths (one chat):
//   Q_ml   "embed query"  -> signals E_embed
//   Q_host "rag search"   waits E_embed -> searches the documents -> context -> signals E_rag
//   gate: E_rag reached, or the soft deadline passed (then the answer goes without context and says so)
//   Q_ml.gen once the gate opens, the prompt joins the BatchedGenerator: one command buffer per step decodes
//          every running chat's next token plus prefill chunks together; tokens stream into job->ring;
//          job->done is signalled at the end (with the error, if any)
// Documents: create/update commit to DuckDB at once and schedule "embed pending chunks" on Q_ml (E_embed).
// Files by path: assistant.cpp (set-up, embeddings, deadlines), chat_path.cpp, docs_path.cpp.
// Q_ml.gen is registered with the engine as "ml_gen" (realtime-stats, /metrics, the dashboard).
//
// Contract: thread-safe. chat() returns nullptr when the engine's admission limit is reached (answer "busy") and
// throws ml::ContextLengthError when the messages alone do not fit a chat's context; max_tokens beyond what is
// left is cut to fit, or refused (MaxTokensError) when the request says so.
// Up to `parallel` chats decode together; more wait for a free slot in arrival order (bounded by admission).
// The step chain runs only while chats run or wait. Host tasks of these paths run on the engine's CPU queues
// (llama.cpp and DuckDB block).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/core_budget.h"
#include "engine/engine.h"
#include "engine/step_tuner.h"
#include "timeline/error.h"
#include "timeline/ring_buffer.h"
#include "workloads/data/database.h"
#include "workloads/ml/embedder.h"
#include "workloads/ml/batched_generator.h"
#include "workloads/ml/generator.h"
#include "workloads/ml/lane.h"
#include "workloads/docs/document_store.h"

namespace ut::engine {

struct AssistantConfig {
  std::string embed_model;  // GGUF embedder; empty: no embeddings, chat answers without retrieval
  std::string chat_model;   // GGUF decoder; empty: chat unavailable
  std::string db_path;      // DuckDB file for documents; empty: in-memory
  int n_ctx = 2048;         // tokens per chat (each running chat has its own KV sequence)
  int parallel = 4;         // chats decoded together in one batch
  // Tokens per decode step (every running chat's next token, the rest prefill); where the tuner starts.
  // At least parallel + 1. 0: tuning.max_chunk when the chat model is on a GPU (a 2048-token step takes ~25 ms
  // on an H200), 128 on the CPU.
  int prefill_chunk = 0;
  // Latency-driven tokens per step: the tuner sees the time prefill adds to a step (the step's time less that
  // of recent decode-only steps), which is what running chats wait extra for their next token.
  bool tune_prefill = true;
  StepTunerConfig tuning{.min_chunk = 32, .max_chunk = 2048, .confirm_over = 2};
  // Latency-driven background embedding batch: one batch is one Q_ml step that a chat's retrieval embedding
  // may wait behind. The Governor's memory cap (set_index_batch) bounds it from above.
  bool tune_index_batch = true;
  StepTunerConfig index_tuning{.min_chunk = 1, .max_chunk = 32, .step_budget_ms = 20, .what = "embedding batch"};
  std::chrono::milliseconds rag_deadline{1500};  // soft deadline for embeddings + context
  std::size_t rag_k = 3;
  vector::ChunkerOptions chunker{.max_tokens = 128, .overlap_tokens = 16};
  // The CPU cores shared with the other lanes (the Runtime's); null: a budget of the assistant's own over the
  // machine's cores. Decode steps and query embeddings use the chat lane's threads, document batches the
  // background lane's (a batch yields while a chat or a query holds every core).
  CoreBudgetPtr cpu_budget;
};

struct ChatRequest {
  std::vector<ml::ChatMessage> messages;
  ml::GenerateOptions gen;  // ring and cancel are set by the assistant
  bool retrieve = true;
  // gen.max_tokens beyond what the context leaves after the messages: false cuts it to fit, true refuses the
  // chat (MaxTokensError; the HTTP API refuses a max_tokens the client gave, as OpenAI does, and cuts its default).
  bool refuse_over_context = false;
};

// The messages fit a chat's context but max_tokens more do not (ChatRequest::refuse_over_context).
class MaxTokensError : public UsageError {
 public:
  MaxTokensError(int prompt, int max, int context)
      : UsageError("[Assistant::chat] " + std::to_string(prompt) + " prompt tokens and max_tokens " +
                   std::to_string(max) + " exceed the context of " + std::to_string(context) + " tokens"),
        prompt_tokens(prompt), max_tokens(max), n_ctx(context) {}
  int prompt_tokens, max_tokens, n_ctx;
};

struct ChatJob {
  std::shared_ptr<RingBuffer<ml::StreamToken>> ring;
  std::atomic<bool> cancel{false};
  EventPtr done;                           // signalled (value 1) when the answer is complete or failed
  std::shared_ptr<ml::GenerateResult> result = std::make_shared<ml::GenerateResult>();
  std::vector<vector::SearchHit> sources;  // valid once rag_ready (the UI reads E_rag)
  std::atomic<bool> rag_ready{false}, rag_missed_deadline{false};
  double rag_ms = 0;                       // request -> context ready
  std::optional<Admission> admission;
  CoreBudget::Hold cpu_hold;               // the chat lane is active until the answer is complete
  // Blocks until done; rethrows the generation's failure.
  void wait() const { done->wait(1); }
  // Hands each streamed token to on_token, and nullptr every `tick` while none arrives (so a caller can notice
  // a closed connection). Returns true when the stream ended; false when on_token returned false, in which
  // case the generation is cancelled.
  bool stream(const std::function<bool(const ml::StreamToken*)>& on_token,
              std::chrono::milliseconds tick = std::chrono::milliseconds(250));
};

class Assistant {
 public:
  // Opens config.db_path for the documents.
  Assistant(Engine& engine, AssistantConfig config);
  // Keeps the documents in `db` (config.db_path unused), which must outlive the assistant: one database file
  // for documents and SQL (the Runtime's).
  Assistant(Engine& engine, AssistantConfig config, data::Database& db);
  ~Assistant();  // waits for work in flight
  Assistant(const Assistant&) = delete;
  Assistant& operator=(const Assistant&) = delete;

  bool can_chat() const noexcept { return generator_ != nullptr; }
  bool can_embed() const noexcept { return embedder_ != nullptr; }
  std::string chat_model_name() const;
  std::string embed_model_name() const;
  const std::string& chat_model_path() const noexcept { return config_.chat_model; }
  const std::string& embed_model_path() const noexcept { return config_.embed_model; }

  std::shared_ptr<ChatJob> chat(ChatRequest request);
  // Embeddings on Q_ml (blocks the caller until done): rows of dim() floats, L2-normalised.
  ml::EmbedResult embed(const std::vector<std::string>& texts);
  int dim() const noexcept { return embedder_ ? embedder_->dim() : 0; }

  struct Stats {
    uint64_t chats = 0, cancelled = 0, failed = 0, rag_deadline_misses = 0;
  };
  Stats stats() const;

  vector::DocumentStore* docs() noexcept { return docs_.get(); }
  data::Database& database() noexcept { return *db_; }
  // At most this many chunks embedded per batch (the Governor halves it under memory pressure); the batch is
  // the smaller of this cap and the latency tuner's size.
  void set_index_batch(std::size_t n) noexcept { index_batch_.store(std::max<std::size_t>(1, n)); }
  std::size_t index_batch_size() const noexcept;
  // Tokens per decode step now (the prefill knob), and both tuners' changes with their reasons.
  int prefill_chunk() const;
  std::vector<std::string> tuning_log() const;
  CoreBudget& cpu_budget() noexcept { return *budget_; }
  // Schedules embedding of pending chunks on Q_ml (coalesced: at most one batch queued at a time).
  void schedule_indexing();
  // Blocks until no chunk is pending (or the timeout passes); true when idle.
  bool wait_indexed(std::chrono::milliseconds timeout);
  // Why background embedding stopped: its results could not be stored, nor the chunks marked failed (a full disk,
  // a read-only file). Empty while it works. Set once; indexing stops scheduling itself from then on.
  std::string indexing_error() const;
  // Blocks until every chunk of one document is embedded or failed (newest documents are embedded first).
  bool wait_document(uint64_t doc_id, std::chrono::milliseconds timeout);

 private:
  Assistant(Engine& engine, AssistantConfig config, data::Database* shared_db);
  void deadline_loop();
  void index_batch();
  int index_threads();  // the background lane's threads for this batch; 0: it yields
  void submit_generation(const std::shared_ptr<ChatJob>& job, std::vector<ml::ChatMessage> messages,
                         ml::GenerateOptions o);
  void kick_generation();          // starts the step chain unless it runs
  void commit_generation_step();   // one command buffer: one BatchedGenerator::step()
  void use_chat_threads_for_embedding();  // on Q_ml, before a chat's query embedding

  Engine& engine_;
  AssistantConfig config_;
  std::unique_ptr<data::Database> own_db_;
  data::Database* db_ = nullptr;
  std::unique_ptr<vector::DocumentStore> docs_;
  std::unique_ptr<ml::Embedder> embedder_;
  std::unique_ptr<ml::BatchedGenerator> generator_;
  std::unique_ptr<StepTuner> tuner_, index_tuner_;
  QueuePtr gen_queue_;  // Q_ml.gen: the batched decode steps, one command buffer each
  std::mutex submit_mutex_;  // event values are handed out and committed in one order
  std::mutex drive_mutex_;   // driving_: a step command buffer is committed or running
  bool driving_ = false;
  double decode_step_ms_ = 0;  // recent decode-only step time (moving average); the step chain's alone

  std::atomic<uint64_t> chats_{0}, cancelled_{0}, failed_{0}, rag_misses_{0};
  std::atomic<bool> indexing_queued_{false};
  std::atomic<bool> indexing_yielded_{false};  // a batch gave its step to the user lanes; resumes on release
  CoreBudgetPtr budget_;
  int budget_release_id_ = 0;
  std::atomic<std::size_t> index_batch_{32};
  mutable std::mutex index_mutex_;
  std::condition_variable index_cv_;
  std::string index_error_;  // under index_mutex_

  // Soft deadlines: a small timer thread (waits on a condition variable until the earliest deadline).
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    EventPtr gate;
    std::shared_ptr<ChatJob> job;
  };
  std::mutex deadline_mutex_;
  std::condition_variable deadline_cv_;
  std::vector<Deadline> deadlines_;
  bool stopping_ = false;
  std::thread deadline_thread_;
};

}  // namespace ut::engine
