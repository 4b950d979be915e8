#include "engine/runtime.h"

#include <malloc.h>

#include <mutex>

#include "engine/default_models.h"
#include "timeline/clock.h"
#include "timeline/host.h"
#include "workloads/data/datasets.h"

namespace ut::engine {
namespace {

double ms_between(uint64_t t0, uint64_t t1) { return static_cast<double>(t1 - t0) / 1e6; }

// Where the process's memory is: what a soak needs to tell a leak from a cache or the allocator holding freed
// memory. RSS from /proc, the allocator's view from glibc (in use, and freed but not returned to the system).
nlohmann::json process_memory() {
  const double rss_mb = static_cast<double>(process_rss_bytes()) / (1 << 20);
  // mallinfo2 walks every arena's free lists under its lock; realtime-stats is read several times a second (the
  // Governor, the UI, scrapers): one walk a second serves them all.
  static std::mutex mutex;
  static struct mallinfo2 last {};
  static uint64_t read_at = 0;
  struct mallinfo2 m {};
  {
    std::lock_guard lock(mutex);
    if (const uint64_t now = now_ns(); read_at == 0 || now - read_at > 1'000'000'000) {
      last = mallinfo2();
      read_at = now;
    }
    m = last;
  }
  return {{"rss_mb", rss_mb},
          {"malloc_in_use_mb", static_cast<double>(m.uordblks + m.hblkhd) / (1 << 20)},
          {"malloc_free_held_mb", static_cast<double>(m.fordblks) / (1 << 20)},
          {"malloc_arenas_mb", static_cast<double>(m.arena) / (1 << 20)}};
}

}  // namespace

Runtime::Runtime(RuntimeConfig config) : config_(std::move(config)) {
  std::string embed = config_.embed_model, chat = config_.chat_model;
  if (config_.default_models) random_weights_ = fill_default_models(embed, chat);
  budget_ = std::make_shared<CoreBudget>(config_.cpu);
  engine_ = std::make_unique<Engine>(config_.engine);
  engine_->set_stats_section("cpu_budget", [b = budget_] { return b->snapshot(); });
  db_ = std::make_unique<data::Database>(data::DatabaseOptions{.path = config_.db_path});
  AssistantConfig ac = config_.assistant;
  ac.cpu_budget = budget_;
  if (ac.rag_k == 0 && is_trained_decoder(chat)) ac.rag_k = kTrainedDecoderRagK;
  ac.embed_model = embed == "none" ? std::string() : embed;
  ac.chat_model = chat == "none" ? std::string() : chat;
  ac.db_path = config_.db_path;
  assistant_ = std::make_unique<Assistant>(*engine_, std::move(ac), *db_);
  DataPathConfig dc = config_.data;
  dc.cpu_budget = budget_;
  data_ = std::make_unique<DataPath>(*engine_, *db_, std::move(dc));
  if (config_.governor) {
    governor_ = std::make_unique<Governor>(*engine_);
    governor_->on_batch([this](std::size_t b) { assistant_->set_index_batch(b); });
    governor_->start();
  }
  engine_->set_stats_section("process", [this] {
    nlohmann::json j = process_memory();
    if (const auto* docs = assistant_->docs()) {
      j["index_vectors"] = docs->indexed();
      j["index_removed"] = docs->index_removed();
    }
    return j;
  });
  if (config_.heartbeat) engine_->start();
}

Runtime::~Runtime() {
  engine_->set_stats_section("process", nullptr);  // it reads the Assistant, which goes first
  if (governor_) governor_->stop();
  engine_->stop();
  // Paths before the engine whose queues they use, the database last.
  governor_.reset();
  data_.reset();
  assistant_.reset();
}

StoredResult Runtime::store_result(const std::string& title, const std::string& sql, const data::Result& result,
                                   const std::string& preface, std::size_t max_rows) {
  StoredResult s{.title = title};
  s.text = (preface.empty() ? std::string() : preface + "\n\n") + result_text(sql, result, max_rows);
  auto& docs = *assistant_->docs();
  // The source marks it as a query result: chats find it among the search's candidates (choose_sources).
  const std::string source = std::string(kResultSource) + sql;
  if (const auto existing = docs.find_by_title(title)) {
    s.doc_id = *existing;
    s.updated = true;
    docs.update(s.doc_id, s.text);
    if (const auto info = docs.info(s.doc_id); info && info->source != source) docs.rename(s.doc_id, title, source);
  } else {
    s.doc_id = docs.create(title, s.text, source);
  }
  assistant_->schedule_indexing();
  return s;
}

nlohmann::json Runtime::guards() const {
  nlohmann::json j = governor_ ? governor_->snapshot() : nlohmann::json{{"governor", "off"}};
  j["step_tokens"] = assistant_->prefill_chunk();
  j["tuning_log"] = assistant_->tuning_log();
  for (const auto& line : budget_->log()) j["tuning_log"].push_back("cpu budget " + line);
  j["cpu_budget"] = budget_->snapshot();
  return j;
}

std::string SectionsReport::prose() const {
  std::string t = std::string(installed_only ? "Debian sections with the most installed packages"
                                             : "Debian sections with the most packages") +
                  " on this machine (" + std::to_string(packages) + " packages in all):";
  if (table.column_count() >= 2)
    for (std::size_t r = 0; r < table.rows(); ++r)
      t += (r ? ", " : " ") + table.column(0).text(r) + " has " + table.column(1).text(r) + " packages";
  return t + ".";
}

SectionsReport debian_sections(Runtime& rt, int limit) {
  SectionsReport s;
  const uint64_t t_load = now_ns();
  try {
    auto session = rt.database().connect();
    const auto loaded = data::load_debian_packages(session);
    s.packages = loaded.packages;
    s.installed_only = loaded.from_dpkg_status;
  } catch (const std::exception& e) {
    s.note = e.what();
  }
  s.query_start_ns = now_ns();
  s.load_ms = ms_between(t_load, s.query_start_ns);
  s.sql = s.packages ? "SELECT section, count(*) AS packages, sum(installed_size_kib) AS installed_kib "
                       "FROM debian_packages GROUP BY section ORDER BY packages DESC LIMIT " + std::to_string(limit)
                     : "SELECT 'no apt lists' AS section, 0 AS packages";
  auto ticket = rt.data().submit({.sql = s.sql});
  s.table = ticket.get();
  s.engine = ticket.slot->engine;
  s.query_ms = ms_between(s.query_start_ns, now_ns());
  return s;
}

}  // namespace ut::engine
