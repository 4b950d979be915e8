// `ut sql`: the data engine's command (workloads/data).
//   ut sql "SELECT section, count(*) FROM debian_packages GROUP BY section" [--db FILE] [--write]
//   ut sql --format csv "SELECT ..." | ...        table (default), csv, json or markdown, as DuckDB's CLI modes
//   ut sql --explain-plan "SELECT ..."            the planner's choice (kernels vs DuckDB) and why; runs nothing
//   ut sql --load-debian-packages                 (re)loads the table debian_packages from apt's lists
//   ut sql --generate-lineitem 1000000 --seed 7   (re)creates the synthetic table lineitem
// (`ut bench data` lives in bench/data.)
// SQL -> text rows -> embeddings -> vector index (`--embed`) is not here yet: it needs the ML lane's embedder
// and the vector index, which are built in parallel (workloads/ml, workloads/vector).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include "apps/ut/commands.h"
#include "backends/cpu/device.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/kernel.h"
#include "workloads/data/database.h"
#include "workloads/data/datasets.h"
#include "workloads/data/host_lane.h"
#include "engine/assistant.h"
#include "engine/default_models.h"
#include "engine/engine.h"
#include "workloads/data/planner.h"
#include "workloads/data/preagg.h"

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

std::string pick_backend(const std::string& wanted) {
  if (!wanted.empty()) return wanted;
  // Kernels run where a data.agg_rows implementation exists; the CPU one always does.
  data::register_agg_kernels();
  for (const auto& b : Device::backends())
    if (b.available && b.name != "cpu" && kernels().find(data::kAggRowsKernel, b.name)) return b.name;
  return "cpu";
}

// Query results as readable text rows ("column: value; ..."), the form the embedder and chat see.
std::string result_text(const std::string& sql, const data::Result& r, std::size_t max_rows) {
  std::string t = "SQL result for: " + sql + "\n\n";
  for (std::size_t i = 0; i < r.rows() && i < max_rows; ++i) {
    for (std::size_t c = 0; c < r.column_count(); ++c)
      t += (c ? "; " : "") + r.column(c).name + ": " + r.column(c).text(i);
    t += ".\n";
  }
  if (r.rows() > max_rows) t += "(" + std::to_string(r.rows() - max_rows) + " more rows not embedded)\n";
  return t;
}

// Stores the text as a document in the same database file and embeds it, so chat can cite the result.
int embed_result(const std::string& db_path, const std::string& sql, const std::string& text, FILE* info) {
  engine::Engine eng({.backend = "cpu"});
  engine::AssistantConfig ac{.db_path = db_path};
  std::string unused_chat = "-";
  engine::fill_default_models(ac.embed_model, unused_chat);
  engine::Assistant ai(eng, ac);
  const std::string title = "sql: " + sql;
  const auto existing = ai.docs()->find_by_title(title);
  const uint64_t id = existing ? *existing : ai.docs()->create(title, text);
  if (existing) ai.docs()->update(id, text);
  ai.schedule_indexing();
  if (!ai.wait_indexed(std::chrono::minutes(5))) throw Error("embedding the result did not finish in 5 minutes");
  std::size_t chunks = ai.docs()->chunks(id).size();
  std::fprintf(info, "embedded as document %llu \"%s\" (%zu chunks) — chat and /api/v1/docs/search can now cite it\n",
              static_cast<unsigned long long>(id), title.c_str(), chunks);
  return 0;
}

int run_sql(const SqlOptions& o) {
  const std::string db_path = o.db_path.empty() ? data::Database::default_path() : o.db_path;
  std::string to_embed;
  FILE* info = o.format == "table" ? stdout : stderr;  // stdout holds only the data in csv, json and markdown
  {
    data::Database db({.path = db_path});
    data::Session session = db.connect();
    bool did = false;
    if (o.load_debian) {
      const uint64_t t0 = now_ns();
      const auto load = data::load_debian_packages(session);
      std::fprintf(info, "loaded %zu packages from %s into debian_packages (%.0f ms) in %s\n", load.packages,
                  load.from_dpkg_status ? "dpkg's status file (no apt lists; installed packages only)"
                                        : (std::to_string(load.files) + " apt lists").c_str(),
                  ms_since(t0), o.db_path.empty() ? data::Database::default_path().c_str() : o.db_path.c_str());
      did = true;
    }
    if (o.lineitem_rows > 0) {
      const uint64_t t0 = now_ns();
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
    const data::QueryOptions qo{.access = o.write ? data::Access::read_write : data::Access::read_only,
                                .timeout = std::chrono::milliseconds(o.timeout_ms)};
    auto dev = Device::create({.backend = pick_backend(o.backend)});
    data::PlannerOptions po{.backend = dev->backend_name(),
                            .force_kernel = o.kernel == "on",
                            .force_duckdb = o.kernel == "off" || o.write};
    if (o.explain) {
      std::printf("%s", data::plan_query(session, o.sql, po).explain().c_str());
      return 0;
    }
    data::PreAggregator agg(dev);
    auto host = dev->caps().is_gpu ? Device::create({.backend = "cpu"}) : dev;  // SQL runs on a CPU host queue
    data::QueryLane lane(host, db);
    const uint64_t t0 = now_ns();
    data::QueryTicket t = o.write ? lane.submit(o.sql, qo) : lane.submit_planned(o.sql, agg, po, qo);
    const data::Result r = t.get();
    const std::string text = formatted(r, o);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fprintf(info, "(%.1f ms on %s, E_data = %llu%s%s)\n", ms_since(t0), lane.queue()->label().c_str(),
                static_cast<unsigned long long>(lane.event()->signaled_value()), t.slot->engine.empty() ? "" : "; ",
                t.slot->engine.c_str());
    if (o.embed) to_embed = result_text(o.sql, r, 2000);
  }  // the database closes here: the embedding step opens the same file through the engine
  return o.embed ? embed_result(db_path, o.sql, to_embed, info) : 0;
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
