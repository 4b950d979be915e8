#include "engine/assistant.h"

#include <algorithm>

#include "timeline/clock.h"
#include "timeline/error.h"

namespace ut::engine {

bool ChatJob::stream(const std::function<bool(const ml::StreamToken*)>& on_token, std::chrono::milliseconds tick) {
  for (;;) {
    auto t = ring->pop_wait(tick);
    if (!on_token(t ? &*t : nullptr)) {
      cancel = true;
      return false;
    }
    if (t ? t->last : done->signaled_value() >= 1 && ring->empty()) return true;
  }
}

Assistant::Assistant(Engine& engine, AssistantConfig config)
    : Assistant(engine, std::move(config), nullptr) {}

Assistant::Assistant(Engine& engine, AssistantConfig config, data::Database& db)
    : Assistant(engine, std::move(config), &db) {}

Assistant::Assistant(Engine& engine, AssistantConfig config, data::Database* shared_db)
    : engine_(engine), config_(std::move(config)) {
  budget_ = config_.cpu_budget ? config_.cpu_budget : std::make_shared<CoreBudget>();
  if (config_.rag_k == 0) config_.rag_k = kDefaultRagK;
  // Background embedding that yielded to a chat or a query resumes when the user lanes give the cores back.
  // Through Q_host: the release may come from a chat's completion inside a lock that schedule_indexing takes.
  budget_release_id_ = budget_->on_release([this](CpuLane) {
    if (budget_->threads(CpuLane::embed) > 0 && indexing_yielded_.exchange(false))
      engine_.host_queue()
          ->make_command_buffer("resume embedding")
          .host_task([this] { schedule_indexing(); }, "schedule")
          .commit();
  });
  if (!shared_db) own_db_ = std::make_unique<data::Database>(data::DatabaseOptions{.path = config_.db_path});
  db_ = shared_db ? shared_db : own_db_.get();
  gen_queue_ = engine_.host_device()->make_queue({.kind = QueueKind::compute, .label = "Q_ml.gen"});
  engine_.add_queue("ml_gen", gen_queue_);
  if (!config_.embed_model.empty()) {
    auto model = ml::Model::load(config_.embed_model, ml::ModelKind::embedder, {.mmap = config_.mmap_models});
    embedder_ = std::make_unique<ml::Embedder>(model, engine_.shared_heap());
  }
  if (!config_.remote_chat.url.empty()) {
    remote_ = std::make_unique<RemoteChat>(config_.remote_chat);
  } else if (!config_.chat_model.empty()) {
    auto model = ml::Model::load(config_.chat_model, ml::ModelKind::decoder, {.mmap = config_.mmap_models});
    if (config_.parallel < 1) throw UsageError("[Assistant::Assistant] parallel must be >= 1");
    const int start = config_.prefill_chunk > 0 ? config_.prefill_chunk
                      : model->on_gpu()          ? config_.tuning.max_chunk
                                                 : 512;
    const int step = std::max(start, config_.parallel + 1);
    generator_ = std::make_unique<ml::BatchedGenerator>(
        model, ml::BatchedGeneratorOptions{.slots = config_.parallel,
                                           .n_ctx = config_.n_ctx,
                                           .step_tokens = step,
                                           .max_step_tokens = std::max(step, config_.tuning.max_chunk)});
    if (config_.tune_prefill) {
      StepTunerConfig t = config_.tuning;
      if (!model->on_gpu()) t.step_budget_ms = config_.cpu_step_budget_ms;
      tuner_ = std::make_unique<StepTuner>(t, step);
    }
  }
  if (config_.tune_index_batch) {
    StepTunerConfig t = config_.index_tuning;
    if (embedder_ && !embedder_->model()->on_gpu()) t.step_budget_ms = config_.cpu_step_budget_ms;
    index_tuner_ = std::make_unique<StepTuner>(t, t.max_chunk);
  }
  // Chunks are budgeted in the embedder's tokens when there is one.
  vector::TokenCounter count = vector::count_words;
  if (embedder_) {
    auto m = embedder_->model();
    count = [m](std::string_view s) { return m->tokenize(s, /*add_special=*/false).size(); };
  }
  docs_ = std::make_unique<vector::DocumentStore>(
      *db_, vector::DocumentStoreOptions{.dim = static_cast<std::size_t>(embedder_ ? embedder_->dim() : 1),
                                         .chunker = config_.chunker,
                                         .count_tokens = count,
                                         .before_write = [b = budget_] { b->wait_threads(CpuLane::sql); }});
  deadline_thread_ = std::thread([this] { deadline_loop(); });
  if (embedder_ && !docs_->pending(1).empty()) schedule_indexing();
}

Assistant::~Assistant() {
  remote_.reset();  // cancels the remote chats in flight and waits for them
  budget_->remove_release(budget_release_id_);
  {
    std::lock_guard lock(deadline_mutex_);
    stopping_ = true;
  }
  deadline_cv_.notify_all();
  deadline_thread_.join();
  engine_.ml_queue()->wait_idle();
  engine_.host_queue()->wait_idle();
  engine_.ml_queue()->wait_idle();  // a batch the host queue resumed (see on_release)
  for (;;) {  // the step chain commits its next buffer from the last one's completion
    gen_queue_->wait_idle();
    std::lock_guard lock(drive_mutex_);
    if (!driving_) break;
  }
  engine_.remove_queue(*gen_queue_);
}

Assistant::Stats Assistant::stats() const {
  return {chats_.load(), cancelled_.load(), failed_.load(), rag_misses_.load(), index_preempted_.load(), index_aged_.load()};
}

std::string Assistant::chat_model_name() const {
  if (remote_) return remote_->model() + ": generated by " + remote_->url();
  return generator_ ? generator_->model()->info().name : std::string();
}
std::string Assistant::embed_model_name() const { return embedder_ ? embedder_->model()->info().name : std::string(); }

void Assistant::deadline_loop() {
  std::unique_lock lock(deadline_mutex_);
  for (;;) {
    if (stopping_) return;
    if (deadlines_.empty()) {
      deadline_cv_.wait(lock);
      continue;
    }
    auto first = std::min_element(deadlines_.begin(), deadlines_.end(), [](auto& a, auto& b) { return a.at < b.at; });
    // A copy: wait_until reads its time point again after waking, and chat() may have grown (moved) the vector
    // meanwhile (heap-use-after-free found by the HTTP fuzz target under ASan).
    const auto at = first->at;
    if (deadline_cv_.wait_until(lock, at) == std::cv_status::no_timeout) continue;  // re-evaluate
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::function<void()>> fire;
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->at <= now && !it->gate) {
        fire.push_back(std::move(it->fire));
        it = deadlines_.erase(it);
      } else if (it->at <= now) {
        if (it->gate->signaled_value() == 0) {
          it->job->rag_missed_deadline = true;
          it->gate->signal(1);  // answer without the context; it is reconciled in the job's sources later
        }
        it = deadlines_.erase(it);
      } else {
        ++it;
      }
    }
    if (fire.empty()) continue;
    lock.unlock();
    for (auto& f : fire) f();
    lock.lock();
  }
}

ml::EmbedResult Assistant::embed(const std::vector<std::string>& texts) {
  if (!embedder_) throw UsageError("[Assistant::embed] no embedding model is loaded (configure embed_model)");
  auto job = std::make_shared<ml::EmbedJob>(ml::EmbedJob{.texts = texts});
  CommandBuffer cb;
  {
    std::lock_guard submit(submit_mutex_);
    cb = engine_.ml_queue()->make_command_buffer("embed request");
    cb.host_task([this] { use_chat_threads_for_embedding(); }, "cpu budget");
    ml::MlLane::encode_embed(cb, *embedder_, job).signal(engine_.e_embed(), engine_.next_value(engine_.e_embed()));
    cb.commit();
  }
  cb.wait_until_completed();
  return std::move(job->result);
}

void Assistant::use_chat_threads_for_embedding() {
  const int n = budget_->threads(CpuLane::chat);
  if (n != embedder_->threads()) embedder_->set_threads(n);
}

}  // namespace ut::engine
