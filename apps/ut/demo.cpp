// `ut demo`: every path of the engine at once, on the embedded defaults.
//   render : the 60 Hz heartbeat on Q_render (E_frame) keeps ticking through all of it, never waiting;
//   docs   : the project's own documents are stored in DuckDB and embedded in the background on Q_ml;
//   data   : the machine's Debian package list is loaded and aggregated on the host lane (E_data), and the
//            result is turned into a document so chat can cite it;
//   chat   : embed the question (E_embed) -> search (E_rag) -> stream the answer token by token.
// Prints the KPI table and writes the trace (Chrome JSON).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "apps/ut/commands.h"
#include "engine/assistant.h"
#include "engine/default_models.h"
#include "engine/engine.h"
#include "engine/governor.h"
#include "timeline/clock.h"
#include "workloads/data/datasets.h"
#include "workloads/data/host_lane.h"
#include "workloads/data/planner.h"
#include "workloads/data/preagg.h"

namespace ut::app {

std::vector<std::pair<std::string, std::string>> demo_corpus() {
  std::vector<std::pair<std::string, std::string>> docs;
  for (const char* p : {"README.md", "docs/ARCHITECTURE.md", "docs/API.md", "workloads/data/README.md"}) {
    std::ifstream f(p);
    if (!f) continue;
    std::stringstream ss;
    ss << f.rdbuf();
    docs.emplace_back(p, ss.str());
  }
  // With the trained models: Debian package descriptions too (the first 200 of the committed check set, which
  // holds packages the models never saw in training), so the chat question below has a true answer to find.
  if (const auto dir = engine::trained_models_dir(); !dir.empty()) {
    std::ifstream f(dir + "/retrieval-check.jsonl");
    std::string line;
    for (int i = 0; i < 200 && std::getline(f, line); ++i) {
      const auto j = nlohmann::json::parse(line);
      docs.emplace_back(j["package"].get<std::string>(), j["doc"].get<std::string>());
    }
  }
  if (docs.empty()) {
    docs.emplace_back("engine.md", "The engine overlaps UI frames, inference and SQL on one machine.\n\n"
                                   "The render queue never waits on ML: it reads event values and draws what is ready.");
  }
  return docs;
}

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kTrainedQuestion = "Which package captures packets on a switched network?";

double ms_since(uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e6; }

}  // namespace

int demo(const DemoOptions& o) {
  const uint64_t t_start = now_ns();
  engine::Engine eng({.backend = o.backend});
  eng.start();
  std::printf("ut demo — backend %s (%s); the 60 Hz heartbeat runs throughout\n", eng.device().caps().backend.c_str(),
              eng.device().caps().name.c_str());

  const std::string db_path = o.db_path;
  if (!o.keep_db) {
    for (const auto& suffix : {"", ".wal", ".hnsw", ".hnsw.gen"}) fs::remove(db_path + suffix);
  }
  const auto models = engine::default_models();
  engine::Assistant ai(eng, {.embed_model = models.embedder, .chat_model = models.decoder, .db_path = db_path,
                             .rag_deadline = std::chrono::milliseconds(o.rag_deadline_ms)});
  engine::Governor governor(eng);
  governor.on_batch([&ai](std::size_t b) { ai.set_index_batch(b); });
  governor.start();
  std::printf("models: %s / %s%s\n", ai.embed_model_name().c_str(), ai.chat_model_name().c_str(),
              models.random_weights ? " — random weights: the answer text is meaningless, the timing is real" : "");

  // docs: stored at once (durable), embedded in the background.
  const uint64_t t_docs = now_ns();
  std::size_t ndocs = 0;
  for (auto& [title, body] : demo_corpus()) {
    if (!ai.docs()->find_by_title(title)) ai.docs()->create(title, body);
    ++ndocs;
  }
  ai.schedule_indexing();

  // data: Debian packages on the host lane, planned (DuckDB or the pre-aggregation kernels), overlapping the rest.
  data::QueryLane lane(eng.host_device(), ai.database(), eng.host_queue(), eng.e_data());
  auto session = ai.database().connect();
  std::size_t packages = 0;
  bool installed_only = false;  // no apt lists: dpkg's installed packages
  std::string sql_note;
  const uint64_t t_load = now_ns();
  try {
    const auto loaded = data::load_debian_packages(session);
    packages = loaded.packages;
    installed_only = loaded.from_dpkg_status;
  } catch (const std::exception& e) {
    sql_note = e.what();
  }
  const double load_ms = ms_since(t_load);
  const uint64_t t_sql = now_ns();
  data::PreAggregator agg(eng.host_device(), eng.ml_queue());
  const std::string sql = packages ? "SELECT section, count(*) AS packages, sum(installed_size_kib) AS installed_kib "
                                     "FROM debian_packages GROUP BY section ORDER BY packages DESC LIMIT 8"
                                   : "SELECT 'no apt lists' AS section, 0 AS packages";
  auto ticket = lane.submit_planned(sql, agg, {.backend = "cpu"});

  // chat: waits for nothing but its own events; the SQL result joins the documents when it lands.
  data::Result table = ticket.get();
  const double sql_ms = ms_since(t_sql);
  // The result in words first (what an embedder trained on prose matches, and what a small decoder can copy),
  // then the table itself.
  std::string table_text = std::string(installed_only ? "Debian sections with the most installed packages"
                                                      : "Debian sections with the most packages") +
                           " on this machine (" + std::to_string(packages) + " packages in all):";
  if (table.column_count() >= 2)
    for (std::size_t r = 0; r < table.rows(); ++r)
      table_text += (r ? ", " : " ") + table.column(0).text(r) + " has " + table.column(1).text(r) + " packages";
  table_text += ".\n\n" + table.to_table(20);
  const uint64_t sql_doc = ai.docs()->create("sql: packages by section", table_text);
  ai.schedule_indexing();
  ai.wait_document(sql_doc, 60s);  // newest first: it goes ahead of the documents still being embedded
  const uint64_t t_sql_ai = now_ns();  // the SQL result is embedded and searchable: SQL -> AI done
  const bool indexed = ai.wait_indexed(60s);
  const double docs_ms = ms_since(t_docs);

  // Random weights: a question the SQL result answers (the timing is what counts). Trained models: a held-out
  // package's need, which the stored descriptions answer.
  const std::string question = models.random_weights ? "Which Debian sections have the most packages?"
                                                      : std::string(kTrainedQuestion);
  std::printf("\nQ: %s\nA: ", question.c_str());
  std::fflush(stdout);
  auto job = ai.chat({.messages = {{"user", question}},
                      // Trained models answer greedily: the most likely text is the one that copies the context.
                      .gen = {.sampling = {.temperature = models.random_weights ? 0.7f : 0.0f, .seed = 7},
                              .max_tokens = o.max_tokens}});
  if (!job) throw Error("engine busy");
  const uint64_t t_chat = now_ns();
  double ttft_ms = -1;
  std::size_t streamed = 0;
  job->stream([&](const ml::StreamToken* t) {
    if (!t) return true;
    if (ttft_ms < 0 && !t->text.empty()) ttft_ms = ms_since(t_chat);
    std::fputs(t->text.c_str(), stdout);
    std::fflush(stdout);
    ++streamed;
    return true;
  });
  job->wait();
  const auto guards = governor.snapshot();  // the interval that ended while the answer streamed
  std::printf("\nsources (RAG badges):");
  if (!job->rag_ready || job->rag_missed_deadline) std::printf(" none (context missed the %d ms deadline)", o.rag_deadline_ms);
  for (auto& s : job->sources) std::printf("  [%s #%u %.2f]", s.title.c_str(), s.ord, s.score);
  // With the trained models the SQL question is asked too: the decoder answers in package-description language,
  // but the badges show whether retrieval brought the SQL result into its context.
  auto cite_job = job;
  if (!models.random_weights) {
    const std::string q2 = "Which Debian sections have the most packages?";
    std::printf("\n\nQ: %s\nA: ", q2.c_str());
    auto j2 = ai.chat({.messages = {{"user", q2}},
                       .gen = {.sampling = {.temperature = 0.0f}, .max_tokens = std::min(o.max_tokens, 32)}});
    if (j2) {
      j2->stream([](const ml::StreamToken* t) {
        if (t) std::fputs(t->text.c_str(), stdout), std::fflush(stdout);
        return true;
      });
      j2->wait();
      std::printf("\nsources (RAG badges):");
      for (auto& s : j2->sources) std::printf("  [%s #%u %.2f]", s.title.c_str(), s.ord, s.score);
      cite_job = j2;
    }
  }
  const bool cites_sql =
      std::any_of(cite_job->sources.begin(), cite_job->sources.end(), [&](auto& s) { return s.doc_id == sql_doc; });
  std::printf("\n\nSQL (%s):\n%s", ticket.slot->engine.c_str(), table.to_table(8).c_str());
  if (!sql_note.empty()) std::printf("  note: %s\n", sql_note.c_str());

  std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
  const auto stats = eng.realtime_stats();
  governor.stop();
  const auto fs_ = eng.frame_stats();
  eng.stop();
  const auto& r = *job->result;
  std::printf("\n%-34s %s\n", "KPI", "value");
  std::printf("%-34s %llu frames, avg %.2f ms, p99 %.2f ms, max %.2f ms, %.1f%% late (> 17.6 ms)\n", "UI heartbeat (60 Hz)",
              static_cast<unsigned long long>(fs_.frames), fs_.avg_ms, fs_.p99_ms, fs_.max_ms, fs_.over_16ms_pct);
  std::printf("%-34s %.1f ms (context %s in %.1f ms)\n", "chat: time to first token", ttft_ms,
              job->rag_ready ? "ready" : "missing", job->rag_ms);
  std::printf("%-34s %zu tokens, %.1f tokens/s decode, %d prompt tokens, stop: %s\n", "chat: answer", r.tokens.size(),
              r.decode_tokens_per_s(), r.prompt_tokens, ml::to_string(r.reason));
  std::printf("%-34s load %.1f ms, GROUP BY %.1f ms over %zu packages%s (%s); overlapped %.1f ms\n", "SQL (host lane)",
              load_ms, sql_ms, packages, installed_only ? " (dpkg status: no apt lists)" : "", ticket.slot->engine.c_str(),
              eng.overlapped_ms(t_sql, t_sql + static_cast<uint64_t>(sql_ms * 1e6)));
  {
    const double wall = static_cast<double>(t_sql_ai - t_sql) / 1e6, over = eng.overlapped_ms(t_sql, t_sql_ai);
    std::printf("%-34s %.1f ms wall (query, rows as text, embedded), %.1f ms overlapped, efficiency %.2f\n",
                "SQL -> AI", wall, over, wall > 0 ? over / wall : 0.0);
  }
  std::printf("%-34s %zu documents + SQL result embedded in %.1f ms (%s); chat cites the SQL result: %s\n",
              "documents", ndocs, docs_ms, indexed ? "all chunks" : "timed out", cites_sql ? "yes" : "no");
  std::printf("%-34s %llu command buffers overlapped another queue in the last second\n", "overlap",
              static_cast<unsigned long long>(stats["performance"]["overlapped_ops"].get<uint64_t>()));
  std::printf("%-34s E_frame=%s E_embed=%s E_rag=%s E_data=%s\n", "events", stats["events"]["frame"].dump().c_str(),
              stats["events"]["embed"].dump().c_str(), stats["events"]["rag"].dump().c_str(),
              stats["events"]["data"].dump().c_str());
  std::printf("%-34s %.1f of %.0f MB (pressure %s)\n", "shared heap", stats["memory"]["heap_used_mb"].get<double>(),
              stats["memory"]["heap_total_mb"].get<double>(), stats["memory"]["pressure"].get<std::string>().c_str());
  std::printf("%-34s %s (%s); memory pressure %s\n", "bottleneck (during the answer)",
              guards["bottleneck"]["kind"].get<std::string>().c_str(), guards["bottleneck"]["why"].get<std::string>().c_str(),
              guards["pressure"].get<std::string>().c_str());
  {
    const auto changes = ai.tuning_log();
    auto last = [&](const std::string& what) {
      for (auto it = changes.rbegin(); it != changes.rend(); ++it)
        if (it->rfind(what, 0) == 0) return "; last change: " + *it;
      return std::string(", unchanged");
    };
    const std::string what = "tuning (step budget " + std::to_string(static_cast<int>(engine::StepTunerConfig{}.step_budget_ms)) + " ms)";
    std::printf("%-34s prefill chunk %d tokens%s\n", what.c_str(), ai.prefill_chunk(), last("prefill chunk").c_str());
    std::printf("%-34s embedding batch %zu chunks%s\n", "", ai.index_batch_size(), last("embedding batch").c_str());
  }
  std::printf("%-34s %.1f s\n", "wall time", ms_since(t_start) / 1000);
  std::ofstream(o.trace_path) << eng.chrome_trace();
  std::printf("trace: %s (open in https://ui.perfetto.dev)\n", o.trace_path.c_str());
  const bool ok = streamed > 0 && indexed && fs_.frames > 0;
  if (!ok) std::fprintf(stderr, "ut demo: a path did not complete (see above)\n");
  return ok ? 0 : 1;
}

}  // namespace ut::app
