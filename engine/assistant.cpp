#include "engine/assistant.h"

#include <algorithm>

#include "timeline/clock.h"
#include "timeline/error.h"

namespace ut::engine {
namespace {


std::string context_prompt(const std::vector<vector::SearchHit>& hits) {
  std::string s = "Use the following context if it helps. Cite sources as [title#chunk].\n";
  for (const auto& h : hits) s += "[" + h.title + "#" + std::to_string(h.ord) + "] " + h.text + "\n";
  return s;
}

}  // namespace

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

Assistant::Assistant(Engine& engine, AssistantConfig config) : engine_(engine), config_(std::move(config)) {
  db_ = std::make_unique<data::Database>(data::DatabaseOptions{.path = config_.db_path});
  gen_queue_ = engine_.host_device()->make_queue({.kind = QueueKind::compute, .label = "Q_ml.gen"});
  if (!config_.embed_model.empty()) {
    auto model = ml::Model::load(config_.embed_model, ml::ModelKind::embedder);
    embedder_ = std::make_unique<ml::Embedder>(model, engine_.shared_heap());
  }
  if (!config_.chat_model.empty()) {
    auto model = ml::Model::load(config_.chat_model, ml::ModelKind::decoder);
    if (config_.parallel < 1) throw UsageError("[Assistant::Assistant] parallel must be >= 1");
    const int start = config_.prefill_chunk > 0 ? config_.prefill_chunk
                      : model->on_gpu()          ? config_.tuning.max_chunk
                                                 : 128;
    const int step = std::max(start, config_.parallel + 1);
    generator_ = std::make_unique<ml::BatchedGenerator>(
        model, ml::BatchedGeneratorOptions{.slots = config_.parallel,
                                           .n_ctx = config_.n_ctx,
                                           .step_tokens = step,
                                           .max_step_tokens = std::max(step, config_.tuning.max_chunk)});
    if (config_.tune_prefill) tuner_ = std::make_unique<StepTuner>(config_.tuning, step);
  }
  if (config_.tune_index_batch)
    index_tuner_ = std::make_unique<StepTuner>(config_.index_tuning, config_.index_tuning.max_chunk);
  // Chunks are budgeted in the embedder's tokens when there is one.
  vector::TokenCounter count = vector::count_words;
  if (embedder_) {
    auto m = embedder_->model();
    count = [m](std::string_view s) { return m->tokenize(s, /*add_special=*/false).size(); };
  }
  docs_ = std::make_unique<vector::DocumentStore>(
      *db_, vector::DocumentStoreOptions{.dim = static_cast<std::size_t>(embedder_ ? embedder_->dim() : 1),
                                         .chunker = config_.chunker,
                                         .count_tokens = count});
  deadline_thread_ = std::thread([this] { deadline_loop(); });
  if (embedder_ && !docs_->pending(1).empty()) schedule_indexing();
}

Assistant::~Assistant() {
  {
    std::lock_guard lock(deadline_mutex_);
    stopping_ = true;
  }
  deadline_cv_.notify_all();
  deadline_thread_.join();
  engine_.ml_queue()->wait_idle();
  engine_.host_queue()->wait_idle();
  for (;;) {  // the step chain commits its next buffer from the last one's completion
    gen_queue_->wait_idle();
    std::lock_guard lock(drive_mutex_);
    if (!driving_) break;
  }
}

Assistant::Stats Assistant::stats() const { return {chats_.load(), cancelled_.load(), failed_.load(), rag_misses_.load()}; }

std::string Assistant::chat_model_name() const {
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
    if (deadline_cv_.wait_until(lock, first->at) == std::cv_status::no_timeout) continue;  // re-evaluate
    const auto now = std::chrono::steady_clock::now();
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->at <= now) {
        if (it->gate->signaled_value() == 0) {
          it->job->rag_missed_deadline = true;
          it->gate->signal(1);  // answer without the context; it is reconciled in the job's sources later
        }
        it = deadlines_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

std::shared_ptr<ChatJob> Assistant::chat(ChatRequest request) {
  if (!generator_) throw UsageError("[Assistant::chat] no chat model is loaded (configure chat_model)");
  if (request.messages.empty()) throw UsageError("[Assistant::chat] no messages");
  auto admission = engine_.try_admit();
  if (!admission) return nullptr;
  auto job = std::make_shared<ChatJob>();
  job->admission = std::move(admission);
  const int max_tokens = std::max(1, request.gen.max_tokens);
  job->ring = std::make_shared<RingBuffer<ml::StreamToken>>(static_cast<std::size_t>(max_tokens) + 8);
  job->done = engine_.host_device()->make_event("chat.done");
  auto gate = engine_.host_device()->make_event("chat.gate");
  const uint64_t t0 = now_ns();

  std::string question;
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it)
    if (it->role == "user") {
      question = it->content;
      break;
    }
  const bool retrieve = request.retrieve && embedder_ && !question.empty() && docs_->indexed() > 0;

  std::lock_guard submit(submit_mutex_);
  if (retrieve) {
    auto query = std::make_shared<ml::EmbedJob>(ml::EmbedJob{.texts = {question}});
    const uint64_t v_embed = engine_.next_value(engine_.e_embed());
    auto embed = engine_.ml_queue()->make_command_buffer("embed query");
    ml::MlLane::encode_embed(embed, *embedder_, query).signal(engine_.e_embed(), v_embed).commit();

    const uint64_t v_rag = engine_.next_value(engine_.e_rag());
    auto rag = engine_.host_queue()->make_command_buffer("rag search");
    rag.wait(engine_.e_embed(), v_embed)
        .host_task(
            [this, job, query, t0] {
              auto hits = docs_->search(query->result.row(0), config_.rag_k);
              job->sources = std::move(hits);
              job->rag_ms = static_cast<double>(now_ns() - t0) / 1e6;
              job->rag_ready = true;
            },
            "search + context")
        .signal(engine_.e_rag(), v_rag)
        .commit();
    // The gate opens when the context is ready, or at the soft deadline (whichever is first).
    engine_.e_rag()->notify(v_rag, [gate](uint64_t) { gate->signal(1); });
    {
      std::lock_guard lock(deadline_mutex_);
      deadlines_.push_back({std::chrono::steady_clock::now() + config_.rag_deadline, gate, job});
    }
    deadline_cv_.notify_all();
  } else {
    gate->signal(1);
  }

  // The prompt joins the batch when the gate opens (with the context when it arrived in time).
  ml::GenerateOptions o = request.gen;
  o.ring = job->ring.get();
  o.cancel = &job->cancel;
  ++chats_;
  // Count the outcome and release the admission slot when the answer is complete.
  job->done->notify(1, [this, job](uint64_t) {
    if (job->done->error_at(1)) ++failed_;
    else if (job->result->reason == ml::StopReason::cancelled) ++cancelled_;
    if (job->rag_missed_deadline) ++rag_misses_;
    job->admission.reset();
  });
  gate->notify(1, [this, job, o, messages = std::move(request.messages)](uint64_t) mutable {
    submit_generation(job, std::move(messages), std::move(o));
  });
  return job;
}

void Assistant::submit_generation(const std::shared_ptr<ChatJob>& job, std::vector<ml::ChatMessage> messages,
                                  ml::GenerateOptions o) {
  try {
    if (job->rag_ready && !job->rag_missed_deadline && !job->sources.empty())
      messages.insert(messages.begin(), ml::ChatMessage{"system", context_prompt(job->sources)});
    generator_->submit(generator_->tokenize_chat(messages), std::move(o),
                       [job](ml::GenerateResult r, std::exception_ptr error) {
                         if (error) {
                           job->done->signal_failed(1, error);
                           return;
                         }
                         *job->result = std::move(r);
                         job->done->signal(1);
                       });
  } catch (...) {  // a prompt that does not fit, a template failure: this chat fails, the others go on
    job->done->signal_failed(1, std::current_exception());
    return;
  }
  kick_generation();
}

void Assistant::kick_generation() {
  {
    std::lock_guard lock(drive_mutex_);
    if (driving_) return;
    driving_ = true;
  }
  commit_generation_step();
}

void Assistant::commit_generation_step() {
  auto cb = gen_queue_->make_command_buffer("generate.step");
  cb.host_task(
        [this] {
          generator_->step();
          const ml::BatchStep s = generator_->last_step();
          if (s.sequences == 0) return;
          if (s.prefilled == 0) {
            decode_step_ms_ = decode_step_ms_ > 0 ? 0.8 * decode_step_ms_ + 0.2 * s.ms : s.ms;
          } else if (tuner_) {
            // What the prefill added: decoding chats pay the decode part whatever the step size is.
            const double prefill_ms = s.decoded > 0 ? std::max(0.0, s.ms - decode_step_ms_) : s.ms;
            if (auto c = tuner_->observe_step(prefill_ms, s.decoded + s.prefilled >= generator_->step_tokens()))
              generator_->set_step_tokens(*c);
          }
        },
        "decode batch")
      .on_completed([this](const CommandBuffer&) {
        {
          std::lock_guard lock(drive_mutex_);
          // A submit after this check finds driving_ false and starts the chain again.
          if (!generator_->busy()) {
            driving_ = false;
            return;
          }
        }
        commit_generation_step();
      })
      .commit();
}

int Assistant::prefill_chunk() const { return generator_ ? generator_->step_tokens() : 0; }

std::vector<std::string> Assistant::tuning_log() const {
  std::vector<std::string> out = tuner_ ? tuner_->log() : std::vector<std::string>{};
  if (index_tuner_)
    for (auto& line : index_tuner_->log()) out.push_back(std::move(line));
  return out;
}

std::size_t Assistant::index_batch_size() const noexcept {
  const std::size_t cap = index_batch_.load();
  return index_tuner_ ? std::min<std::size_t>(cap, static_cast<std::size_t>(index_tuner_->chunk())) : cap;
}

ml::EmbedResult Assistant::embed(const std::vector<std::string>& texts) {
  if (!embedder_) throw UsageError("[Assistant::embed] no embedding model is loaded (configure embed_model)");
  auto job = std::make_shared<ml::EmbedJob>(ml::EmbedJob{.texts = texts});
  CommandBuffer cb;
  {
    std::lock_guard submit(submit_mutex_);
    cb = engine_.ml_queue()->make_command_buffer("embed request");
    ml::MlLane::encode_embed(cb, *embedder_, job).signal(engine_.e_embed(), engine_.next_value(engine_.e_embed()));
    cb.commit();
  }
  cb.wait_until_completed();
  return std::move(job->result);
}

void Assistant::schedule_indexing() {
  if (!embedder_) return;
  if (indexing_queued_.exchange(true)) return;  // a batch is already queued; it re-schedules itself
  std::lock_guard submit(submit_mutex_);
  auto cb = engine_.ml_queue()->make_command_buffer("embed documents");
  cb.host_task([this] { index_batch(); }, "embed pending chunks")
      .signal(engine_.e_embed(), engine_.next_value(engine_.e_embed()))
      .commit();
}

void Assistant::index_batch() {
  indexing_queued_ = false;
  const std::size_t batch = index_batch_size();
  auto chunks = docs_->pending(batch);
  if (!chunks.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> texts;
    std::vector<uint64_t> ids;
    for (auto& c : chunks) {
      texts.push_back(c.text);
      ids.push_back(c.id);
    }
    try {
      auto r = embedder_->embed(texts);
      const double embed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::vector<float> m(r.count * r.dim);
      for (std::size_t i = 0; i < r.count; ++i) std::copy(r.row(i).begin(), r.row(i).end(), m.begin() + static_cast<long>(i * r.dim));
      docs_->store_embeddings(ids, m, embedder_->model()->info().name);
      if (index_tuner_)  // the embedding itself: the time a chat's retrieval could wait behind this batch
        index_tuner_->observe_step(embed_ms, chunks.size() == batch);
    } catch (const std::exception& e) {
      docs_->mark_failed(ids, e.what());
    }
  }
  // More work: queue the next batch behind whatever else is on Q_ml, so chat embeddings interleave.
  if (chunks.size() == batch) schedule_indexing();
  { std::lock_guard lock(index_mutex_); }  // a waiter between its check and its wait sees this notify
  index_cv_.notify_all();                 // after every batch: wait_document() waits for one document
}

bool Assistant::wait_document(uint64_t doc_id, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto done = [&] {
    for (const auto& c : docs_->chunks(doc_id))
      if (c.state == vector::ChunkState::pending) return false;
    return true;
  };
  std::unique_lock lock(index_mutex_);
  while (!done()) {
    if (index_cv_.wait_until(lock, deadline) == std::cv_status::timeout) return done();
  }
  return true;
}

bool Assistant::wait_indexed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(index_mutex_);
  while (!docs_->pending(1).empty()) {
    if (index_cv_.wait_until(lock, deadline) == std::cv_status::timeout) return docs_->pending(1).empty();
  }
  return true;
}

}  // namespace ut::engine
