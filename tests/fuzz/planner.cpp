// Fuzz target: the GROUP BY recognizer and planner (workloads/data/planner.h) on arbitrary SQL text, against an
// in-memory DuckDB holding small tables of every key and value type the kernels take. For every input:
// - plan_query either plans or throws DataError (bad SQL), nothing else;
// - when the query is kernel-eligible, the kernel path (CPU kernels) and DuckDB alone give the same columns (names
//   and types) and the same rows: row count, and every non-floating cell, matched by the key (the oracle is DuckDB);
// - the results print in every output format (text table, CSV, JSON, Markdown) without failing.
// Each query runs with a timeout, so a query that would take long is cut off (QueryTimeout), not a hang.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "workloads/data/agg_kernel.h"
#include "workloads/data/database.h"
#include "workloads/data/planner.h"
#include "workloads/data/preagg.h"

namespace {

using namespace std::chrono_literals;

struct World {
  ut::DevicePtr device = ut::Device::create({.backend = "cpu"});
  ut::data::Database db{{.threads = 1}};
  ut::data::Session session = db.connect();
  ut::data::PreAggregator agg{device};
  World() {
    ut::data::register_agg_kernels();
    session.query(
        "CREATE TABLE t AS SELECT (range % 7)::INTEGER AS k, (range % 5)::TINYINT AS k8, range AS v, "
        "(range * 0.5)::DOUBLE AS d, (range % 3)::FLOAT AS f, 'x' || (range % 4) AS s, range % 2 = 0 AS b, "
        "CASE WHEN range % 9 = 0 THEN NULL ELSE range % 11 END AS n FROM range(300);"
        "CREATE TABLE e (k INTEGER, v BIGINT);"
        "CREATE VIEW w AS SELECT k, v FROM t WHERE v > 10;",
        {.access = ut::data::Access::read_write});
  }
};

World& world() {
  static World* w = new World;  // never destroyed: libFuzzer may exit from any thread
  return *w;
}

bool floating(const ut::data::Column& c) { return c.physical() == ut::data::Physical::f64; }

void compare(const ut::data::Result& ours, const ut::data::Result& duck) {
  FUZZ_CHECK(ours.column_count() == duck.column_count(), "kernel path: column count differs from DuckDB's");
  for (std::size_t c = 0; c < duck.column_count(); ++c) {
    FUZZ_CHECK(ours.column(c).name == duck.column(c).name, "kernel path: a column name differs from DuckDB's");
    FUZZ_CHECK(ours.column(c).type_name() == duck.column(c).type_name(), "kernel path: a column type differs");
  }
  FUZZ_CHECK(ours.rows() == duck.rows(), "kernel path: row count differs from DuckDB's");
  // The key is the one column whose name is not an aggregate call.
  std::size_t key = 0;
  for (std::size_t c = 0; c < duck.column_count(); ++c)
    if (duck.column(c).name.find('(') == std::string::npos) key = c;
  auto rows_by_key = [&](const ut::data::Result& r) {
    std::map<std::string, std::string> m;
    for (std::size_t i = 0; i < r.rows(); ++i) {
      std::string cells;
      for (std::size_t c = 0; c < r.column_count(); ++c)
        if (!floating(r.column(c))) cells += (r.column(c).is_null(i) ? "NULL" : r.column(c).text(i)) + '\x1f';
      m[r.column(key).is_null(i) ? "\x01NULL" : r.column(key).text(i)] = cells;
    }
    return m;
  };
  FUZZ_CHECK(rows_by_key(ours) == rows_by_key(duck), "kernel path: a row differs from DuckDB's");
}

void print_all(const ut::data::Result& r) {
  (void)r.to_table(50);
  (void)r.to_csv(50);
  (void)r.to_json(50);
  (void)r.to_markdown(50);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  const std::string sql(reinterpret_cast<const char*>(data), size);
  const ut::data::QueryOptions opts{.timeout = 2s};
  ut::data::Plan plan;
  try {
    plan = ut::data::plan_query(w.session, sql, {.backend = "cpu", .force_kernel = true});
    (void)plan.explain();
  } catch (const ut::data::DataError&) {
    return 0;  // not SQL DuckDB accepts: a clear error is the right answer
  }
  try {
    ut::data::Plan duck_plan = plan;
    duck_plan.engine = ut::data::Engine::duckdb;
    const ut::data::Result duck = ut::data::execute(w.session, duck_plan, nullptr, opts);
    print_all(duck);
    if (plan.engine == ut::data::Engine::kernel) {
      const ut::data::Result ours = ut::data::execute(w.session, plan, &w.agg, opts);
      print_all(ours);
      compare(ours, duck);
    }
  } catch (const ut::data::DataError&) {
    // DuckDB's binder or executor refused it, or it ran past the timeout: an error, never a crash.
  }
  return 0;
}
