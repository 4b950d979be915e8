// The documents path of the Assistant: pending chunks are embedded in batches on Q_ml (newest documents first,
// each batch one step a chat's retrieval embedding may wait behind, sized by the latency tuner and the Governor).
#include <algorithm>

#include "engine/assistant.h"
#include "timeline/clock.h"

namespace ut::engine {

std::size_t Assistant::index_batch_size() const noexcept {
  const std::size_t cap = index_batch_.load();
  return index_tuner_ ? std::min<std::size_t>(cap, static_cast<std::size_t>(index_tuner_->chunk())) : cap;
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

// 0 while a chat or a query holds every core: the batch yields (yielded first, then checked again, so a release
// in between either lets this batch run or finds the flag and re-queues it). After index_max_wait of yielding, one
// thread for one batch (priority aging: a steady stream of chats would otherwise starve it).
int Assistant::index_threads(bool* aged) {
  *aged = false;
  int n = budget_->threads(CpuLane::embed);
  if (n == 0) {
    indexing_yielded_ = true;
    n = budget_->threads(CpuLane::embed);
    if (n > 0) indexing_yielded_ = false;
  }
  if (n > 0) return n;
  const uint64_t now = now_ns();
  uint64_t since = index_starved_since_ns_.load();
  if (since == 0) since = index_starved_since_ns_ = now;  // reset when a batch completes (a stopped one does not)
  const auto wait_ns = static_cast<uint64_t>(std::chrono::nanoseconds(config_.index_max_wait).count());
  if (wait_ns == 0) return 0;
  if (now - since < wait_ns) {
    // Nothing may release the cores before then (one long chat): a deadline re-tries this batch at the end of the wait.
    if (!index_retry_armed_.exchange(true)) {
      {
        std::lock_guard lock(deadline_mutex_);
        deadlines_.push_back({std::chrono::steady_clock::now() + std::chrono::nanoseconds(wait_ns - (now - since)),
                              nullptr, nullptr, [this] {
                                index_retry_armed_ = false;
                                if (indexing_yielded_.exchange(false)) schedule_indexing();
                              }});
      }
      deadline_cv_.notify_all();
    }
    return 0;
  }
  index_starved_since_ns_ = now;  // the next aged batch after another full wait
  indexing_yielded_ = false;      // running now; the batch re-queues itself if more is pending
  *aged = true;
  return 1;
}

void Assistant::index_batch() {
  indexing_queued_ = false;
  // Before the thread count is decided: a user who arrives after this point stops the batch (see below); one who
  // arrived before it has already taken the cores from this batch.
  const uint64_t arrivals = budget_->user_arrivals();
  bool aged = false;
  const int threads = index_threads(&aged);
  budget_->record(CpuLane::embed, threads);
  if (aged) index_aged_.fetch_add(1, std::memory_order_relaxed);
  if (threads == 0) {
    { std::lock_guard lock(index_mutex_); }
    index_cv_.notify_all();
    return;
  }
  if (threads != embedder_->threads()) embedder_->set_threads(threads);
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
    // A chat or a query arriving while this batch computes stops it between two of its operations (not at the
    // batch's end): the chunks stay pending and the batch runs again once the budget gives embedding cores back.
    if (preempt_indexing_.load() && !aged)
      embedder_->set_abort_check([this, arrivals, threads] {
        return budget_->user_arrivals() != arrivals && budget_->threads(CpuLane::embed) < threads;
      });
    struct ClearCheck {
      ml::Embedder& e;
      ~ClearCheck() { e.set_abort_check(nullptr); }
    } clear{*embedder_};
    try {
      auto r = embedder_->embed(texts);
      const double embed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::vector<float> m(r.count * r.dim);
      for (std::size_t i = 0; i < r.count; ++i) std::copy(r.row(i).begin(), r.row(i).end(), m.begin() + static_cast<long>(i * r.dim));
      docs_->store_embeddings(ids, m, embedder_->model()->info().name);
      index_starved_since_ns_ = 0;
      if (index_tuner_)  // the embedding itself: the time a chat's retrieval could wait behind this batch
        index_tuner_->observe_step(embed_ms, chunks.size() == batch);
    } catch (const ml::EmbedAborted&) {
      index_preempted_.fetch_add(1, std::memory_order_relaxed);
      uint64_t zero = 0;  // stopped: the wait for an aged batch counts from here unless it already runs
      index_starved_since_ns_.compare_exchange_strong(zero, now_ns());
      // Yield as index_threads() does: re-queued by the budget's release, or now if the users are gone already.
      indexing_yielded_ = true;
      if (budget_->threads(CpuLane::embed) > 0 && indexing_yielded_.exchange(false)) schedule_indexing();
      { std::lock_guard lock(index_mutex_); }
      index_cv_.notify_all();
      return;
    } catch (const std::exception& e) {
      try {
        docs_->mark_failed(ids, e.what());
      } catch (const std::exception& store_error) {
        // Nothing can be written (a full disk): stop here, say why, and leave the chunks pending for a later run.
        {
          std::lock_guard lock(index_mutex_);
          if (index_error_.empty()) index_error_ = store_error.what();
        }
        index_cv_.notify_all();
        return;
      }
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

std::string Assistant::indexing_error() const {
  std::lock_guard lock(index_mutex_);
  return index_error_;
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
