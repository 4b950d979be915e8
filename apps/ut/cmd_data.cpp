// `ut sql`: the data engine's command (workloads/data).
//   ut sql "SELECT section, count(*) FROM debian_packages GROUP BY section" [--db FILE] [--write]
//   ut sql --format csv "SELECT ..." | ...        table (default), csv, json or markdown, as DuckDB's CLI modes
//   ut sql --explain-plan "SELECT ..."            the planner's choice (kernels vs DuckDB) and why; runs nothing
//   ut sql --load-debian-packages                 (re)loads the table debian_packages from apt's lists
//   ut sql --generate-lineitem 1000000 --seed 7   (re)creates the synthetic table lineitem
// (`ut bench data` lives in bench/data.)
// Every query goes through the engine's data path (planner, kernels or DuckDB, E_data), as POST /api/v1/sql does;
// `--embed` stores the result as a document through the engine's one result -> document -> embed operation.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include "apps/ut/commands.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "workloads/data/database.h"
#include "workloads/data/datasets.h"
#include "engine/runtime.h"

namespace ut::app {
namespace {

struct SqlOptions {
  std::string sql;
  std::string db_path;
  bool write = false;
  bool explain = false;
  std::string kernel = "auto";  // auto | on | off
  std::string backend;
  bool load_debian = false;
  uint64_t lineitem_rows = 0;
  uint64_t seed = 1;
  int timeout_ms = 0;
  std::size_t max_rows = 100;
  bool max_rows_given = false;  // csv, json and markdown print every row unless --max-rows is given
  std::string format = "table";
  bool embed = false;
};

// The result in the chosen format; only the table carries the row count, the rest is data for other tools.
std::string formatted(const data::Result& r, const SqlOptions& o) {
  const std::size_t limit = o.max_rows_given ? o.max_rows : SIZE_MAX;
  if (o.format == "csv") return r.to_csv(limit);
  if (o.format == "json") return r.to_json(limit);
  if (o.format == "markdown") return r.to_markdown(limit);
  return r.to_table(o.max_rows);
}

double ms_since(uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e6; }

int run_sql(const SqlOptions& o) {
  // Plain SQL needs no models; --embed loads the embedder only. The engine's queues stay on the CPU here: the
  // data path still puts the kernels on the best device that has them (or --backend).
  engine::Runtime rt({.engine = {.backend = "cpu"},
                      .db_path = o.db_path.empty() ? data::Database::default_path() : o.db_path,
                      .embed_model = o.embed ? "" : "none", .chat_model = "none",
                      .data = {.kernel_backend = o.backend}, .heartbeat = false, .governor = false});
  FILE* info = o.format == "table" ? stdout : stderr;  // stdout holds only the data in csv, json and markdown
  bool did = false;
  if (o.load_debian) {
    const uint64_t t0 = now_ns();
    auto session = rt.database().connect();
    const auto load = data::load_debian_packages(session);
    std::fprintf(info, "loaded %zu packages from %s into debian_packages (%.0f ms) in %s\n", load.packages,
                load.from_dpkg_status ? "dpkg's status file (no apt lists; installed packages only)"
                                      : (std::to_string(load.files) + " apt lists").c_str(),
                ms_since(t0), rt.database().options().path.c_str());
    did = true;
  }
  if (o.lineitem_rows > 0) {
    const uint64_t t0 = now_ns();
    auto session = rt.database().connect();
    data::generate_lineitem(session, {.rows = o.lineitem_rows, .seed = o.seed});
    std::fprintf(info, "generated lineitem: %llu rows, seed %llu (%.0f ms)\n",
                 static_cast<unsigned long long>(o.lineitem_rows),
                static_cast<unsigned long long>(o.seed), ms_since(t0));
    did = true;
  }
  if (o.sql.empty()) {
    if (!did) std::fprintf(stderr, "ut sql: give a query, --load-debian-packages or --generate-lineitem N\n");
    return did ? 0 : 2;
  }
  const engine::KernelMode kernel = engine::parse_kernel_mode(o.kernel);
  if (o.explain) {
    std::printf("%s", rt.data().explain(o.sql, kernel).c_str());
    return 0;
  }
  const uint64_t t0 = now_ns();
  const data::QueryTicket t = rt.data().submit(
      {.sql = o.sql, .write = o.write, .timeout = std::chrono::milliseconds(o.timeout_ms), .kernel = kernel});
  const data::Result r = t.get();
  const std::string text = formatted(r, o);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fprintf(info, "(%.1f ms on %s, E_data = %llu%s%s)\n", ms_since(t0),
               rt.data().queue()->label().c_str(), static_cast<unsigned long long>(t.value),
               t.slot->engine.empty() ? "" : "; ", t.slot->engine.c_str());
  if (!o.embed) return 0;
  const auto stored = rt.store_result("sql: " + o.sql, o.sql, r);
  if (!rt.assistant().wait_document(stored.doc_id, std::chrono::minutes(5)))
    throw Error("embedding the result did not finish in 5 minutes");
  std::fprintf(info, "embedded as document %llu \"%s\" (%zu chunks) — chat and /api/v1/docs/search can now cite it\n",
              static_cast<unsigned long long>(stored.doc_id), stored.title.c_str(),
              rt.assistant().docs()->chunks(stored.doc_id).size());
  return 0;
}

}  // namespace

void add_data_commands(CLI::App& app, CLI::App&, int& rc) {
  auto so = std::make_shared<SqlOptions>();
  auto* q = app.add_subcommand("sql", "Run SQL on the embedded DuckDB store (read-only unless --write); prints a table.\n"
                                      "GROUP BY queries go through the pre-aggregation planner (--explain-plan)");
  q->add_option("sql", so->sql, "The query");
  q->add_option("--db", so->db_path, "Database file (default $UT_DATA_DB or ./ut-data.duckdb)");
  q->add_flag("--write", so->write, "Allow writes (otherwise only SELECT/EXPLAIN, in a read-only transaction)");
  q->add_flag("--explain-plan", so->explain, "Show the planner's choice (kernels vs DuckDB) and why; run nothing");
  q->add_option("--kernel", so->kernel, "auto: the planner decides; on: kernels when eligible; off: DuckDB only")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  q->add_option("--backend", so->backend, "Backend for the kernels (default: a GPU with data kernels, else cpu)");
  q->add_flag("--load-debian-packages", so->load_debian, "(Re)load table debian_packages from /var/lib/apt/lists");
  q->add_option("--generate-lineitem", so->lineitem_rows, "(Re)create table lineitem with N synthetic rows");
  q->add_option("--seed", so->seed, "Seed for --generate-lineitem")->capture_default_str();
  q->add_option("--timeout-ms", so->timeout_ms, "Interrupt the query after this many ms (0: none)");
  auto* max_rows = q->add_option("--max-rows", so->max_rows, "Rows to print (csv, json, markdown: all unless given)")
                       ->capture_default_str();
  q->add_option("--format", so->format, "Output: table (aligned), csv (RFC 4180), json (array of objects), markdown")
      ->check(CLI::IsMember({"table", "csv", "json", "markdown"}))
      ->capture_default_str();
  q->add_flag("--embed", so->embed, "Also store the result as text rows in the documents and embed them (chat cites it)");
  q->callback([so, max_rows, &rc] {
    so->max_rows_given = max_rows->count() > 0;
    rc = run_sql(*so);
  });
}

}  // namespace ut::app
