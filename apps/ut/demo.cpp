// `ut demo`: every path of the engine at once, on the embedded defaults.
//   render : the 60 Hz heartbeat on Q_render (E_frame) keeps ticking through all of it, never waiting;
//   docs   : the project's own documents are stored in DuckDB and embedded in the background on Q_ml;
//   data   : the machine's Debian package list is loaded and aggregated on the data lane (E_data), and the
//            result is turned into a document so chat can cite it;
//   chat   : embed the question (E_embed) -> search (E_rag) -> stream the answer token by token.
// Prints the KPI table and writes the trace (Chrome JSON).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "apps/ut/commands.h"
#include "engine/demo_corpus.h"
#include "engine/runtime.h"
#include "timeline/clock.h"

namespace ut::app {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kTrainedQuestion = "Which package captures packets on a switched network?";
constexpr const char* kSqlQuestion = "Which Debian sections have the most packages?";

double ms_since(uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e6; }

// One question, streamed to stdout; the job (sources, result) and the time to its first token.
struct Answer {
  std::shared_ptr<engine::ChatJob> job;
  double ttft_ms = -1;
  std::size_t streamed = 0;
};

Answer ask(engine::Assistant& ai, const std::string& question, ml::GenerateOptions gen) {
  std::printf("\nQ: %s\nA: ", question.c_str());
  std::fflush(stdout);
  Answer a;
  a.job = ai.chat({.messages = {{"user", question}}, .gen = gen});
  if (!a.job) throw Error("engine busy");
  const uint64_t t0 = now_ns();
  a.job->stream([&](const ml::StreamToken* t) {
    if (!t) return true;
    if (a.ttft_ms < 0 && !t->text.empty()) a.ttft_ms = ms_since(t0);
    std::fputs(t->text.c_str(), stdout);
    std::fflush(stdout);
    ++a.streamed;
    return true;
  });
  a.job->wait();
  std::printf("\nsources (RAG badges):");
  if (!a.job->rag_ready || a.job->rag_missed_deadline) std::printf(" none (context missed its deadline)");
  for (auto& s : a.job->sources) std::printf("  [%s #%u %.2f]", s.title.c_str(), s.ord, s.score);
  return a;
}

// What the KPI table reports, gathered while the paths ran.
struct DemoRun {
  Answer answer;
  engine::SectionsReport sections;
  uint64_t t_start = 0, t_sql_ai = 0;
  std::size_t ndocs = 0;
  double docs_ms = 0;
  bool indexed = false, cites_sql = false;
  std::string sql_answer_line;  // the first line of the answer to the SQL question (trained models)
  nlohmann::json guards;
};

// Whether `word` occurs in `text` with no letter, digit or '-' on either side ("libs" is not in "libsdl").
bool names_word(const std::string& text, const std::string& word) {
  const auto part = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; };
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1))
    if ((at == 0 || !part(text[at - 1])) && (at + word.size() == text.size() || !part(text[at + word.size()])))
      return true;
  return false;
}

std::string last_change(const std::vector<std::string>& changes, const std::string& what) {
  for (auto it = changes.rbegin(); it != changes.rend(); ++it)
    if (it->rfind(what, 0) == 0) return "; last change: " + *it;
  return ", unchanged";
}

void print_kpis(engine::Runtime& rt, const DemoRun& d, const engine::FrameStats& fs_, const nlohmann::json& stats) {
  engine::Engine& eng = rt.engine();
  engine::Assistant& ai = rt.assistant();
  const auto& r = *d.answer.job->result;
  const auto& sec = d.sections;
  const uint64_t t_sql = sec.query_start_ns;
  std::printf("\n%-34s %s\n", "KPI", "value");
  std::printf("%-34s %llu frames, avg %.2f ms, p99 %.2f ms, max %.2f ms, %.1f%% late (> 17.6 ms)\n", "UI heartbeat (60 Hz)",
              static_cast<unsigned long long>(fs_.frames), fs_.avg_ms, fs_.p99_ms, fs_.max_ms, fs_.over_16ms_pct);
  std::printf("%-34s %.1f ms (context %s in %.1f ms)\n", "chat: time to first token", d.answer.ttft_ms,
              d.answer.job->rag_ready ? "ready" : "missing", d.answer.job->rag_ms);
  std::printf("%-34s %zu tokens, %.1f tokens/s decode, %d prompt tokens, stop: %s\n", "chat: answer", r.tokens.size(),
              r.decode_tokens_per_s(), r.prompt_tokens, ml::to_string(r.reason));
  std::printf("%-34s load %.1f ms, GROUP BY %.1f ms over %zu packages%s (%s); overlapped %.1f ms\n", "SQL (data lane)",
              sec.load_ms, sec.query_ms, sec.packages, sec.installed_only ? " (dpkg status: no apt lists)" : "",
              sec.engine.c_str(), eng.overlapped_ms(t_sql, t_sql + static_cast<uint64_t>(sec.query_ms * 1e6)));
  const double wall = static_cast<double>(d.t_sql_ai - t_sql) / 1e6, over = eng.overlapped_ms(t_sql, d.t_sql_ai);
  std::printf("%-34s %.1f ms wall (query, rows as text, embedded), %.1f ms overlapped, efficiency %.2f\n", "SQL -> AI",
              wall, over, wall > 0 ? over / wall : 0.0);
  std::printf("%-34s %zu documents + SQL result embedded in %.1f ms (%s); chat cites the SQL result: %s\n", "documents",
              d.ndocs, d.docs_ms, d.indexed ? "all chunks" : "timed out", d.cites_sql ? "yes" : "no");
  if (!d.sql_answer_line.empty() && sec.table.rows() > 0 && sec.table.column_count() > 0) {
    // Right when the answer's first line names the section the query put first, as a word of its own.
    const std::string top = sec.table.column(0).text(0);
    std::printf("%-34s %s (the query's first row: %s; the answer begins \"%s\")\n", "SQL question answered right",
                names_word(d.sql_answer_line, top) ? "yes" : "no", top.c_str(), d.sql_answer_line.c_str());
  }
  std::printf("%-34s %llu command buffers overlapped another queue in the last second\n", "overlap",
              static_cast<unsigned long long>(stats["performance"]["overlapped_ops"].get<uint64_t>()));
  const auto& ev = stats["events"];
  std::printf("%-34s E_frame=%s E_embed=%s E_rag=%s E_data=%s\n", "events", ev["frame_counter"].dump().c_str(),
              ev["embed_counter"].dump().c_str(), ev["rag_counter"].dump().c_str(), ev["data_counter"].dump().c_str());
  std::printf("%-34s %.1f of %.0f MB (pressure %s)\n", "shared heap", stats["memory"]["heap_used_mb"].get<double>(),
              stats["memory"]["heap_total_mb"].get<double>(), stats["memory"]["pressure"].get<std::string>().c_str());
  std::printf("%-34s %s (%s); memory pressure %s\n", "bottleneck (during the answer)",
              d.guards["bottleneck"]["kind"].get<std::string>().c_str(),
              d.guards["bottleneck"]["why"].get<std::string>().c_str(), d.guards["pressure"].get<std::string>().c_str());
  const auto changes = ai.tuning_log();
  const std::string what =
      "tuning (decode step budget " + std::to_string(static_cast<int>(ai.step_budget_ms())) + " ms)";
  std::printf("%-34s prefill chunk %d tokens%s\n", what.c_str(), ai.prefill_chunk(),
              last_change(changes, "prefill chunk").c_str());
  std::printf("%-34s embedding batch %zu chunks%s\n", "", ai.index_batch_size(),
              last_change(changes, "embedding batch").c_str());
  std::printf("%-34s %.1f s\n", "wall time", ms_since(d.t_start) / 1000);
}

}  // namespace

int demo(const DemoOptions& o) {
  DemoRun d;
  d.t_start = now_ns();
  if (!o.keep_db) {
    for (const auto& suffix : {"", ".wal", ".hnsw", ".hnsw.gen"}) fs::remove(o.db_path + suffix);
  }
  engine::RuntimeConfig rc{.engine = {.backend = o.backend, .reserve_sms = o.reserve_sms}, .db_path = o.db_path};
  rc.assistant.rag_deadline = std::chrono::milliseconds(o.rag_deadline_ms);
  engine::Runtime rt(rc);
  engine::Engine& eng = rt.engine();
  engine::Assistant& ai = rt.assistant();
  const bool random_weights = rt.random_weights();
  std::printf("ut demo — backend %s (%s); the 60 Hz heartbeat runs throughout\n", eng.device().caps().backend.c_str(),
              eng.device().caps().name.c_str());
  if (eng.device().caps().is_gpu) std::printf("SM partition: %s\n", engine::partition_text(eng.device().caps()).c_str());
  std::printf("models: %s / %s%s\n", ai.embed_model_name().c_str(), ai.chat_model_name().c_str(),
              random_weights ? " — random weights: the answer text is meaningless, the timing is real" : "");

  // docs: stored at once (durable), embedded in the background.
  const uint64_t t_docs = now_ns();
  for (auto& [title, body] : engine::demo_corpus()) {
    if (!ai.docs()->find_by_title(title)) ai.docs()->create(title, body);
    ++d.ndocs;
  }
  ai.schedule_indexing();

  // data: Debian packages through the data path (planner: DuckDB or the kernels; E_data), overlapping the rest;
  // the result joins the documents (rows as text -> document -> embedded) so chat can cite it.
  d.sections = engine::debian_sections(rt, 8);
  const uint64_t sql_doc =
      rt.store_result("sql: packages by section", d.sections.sql, d.sections.table, d.sections.prose()).doc_id;
  ai.wait_document(sql_doc, 60s);  // newest first: it goes ahead of the documents still being embedded
  d.t_sql_ai = now_ns();           // the SQL result is embedded and searchable: SQL -> AI done
  d.indexed = ai.wait_indexed(60s);
  d.docs_ms = ms_since(t_docs);

  // Random weights: a question the SQL result answers (the timing is what counts). Trained models: a held-out
  // package's need, which the stored descriptions answer, greedily (the most likely text copies the context).
  d.answer = ask(ai, random_weights ? kSqlQuestion : kTrainedQuestion,
                 {.sampling = {.temperature = random_weights ? 0.7f : 0.0f, .seed = 7}, .max_tokens = o.max_tokens});
  d.guards = rt.guards();  // the interval that ended while the answer streamed
  // With the trained models the SQL question is asked too: the badges show whether retrieval brought the SQL
  // result into its context.
  auto cite_job = d.answer.job;
  if (!random_weights)
    cite_job = ask(ai, kSqlQuestion, {.sampling = {.temperature = 0.0f}, .max_tokens = std::min(o.max_tokens, 32)}).job;
  d.cites_sql = std::any_of(cite_job->sources.begin(), cite_job->sources.end(),
                            [&](auto& s) { return s.doc_id == sql_doc; });
  if (!random_weights) {
    const std::string& text = cite_job->result->text;
    d.sql_answer_line = text.substr(0, std::min(text.find('\n'), std::size_t{120}));
  }
  std::printf("\n\nSQL (%s):\n%s", d.sections.engine.c_str(), d.sections.table.to_table(8).c_str());
  if (!d.sections.note.empty()) std::printf("  note: %s\n", d.sections.note.c_str());

  std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));  // a few more ticks for the KPIs
  const auto stats = eng.realtime_stats();
  const auto fs_ = eng.frame_stats();
  eng.stop();
  print_kpis(rt, d, fs_, stats);
  std::ofstream(o.trace_path) << eng.chrome_trace();
  std::printf("trace: %s (open in https://ui.perfetto.dev)\n", o.trace_path.c_str());
  const bool ok = d.answer.streamed > 0 && d.indexed && fs_.frames > 0;
  if (!ok) std::fprintf(stderr, "ut demo: a path did not complete (see above)\n");
  return ok ? 0 : 1;
}

}  // namespace ut::app
