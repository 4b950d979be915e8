// Runtime: the whole system composed in one place — the Engine (devices, queues, events, heap, heartbeat), the
// chat/embedding/documents paths (Assistant), the data path (planner + pre-aggregation kernels + DuckDB, E_data),
// the Governor and the tuners, over one DuckDB file. `ut` commands, the HTTP server and the UI only configure it
// and call it; nothing above engine/ assembles these parts by hand.
//
//   ut::engine::Runtime rt({.engine = {.backend = ""}, .db_path = "ut-engine.duckdb"});   // default models
//   auto job = rt.assistant().chat({.messages = {{"user", "Which package provides pdftoppm?"}}});
//   const std::string sql = "SELECT section, count(*) FROM debian_packages GROUP BY 1";
//   auto t = rt.data().submit({.sql = sql});                            // planner, data queue, E_data
//   auto doc = rt.store_result("sql: sections", sql, t.get());          // rows as text -> document -> embedded
//   rt.assistant().wait_document(doc.doc_id, std::chrono::seconds(60));
//   nlohmann::json g = rt.guards();                                     // Governor + tuners, for /api/v1/guards
//
// Contract
// - Construction loads the models (the project's defaults fill the names left empty when default_models is
//   set; "none" switches a model off), opens the database, starts the heartbeat (unless heartbeat = false: the
//   UI's FrameLoop is then the clock) and the Governor. Destruction stops them and waits for work in flight.
// - One CoreBudget over the machine's cores: chat steps, SQL queries and background embedding batches take their
//   thread counts from it (realtime-stats "cpu_budget", guards()).
// - Thread-safe: every path may be called from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "engine/assistant.h"
#include "engine/core_budget.h"
#include "engine/data_path.h"
#include "engine/engine.h"
#include "engine/governor.h"

namespace ut::engine {

struct RuntimeConfig {
  EngineConfig engine;
  std::string db_path;            // one DuckDB file for documents and SQL; empty: in-memory
  // Model paths; empty: the project's default (when default_models), "none": off (no chat, or no embeddings).
  std::string embed_model, chat_model;
  bool default_models = true;
  AssistantConfig assistant;      // chat/documents tuning (its model and db fields are set from the above)
  DataPathConfig data;
  bool heartbeat = true;          // the engine's 60 Hz tick; off when the UI's FrameLoop is the clock
  bool governor = true;
  CoreBudgetConfig cpu;           // the cores the chat, SQL and background embedding lanes share
};

// One SQL result stored as a document and scheduled for embedding (chat can then cite it).
struct StoredResult {
  uint64_t doc_id = 0;
  std::string title, text;
  bool updated = false;  // a document of this title existed and got the new text
};

class Runtime {
 public:
  explicit Runtime(RuntimeConfig config = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Engine& engine() noexcept { return *engine_; }
  Assistant& assistant() noexcept { return *assistant_; }
  DataPath& data() noexcept { return *data_; }
  data::Database& database() noexcept { return *db_; }
  CoreBudget& cpu_budget() noexcept { return *budget_; }
  // True when a default model with random weights is in use (its answers are meaningless text).
  bool random_weights() const noexcept { return random_weights_; }

  // The one "query -> rows as text -> document -> embed" operation: the rows (up to max_rows) as text lines,
  // after `preface` (a sentence that says what the table is) when given, stored under `title` (replacing the
  // document of that title) and scheduled for embedding; wait_document(doc_id) waits for it.
  StoredResult store_result(const std::string& title, const std::string& sql, const data::Result& result,
                            const std::string& preface = {}, std::size_t max_rows = 2000);

  // Pressure, bottleneck and the Governor's log, the decode step size and both tuners' logs (/api/v1/guards).
  nlohmann::json guards() const;

 private:
  RuntimeConfig config_;
  bool random_weights_ = false;
  CoreBudgetPtr budget_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<data::Database> db_;
  std::unique_ptr<Assistant> assistant_;
  std::unique_ptr<DataPath> data_;
  std::unique_ptr<Governor> governor_;
};

// The machine's Debian packages by section (the demo's and the UI's data question): loads debian_packages
// (apt lists, else dpkg's status file) and runs the GROUP BY through the data path.
struct SectionsReport {
  data::Result table;
  std::size_t packages = 0;
  bool installed_only = false;  // no apt lists: dpkg's installed packages
  std::string sql, engine, note;  // engine: which engine ran it and why; note: why loading failed
  double load_ms = 0, query_ms = 0;
  uint64_t query_start_ns = 0;
  // "Debian sections with the most packages on this machine (N in all): libs has 7273 packages, ...": the
  // result in words (what an embedder trained on prose matches, and what a small decoder can copy).
  std::string prose() const;
};
SectionsReport debian_sections(Runtime& rt, int limit);

}  // namespace ut::engine
