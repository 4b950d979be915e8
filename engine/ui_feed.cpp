#include "engine/ui_feed.h"

#include <chrono>
#include <cstdio>
#include <map>

#include "engine/demo_corpus.h"
#include "timeline/clock.h"

namespace ut::engine {

using namespace std::chrono_literals;

EngineFeed::EngineFeed(render::UiModel& model, EngineFeedOptions opts) : model_(model), opts_(std::move(opts)) {
  rt_ = std::make_unique<Runtime>(
      RuntimeConfig{.engine = {.backend = opts_.backend, .reserve_sms = opts_.reserve_sms}, .db_path = opts_.db_path, .heartbeat = false});
  ai_ = &rt_->assistant();
  models_note_ = ai_->chat_model_name() + (rt_->random_weights() ? " — random weights" : "");
  show_engine(model_, rt_->engine());
}

void show_engine(render::UiModel& model, const Engine& engine) {
  model.device = engine.device_ptr();
  model.e_rag = engine.e_rag();
  model.watch_event(engine.e_embed());
  model.watch_event(engine.e_rag());
  model.watch_event(engine.e_data());
  model.watch_heap(engine.shared_heap());
}

EngineFeed::~EngineFeed() { stop(); }

void EngineFeed::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    try {
      run();
    } catch (const std::exception& e) {
      model_.chat.publish({.prompt = "", .status = std::string("engine feed stopped: ") + e.what()});
    }
  });
}

void EngineFeed::stop() {
  stop_ = true;
  if (job_) job_->cancel = true;
  if (thread_.joinable()) thread_.join();
}

void EngineFeed::publish_docs() {
  render::DocsView v;
  for (const auto& d : ai_->docs()->list()) {
    // Bodies are read once; the feed itself writes every later version (edits, the SQL result) into bodies_.
    auto it = bodies_.find(d.id);
    if (it == bodies_.end()) it = bodies_.emplace(d.id, ai_->docs()->body(d.id).value_or("")).first;
    const std::string& body = it->second;
    v.docs.push_back({.id = d.id, .name = d.title, .chunks = d.chunks, .embedded = d.embedded, .failed = d.failed,
                      .body = body});
  }
  model_.docs.publish(std::move(v));
}

void EngineFeed::run_sql() {
  model_.sql.publish({.query = "Debian packages by section", .status = render::SqlStatus::running});
  try {
    const SectionsReport rep = debian_sections(*rt_, 12);
    render::SqlView v{.query = rep.sql, .status = render::SqlStatus::done};
    const data::Result& r = rep.table;
    for (std::size_t c = 0; c < r.column_count(); ++c) v.columns.push_back(r.column(c).name);
    for (std::size_t i = 0; i < r.rows(); ++i) {
      std::vector<std::string> row;
      for (std::size_t c = 0; c < r.column_count(); ++c) row.push_back(r.column(c).text(i));
      v.rows.push_back(std::move(row));
    }
    char msg[200];
    std::snprintf(msg, sizeof msg, "%zu rows in %.1f ms over %zu packages (%s)", r.rows(), rep.query_ms, rep.packages,
                  rep.engine.c_str());
    v.message = rep.note.empty() ? msg : rep.note;
    // The result in words, as a document: the chat can then cite it (a RAG badge "sql: packages by section").
    const StoredResult doc = rt_->store_result("sql: packages by section", rep.sql, r, rep.prose());
    bodies_[doc.doc_id] = doc.text;
    model_.sql.publish(std::move(v));
  } catch (const std::exception& e) {
    model_.sql.publish({.query = "Debian packages by section", .status = render::SqlStatus::failed, .message = e.what()});
  }
}

void EngineFeed::ask(const std::string& question) {
  model_.chat.publish({.prompt = question, .status = "embedding the question", .model = models_note_});
  job_ = ai_->chat({.messages = {{"user", question}}, .gen = {.sampling = {.temperature = 0.0f},
                                                               .max_tokens = opts_.max_tokens}});
  if (!job_) {
    model_.chat.publish({.prompt = question, .status = "busy: the engine's admission limit is reached",
                         .model = models_note_});
    return;
  }
  bool rag_published = false, first = true;
  job_->stream([&](const ml::StreamToken* t) {
    if (!rag_published && job_->rag_ready) {
      render::RagView rag{.ready_value = rt_->engine().e_rag()->signaled_value()};
      for (const auto& s : job_->sources)
        rag.sources.push_back({s.title + " #" + std::to_string(s.ord), s.score});
      model_.rag.publish(std::move(rag));
      rag_published = true;
    }
    if (!t) return !stop_;
    if (first) model_.chat.publish({.prompt = question, .status = "generating", .model = models_note_});
    first = false;
    // A full ring drops text from the screen only (the answer itself is whole in job_->result).
    (void)model_.tokens.try_push({.text = t->text, .end_of_message = t->last});
    return !stop_;
  });
  try {
    job_->wait();
    const auto& r = *job_->result;
    char msg[160];
    std::snprintf(msg, sizeof msg, "done: %zu tokens, %.0f tokens/s, stop: %s%s", r.tokens.size(),
                  r.decode_tokens_per_s(), ml::to_string(r.reason),
                  job_->rag_missed_deadline ? "; context missed its deadline" : "");
    model_.chat.publish({.prompt = question, .status = msg, .model = models_note_});
  } catch (const std::exception& e) {
    model_.chat.publish({.prompt = question, .status = std::string("failed: ") + e.what(), .model = models_note_});
  }
}

void EngineFeed::run() {
  // Documents: the database's own, else the project's documents; embedded in the background on Q_ml.
  if (ai_->docs()->list().empty())
    for (auto& [title, body] : demo_corpus()) ai_->docs()->create(title, body);
  ai_->schedule_indexing();
  publish_docs();  // the pane fills (and embedding starts) while the package lists load
  run_sql();       // adds the SQL result as a document
  ai_->schedule_indexing();
  publish_docs();
  // The first question waits (up to a minute) for the documents to be embedded, so its answer has context;
  // a question typed by the user goes at once.
  std::string next = opts_.first_question;
  const auto first_deadline = std::chrono::steady_clock::now() + 60s;
  auto last_docs = std::chrono::steady_clock::now();
  while (!stop_) {
    if (!next.empty()) {
      bool pending = false;
      if (next == opts_.first_question && std::chrono::steady_clock::now() < first_deadline)
        for (const auto& d : ai_->docs()->list()) pending = pending || d.pending > 0;
      if (pending) {
        model_.chat.publish({.prompt = next, .status = "waiting for the documents to be embedded",
                             .model = models_note_});
      } else {
        ask(next);
        next.clear();
      }
    }
    // Edits: the latest text per document, stored (durable at once) and re-embedded in the background.
    std::map<uint64_t, std::string> edits;
    while (auto e = model_.edits.try_pop()) edits[e->id] = std::move(e->text);
    for (auto& [id, text] : edits) {
      ai_->docs()->update(id, text);
      bodies_[id] = text;
    }
    if (!edits.empty()) ai_->schedule_indexing();
    if (next.empty() || next == opts_.first_question)
      if (auto q = model_.questions.try_pop()) next = *q;
    if (!edits.empty() || std::chrono::steady_clock::now() - last_docs > 250ms) {
      publish_docs();
      last_docs = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace ut::engine
