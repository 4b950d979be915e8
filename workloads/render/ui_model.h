// UiModel: what the producers (ML, vector, data, docs lanes) hand to the UI, without the UI ever waiting on them.
//
//   ut::render::UiModel model;
//   model.device = dev;                                    // diagnostics: trace, queues
//   model.e_rag = e_rag;                                   // RAG badges appear once E_rag reaches rag.ready_value
//   model.watch_event(e_frame); model.watch_heap(heap);    // set-up: before the FrameLoop starts
//   // ML lane (one producer thread):
//   model.tokens.try_push({.text = "Hello"});              // lock-free ring; the UI drains it each frame
//   model.chat.publish({.prompt = "What sold most?", .status = "generating"});
//   model.rag.publish({.ready_value = 7, .sources = {{"sales.csv#3", 0.82f}}});  cb.signal(e_rag, 7);
//   // Data lane:
//   model.sql.publish({.query = q, .status = ut::render::SqlStatus::done, .columns = c, .rows = r});
//   // Docs lane: publish the list; apply what the user typed (the UI pushes, the lane drains).
//   model.docs.publish({.docs = {{.id = 7, .name = "notes.md", .chunks = 4, .embedded = 2, .body = text}}});
//   while (auto e = model.edits.try_pop()) store.update(e->id, e->text);
//   while (auto q = model.questions.try_pop()) ask(*q);
//
// Contract
// - Snapshot<T>::publish builds nothing under the lock: the writer makes the new value first, then swaps one
//   pointer; the UI copies one pointer (a few ns under a mutex nobody holds for longer). A reader keeps its
//   snapshot alive as long as it needs it, so a writer never waits for a reader to finish drawing.
// - tokens: single producer, single consumer (the UI). When the ring is full the producer's try_push fails;
//   the producer decides (drop or retry later) — the UI never blocks the producer.
// - edits, questions: the other way, the UI is the single producer; a full ring makes the UI keep the edit and
//   try again next frame (the text on screen is the UI's own copy, so typing shows at once either way).
// - The set-up fields (device, e_rag, e_ml, watched events/heaps) are written before the FrameLoop starts and
//   only read afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "timeline/device.h"
#include "timeline/ring_buffer.h"

namespace ut::render {

template <class T>
class Snapshot {
 public:
  void publish(T value) {
    auto next = std::make_shared<const T>(std::move(value));  // built before the lock
    std::shared_ptr<const T> old;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      old = std::exchange(current_, std::move(next));
      ++version_;
    }
    // `old` is released here, outside the lock (a reader may still hold it).
  }
  // The latest value, or nullptr before the first publish.
  std::shared_ptr<const T> latest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  uint64_t version() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return version_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  uint64_t version_ = 0;
};

struct ChatToken {
  std::string text;
  bool end_of_message = false;  // the answer is complete; the next token starts a new one
};

struct ChatView {
  std::string prompt;            // the user's message being answered
  std::string status;            // "embedding", "retrieving", "generating", "done", an error...
  std::string model;             // which generator, if known
};

struct RagSource {
  std::string title;             // "docs/guide.md#4", "sql: top sections"
  float score = 0;               // similarity
};

struct RagView {
  uint64_t ready_value = 0;      // the context is ready once E_rag's signaled_value() reaches this
  std::vector<RagSource> sources;
};

enum class SqlStatus { idle, running, done, failed };
const char* to_string(SqlStatus s) noexcept;

struct SqlView {
  std::string query;
  SqlStatus status = SqlStatus::idle;
  std::string message;           // error text, or "12 rows in 3.1 ms (kernel)"
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

struct DocEntry {
  uint64_t id = 0;               // the document store's id (what edits name)
  std::string name;
  std::size_t chunks = 0;
  std::size_t embedded = 0;      // chunks whose embedding is current
  std::size_t failed = 0;        // chunks whose embedding failed
  std::string body;              // the stored text (what an editor starts from)
};

struct DocEdit {
  uint64_t id = 0;
  std::string text;              // the whole new body
};

struct DocsView {
  std::vector<DocEntry> docs;
  std::string editing_text;      // the document being edited, as last typed
};

struct UiModel {
  UiModel() : tokens(4096), edits(64), questions(16) {}

  // Streams and snapshots the lanes write.
  RingBuffer<ChatToken> tokens;
  // What the user does, for the lanes to pick up.
  RingBuffer<DocEdit> edits;
  RingBuffer<std::string> questions;
  Snapshot<ChatView> chat;
  Snapshot<RagView> rag;
  Snapshot<SqlView> sql;
  Snapshot<DocsView> docs;

  // Set-up (before the FrameLoop starts).
  DevicePtr device;              // for the trace (per-queue activity)
  EventPtr e_rag;                // gate for the RAG badges
  std::vector<EventPtr> events;  // shown with their signaled_value()
  std::vector<HeapPtr> heaps;    // shown with used / size
  void watch_event(EventPtr e) { events.push_back(std::move(e)); }
  void watch_heap(HeapPtr h) { heaps.push_back(std::move(h)); }
};

}  // namespace ut::render
