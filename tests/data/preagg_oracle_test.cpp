// Oracle tests: our pre-aggregation kernels (backend cpu) against DuckDB's own GROUP BY on random tables.
// Integer results (COUNT, integer SUM as HUGEINT, MIN, MAX) must match exactly; floating SUM and AVG within
// 1e-9 relative + 1e-12 * rows * max|v| absolute (addition order differs). Seed: $UT_TEST_SEED or random,
// printed with every failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "tests/common/skip.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "workloads/data/database.h"
#include "workloads/data/query_lane.h"
#include "workloads/data/planner.h"
#include "workloads/data/preagg.h"

namespace {

using ut::data::Access;
using ut::data::Column;
using ut::data::Result;

const ut::data::QueryOptions kWrite{.access = Access::read_write};

// The kernels' backend: $UT_BACKEND (cpu|cuda), default cpu. nullptr, with the reason in `why`, when it is not
// available here.
ut::DevicePtr kernel_device(std::string& why) {
  const char* env = std::getenv("UT_BACKEND");
  const std::string name = env && *env ? env : "cpu";
  for (const auto& b : ut::Device::backends()) {
    if (b.name == name && !b.available) {
      why = "backend '" + name + "' is not available here: " + b.reason;
      return nullptr;
    }
  }
  return ut::Device::create({.backend = name});
}

// Skips (a failure under UT_REQUIRE_GPU=1) where the kernels' backend is not available here.
#define KERNEL_DEVICE_OR_SKIP(dev)  \
  std::string dev##_why;            \
  auto dev = kernel_device(dev##_why); \
  if (!dev) UT_SKIP_NO_GPU(dev##_why)

uint64_t test_seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("UT_TEST_SEED");
    const uint64_t s = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
    std::cout << "[data oracle] seed " << s << " (rerun with UT_TEST_SEED=" << s << ")\n";
    return s;
  }();
  return seed;
}

// Rows sorted by the key text; returns "" when equal, else a description of the first difference.
std::string compare(const Result& ours, const Result& duck, double abs_tol) {
  if (ours.column_count() != duck.column_count()) return "column counts differ";
  for (std::size_t c = 0; c < duck.column_count(); ++c) {
    if (ours.column(c).name != duck.column(c).name || ours.column(c).type_name() != duck.column(c).type_name())
      return "column " + std::to_string(c) + ": ours " + ours.column(c).name + " " + ours.column(c).type_name() +
             ", DuckDB " + duck.column(c).name + " " + duck.column(c).type_name();
  }
  if (ours.rows() != duck.rows())
    return "row counts differ: ours " + std::to_string(ours.rows()) + ", DuckDB " + std::to_string(duck.rows());
  auto by_key = [](const Result& r, std::size_t key_col) {
    std::map<std::string, std::size_t> m;
    for (std::size_t i = 0; i < r.rows(); ++i)
      m[r.column(key_col).is_null(i) ? std::string("\x01NULL") : r.column(key_col).text(i)] = i;
    return m;
  };
  std::size_t key_col = 0;
  for (std::size_t c = 0; c < duck.column_count(); ++c)
    if (duck.column(c).name.find('(') == std::string::npos) key_col = c;
  const auto mo = by_key(ours, key_col), md = by_key(duck, key_col);
  if (mo.size() != ours.rows() || md.size() != duck.rows()) return "duplicate keys";
  for (const auto& [key, di] : md) {
    auto it = mo.find(key);
    if (it == mo.end()) return "group " + key + " missing from ours";
    const std::size_t oi = it->second;
    for (std::size_t c = 0; c < duck.column_count(); ++c) {
      const Column& a = ours.column(c);
      const Column& b = duck.column(c);
      if (a.is_null(oi) != b.is_null(di))
        return "group " + key + " column " + b.name + ": ours " + a.text(oi) + ", DuckDB " + b.text(di);
      if (b.is_null(di)) continue;
      if (b.physical() == ut::data::Physical::f64 && b.name.rfind("min(", 0) != 0 && b.name.rfind("max(", 0) != 0) {
        const double x = a.f64[oi], y = b.f64[di];
        if (std::abs(x - y) > 1e-9 * std::max(1.0, std::abs(y)) + abs_tol)
          return "group " + key + " column " + b.name + ": ours " + a.text(oi) + ", DuckDB " + b.text(di);
      } else if (a.text(oi) != b.text(di)) {
        return "group " + key + " column " + b.name + ": ours " + a.text(oi) + ", DuckDB " + b.text(di);
      }
    }
  }
  return "";
}

struct TableSpec {
  uint64_t rows = 0;
  std::string sql;
  std::string describe;
};

// A random table built inside DuckDB from hash(i, seed, field): keys of several shapes, values with NULLs.
TableSpec random_table(std::mt19937_64& rng, uint64_t seed) {
  const uint64_t sizes[] = {0, 1, 7, 300, 4000, 30000, 120000};
  TableSpec t;
  t.rows = sizes[rng() % std::size(sizes)];
  auto pick = [&](std::initializer_list<const char*> xs) { return *(xs.begin() + rng() % xs.size()); };
  auto h = [&](int f) { return "hash(i, " + std::to_string(seed) + "::UBIGINT, " + std::to_string(f) + ")"; };
  auto u = [&](int f) { return "((" + h(f) + " % 1000000)::DOUBLE / 1000000)"; };
  auto nullable = [&](const std::string& expr, int f, double p) {
    return p <= 0 ? expr : "CASE WHEN (" + h(f) + " % 1000) < " + std::to_string(static_cast<int>(p * 1000)) +
                               " THEN NULL ELSE " + expr + " END";
  };
  const double null_rates[] = {0.0, 0.0, 0.05, 0.5, 1.0};
  auto p_null = [&] { return null_rates[rng() % std::size(null_rates)]; };
  const char* dense_type = pick({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"});
  const int dense_ranges[] = {1, 3, 100, 1 + static_cast<int>(rng() % 120)};
  const int dense_range = dense_ranges[rng() % 4];
  const bool is_unsigned = dense_type[0] == 'U';
  const int dense_lo = is_unsigned ? static_cast<int>(rng() % 100) : -static_cast<int>(rng() % 60);
  const int skew_pow = 1 + static_cast<int>(rng() % 4);
  const int str_group_choices[] = {1, 5, 300, 1 + static_cast<int>(rng() % 2000)};
  const int str_groups = str_group_choices[rng() % 4];
  const char* v_type = pick({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"});
  const int v_span = std::string(v_type).find("TINY") != std::string::npos ? 100 : 30000;
  std::ostringstream q;
  q << "CREATE OR REPLACE TABLE r AS SELECT "
    << nullable("(" + std::to_string(dense_lo) + " + (" + h(1) + " % " + std::to_string(dense_range) + ")::INTEGER)::" + dense_type, 101, p_null())
    << " AS k_dense, "
    << nullable("CASE WHEN " + h(2) + " % 97 = 0 THEN -9223372036854775808 ELSE (floor(pow(" + u(3) + ", " +
                    std::to_string(skew_pow) + ") * 5000)::BIGINT * 1000000000007 - 3) END", 102, p_null())
    << " AS k_skew, "
    << nullable("'g' || (" + h(4) + " % " + std::to_string(str_groups) + ")", 103, p_null()) << " AS k_str, "
    << nullable("(" + h(5) + " % 2 = 0)", 104, p_null()) << " AS k_bool, "
    << nullable("((" + h(6) + " % " + std::to_string(v_span) + ")::BIGINT - " + (v_type[0] == 'U' ? "0" : std::to_string(v_span / 2)) + ")::" + v_type, 106, p_null())
    << " AS v_i, "
    << nullable("((" + h(7) + " % 2000001)::BIGINT - 1000000) * 4611686018427", 107, p_null()) << " AS v_big, "
    << nullable("(" + u(8) + " * 2000 - 1000)", 108, p_null()) << " AS v_d, "
    << nullable("(" + u(9) + " * 200 - 100)::FLOAT", 109, p_null()) << " AS v_f, "
    << "(" << h(10) << " % 1000)::INTEGER AS f "
    << "FROM range(" << t.rows << ") t(i)";
  t.sql = q.str();
  t.describe = std::to_string(t.rows) + " rows, k_dense " + dense_type + " range " + std::to_string(dense_range) +
               ", k_str groups " + std::to_string(str_groups) + ", v_i " + v_type;
  return t;
}

std::string random_query(std::mt19937_64& rng) {
  const char* keys[] = {"k_dense", "k_skew", "k_str", "k_bool", "k_dense"};
  const std::string key = keys[rng() % std::size(keys)];
  const char* cols[] = {"v_i", "v_big", "v_d", "v_f", "k_dense"};
  const char* ops[] = {"count", "sum", "min", "max", "avg"};
  std::vector<std::string> items;
  const int n = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i)
    items.push_back(rng() % 6 == 0 ? std::string("count(*)")
                                   : std::string(ops[rng() % std::size(ops)]) + "(" + cols[rng() % std::size(cols)] + ")");
  items.insert(items.begin() + static_cast<long>(rng() % (items.size() + 1)), key);  // the key anywhere
  std::string sel;
  for (const auto& it : items) sel += (sel.empty() ? "" : ", ") + it;
  std::string sql = "SELECT " + sel + " FROM r";
  switch (rng() % 5) {
    case 0: sql += " WHERE f < 0"; break;  // empty input
    case 1: sql += " WHERE f < " + std::to_string(rng() % 1000); break;
    case 2: sql += " WHERE f < 500 AND v_d > 0"; break;
    default: break;
  }
  return sql + " GROUP BY " + key;
}

TEST(DataOracle, RandomGroupByQueriesMatchDuckDB) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  KERNEL_DEVICE_OR_SKIP(dev);
  ut::data::PreAggregator agg(dev);
  ut::data::PreAggregator agg_hash(dev, nullptr, {.force_hash = true, .initial_hash_capacity = 16});
  // Parallel rowid-range scans on forked sessions, whatever the table size.
  ut::data::PreAggregator agg_parallel(dev, nullptr, {.scan_threads = 3, .parallel_scan_min_rows = 0});
  ut::data::Database db({.threads = 2});
  ut::data::Session s = db.connect();
  const int tables = 20, per_table = 30;
  int ran = 0, dense = 0, hash = 0, regrown = 0, nonempty = 0, partitioned = 0;
  for (int ti = 0; ti < tables; ++ti) {
    const uint64_t table_seed = rng();
    const TableSpec t = random_table(rng, table_seed);
    SCOPED_TRACE("seed " + std::to_string(seed) + ", table " + std::to_string(ti) + ": " + t.describe);
    s.query(t.sql, kWrite);
    for (int qi = 0; qi < per_table; ++qi) {
      const std::string sql = random_query(rng);
      SCOPED_TRACE(sql);
      const ut::data::Plan plan = ut::data::plan_query(s, sql, {.backend = dev->backend_name(), .force_kernel = true});
      ASSERT_EQ(plan.engine, ut::data::Engine::kernel) << plan.explain();
      ut::data::PreAggStats st;
      ut::data::PreAggregator& runner = qi % 3 == 2 ? agg_hash : qi % 3 == 1 ? agg_parallel : agg;
      const Result ours = runner.run(s, *plan.query, &st, {}, plan.estimated_rows);
      const Result duck = s.query(sql);
      const std::string diff = compare(ours, duck, 1e-12 * static_cast<double>(t.rows + 1) * 1e3);
      ASSERT_EQ(diff, "") << "ours:\n" << ours.to_table(20) << "DuckDB:\n" << duck.to_table(20);
      ++ran;
      (st.mode == "dense" ? dense : hash)++;
      regrown += st.retries > 0;
      nonempty += ours.rows() > 0;
      partitioned += st.scan_partitions > 1;
    }
  }
  std::cout << "[data oracle] " << ran << " queries: " << dense << " dense, " << hash << " hash (" << regrown
            << " regrown), " << partitioned << " with partitioned scans, " << nonempty << " non-empty results\n";
  EXPECT_EQ(ran, tables * per_table);
  EXPECT_GT(dense, 0);
  EXPECT_GT(hash, 0);
  EXPECT_GT(partitioned, 0);
}

TEST(DataOracle, IntegerSumsBeyond64BitsAreExact) {
  KERNEL_DEVICE_OR_SKIP(dev);
  ut::data::PreAggregator agg(dev);
  ut::data::Database db;
  ut::data::Session s = db.connect();
  s.query("CREATE TABLE b AS SELECT (range % 2)::INTEGER AS k, CASE WHEN range % 2 = 0 THEN 9223372036854775807 "
          "ELSE -9223372036854775807 END AS v FROM range(64)", kWrite);
  const std::string sql = "SELECT k, sum(v), avg(v), min(v), max(v), count(v) FROM b GROUP BY k";
  const auto plan = ut::data::plan_query(s, sql, {.backend = dev->backend_name(), .force_kernel = true});
  ASSERT_EQ(plan.engine, ut::data::Engine::kernel) << plan.explain();
  const Result ours = agg.run(s, *plan.query);
  EXPECT_EQ(compare(ours, s.query(sql), 0), "");
  bool saw = false;
  for (std::size_t i = 0; i < ours.rows(); ++i)
    if (ours.column(0).i64[i] == 0) {
      EXPECT_EQ(ours.column(1).text(i), "295147905179352825824");  // 32 * (2^63 - 1)
      saw = true;
    }
  EXPECT_TRUE(saw);
}

TEST(DataOracle, EmptyMarkerKeyAndNullKeysAreGroups) {
  KERNEL_DEVICE_OR_SKIP(dev);
  ut::data::PreAggregator agg(dev, nullptr, {.force_hash = true, .initial_hash_capacity = 2});
  ut::data::Database db;
  ut::data::Session s = db.connect();
  s.query("CREATE TABLE e (k BIGINT, v DOUBLE); INSERT INTO e VALUES (-9223372036854775808, 1), (NULL, 2), "
          "(NULL, 3), (5, NULL), (-9223372036854775808, 4), (7, 1.5), (8, 1), (9, 1), (10, 1)", kWrite);
  const std::string sql = "SELECT k, count(*), sum(v), min(v) FROM e GROUP BY k";
  const auto plan = ut::data::plan_query(s, sql, {.backend = dev->backend_name(), .force_kernel = true});
  ut::data::PreAggStats st;
  const Result ours = agg.run(s, *plan.query, &st);
  EXPECT_EQ(compare(ours, s.query(sql), 1e-12), "");
  EXPECT_EQ(ours.rows(), 7u);
  EXPECT_GT(st.retries, 0);  // capacity 2 could not hold 5 ordinary keys: the table was regrown
}

TEST(DataPlanner, ExplainsEveryDecision) {
  ut::data::Database db;
  ut::data::Session s = db.connect();
  s.query("CREATE TABLE p AS SELECT range % 10 AS k, range::DOUBLE AS v, (range % 7)::DECIMAL(9,2) AS d, "
          "'x' || (range % 3) AS ks FROM range(5000)", kWrite);
  auto reason = [&](const std::string& sql, ut::data::PlannerOptions o = {}) {
    return ut::data::plan_query(s, sql, o).reason;
  };
  ut::data::register_agg_kernels();
  EXPECT_NE(reason("SELECT k, sum(v) FROM p GROUP BY k").find("5,000 rows < 1,000,000"), std::string::npos);
  EXPECT_NE(reason("SELECT k, sum(v) FROM p GROUP BY k", {.min_rows = 10}).find("reference"), std::string::npos);
  EXPECT_EQ(ut::data::plan_query(s, "SELECT k, sum(v) FROM p GROUP BY k", {.min_rows = 10, .allow_cpu_kernel = true}).engine,
            ut::data::Engine::kernel);
  EXPECT_NE(reason("SELECT k, sum(v) FROM p GROUP BY k HAVING sum(v) > 1").find("HAVING"), std::string::npos);
  EXPECT_NE(reason("SELECT k, sum(v) FROM p GROUP BY k ORDER BY k").find("ORDER BY"), std::string::npos);
  EXPECT_NE(reason("SELECT k, sum(d) FROM p GROUP BY k").find("DECIMAL"), std::string::npos);
  EXPECT_NE(reason("SELECT k + 1, sum(v) FROM p GROUP BY k + 1").find("expression"), std::string::npos);
  EXPECT_NE(reason("SELECT k, median(v) FROM p GROUP BY k").find("median"), std::string::npos);
  EXPECT_NE(reason("SELECT k, ks, sum(v) FROM p GROUP BY k, ks").find("more than one"), std::string::npos);
  EXPECT_NE(reason("SELECT sum(v) FROM p").find("no GROUP BY"), std::string::npos);
  EXPECT_NE(reason("SELECT k, sum(v) FROM p GROUP BY k", {.backend = "metal"}).find("no data.agg_rows kernel"),
            std::string::npos);
  const auto plan = ut::data::plan_query(s, "SELECT ks, avg(v), count(*) FROM p WHERE v > 10 GROUP BY ks",
                                         {.force_kernel = true});
  const std::string text = plan.explain();
  EXPECT_NE(text.find("engine:     kernel (backend cpu)"), std::string::npos) << text;
  EXPECT_NE(text.find("dictionary-encoded"), std::string::npos) << text;
  EXPECT_NE(text.find("WHERE"), std::string::npos) << text;
  EXPECT_NE(text.find("upper bound"), std::string::npos) << text;
  // Bad SQL is not recognized; DuckDB reports the real error when the plan runs.
  const auto bad = ut::data::plan_query(s, "SELEC k FROM p");
  EXPECT_EQ(bad.engine, ut::data::Engine::duckdb);
  EXPECT_THROW(ut::data::execute(s, bad, nullptr), ut::data::DataError);
}

TEST(DataPlanner, QueryLaneRunsThePlannedQuery) {
  KERNEL_DEVICE_OR_SKIP(dev);
  ut::data::PreAggregator agg(dev);
  ut::data::Database db;
  db.query("CREATE TABLE h AS SELECT range % 13 AS k, range AS v FROM range(20000)", kWrite);
  auto cpu = ut::Device::create({.backend = "cpu"});  // the lane's host queue; the kernels run on `dev`
  ut::data::QueryLane lane(cpu, db);
  if (dev->caps().is_gpu) {
    EXPECT_THROW(ut::data::QueryLane(dev, db), ut::UsageError);
  }
  const std::string sql = "SELECT k, sum(v), count(*) FROM h GROUP BY k";
  auto t = lane.submit_planned(sql, agg, {.backend = dev->backend_name(), .force_kernel = true});
  const Result ours = t.get();
  EXPECT_EQ(compare(ours, db.query(sql), 0), "");
  EXPECT_EQ(ours.rows(), 13u);
}

}  // namespace

// The last scan's columns stay resident: the same scan on an unchanged table skips DuckDB; any write (a
// statement with write access, an appender) makes the next run scan again and see the new rows.
TEST(DataOracle, ResidentColumnsAreReusedUntilTheTableChanges) {
  KERNEL_DEVICE_OR_SKIP(dev);
  ut::data::PreAggregator agg(dev, nullptr, {.scan_threads = 2, .parallel_scan_min_rows = 0});
  ut::data::PreAggregator no_keep(dev, nullptr, {.keep_columns = false});
  ut::data::Database db({.threads = 2});
  ut::data::Session s = db.connect();
  std::mt19937_64 rng(test_seed());
  s.query("CREATE TABLE r AS SELECT (hash(range, " + std::to_string(rng() % 1000) +
              ") % 37)::INTEGER AS k, (range % 101)::DOUBLE / 7 AS v FROM range(50000)", kWrite);
  auto run = [&](ut::data::PreAggregator& a, const std::string& sql, ut::data::PreAggStats& st) {
    const auto plan = ut::data::plan_query(s, sql, {.backend = dev->backend_name(), .force_kernel = true});
    EXPECT_EQ(plan.engine, ut::data::Engine::kernel) << plan.explain();
    const Result ours = a.run(s, *plan.query, &st, {}, plan.estimated_rows);
    EXPECT_EQ(compare(ours, s.query(sql), 1e-9), "") << sql;
  };
  const std::string sum = "SELECT k, sum(v), count(*) FROM r GROUP BY k";
  ut::data::PreAggStats st;
  run(agg, sum, st);
  EXPECT_FALSE(st.columns_resident);
  run(agg, sum, st);
  EXPECT_TRUE(st.columns_resident);
  EXPECT_EQ(st.scan_ms, 0.0);
  run(agg, "SELECT k, min(v), max(v), avg(v) FROM r GROUP BY k", st);  // other aggregates, same columns
  EXPECT_TRUE(st.columns_resident);
  run(agg, "SELECT k, sum(v) FROM r WHERE v > 3 GROUP BY k", st);  // another filter: another scan
  EXPECT_FALSE(st.columns_resident);
  run(agg, sum, st);
  EXPECT_FALSE(st.columns_resident);
  s.query("INSERT INTO r VALUES (1000, 5.5), (1, 2.25)", kWrite);
  run(agg, sum, st);
  EXPECT_FALSE(st.columns_resident);
  EXPECT_EQ(st.groups, 38u);
  {
    ut::data::Appender app(s, "r");
    app.add(int64_t{2000}).add(1.0).end_row();
    app.close();
  }
  run(agg, sum, st);
  EXPECT_FALSE(st.columns_resident);
  EXPECT_EQ(st.groups, 39u);
  // A failed write still counts (it may have changed nothing, but the cache cannot know).
  EXPECT_THROW(s.query("INSERT INTO r VALUES ('x', 1)", kWrite), ut::data::DataError);
  run(agg, sum, st);
  EXPECT_FALSE(st.columns_resident);
  run(agg, sum, st);
  EXPECT_TRUE(st.columns_resident);
  agg.drop_resident_columns();
  run(agg, sum, st);
  EXPECT_FALSE(st.columns_resident);
  run(no_keep, sum, st);
  run(no_keep, sum, st);
  EXPECT_FALSE(st.columns_resident);
}

// Millions of groups: step (4) splits the slots over threads; the rows must come out as one thread makes them.
TEST(DataOracle, ParallelFinalizeMatchesOneThread) {
  KERNEL_DEVICE_OR_SKIP(dev);
  ut::data::PreAggregator one(dev, nullptr, {.finalize_threads = 1});
  ut::data::PreAggregator many(dev, nullptr, {.finalize_threads = 5});
  ut::data::Database db({.threads = 2});
  ut::data::Session s = db.connect();
  std::mt19937_64 rng(test_seed());
  s.query("CREATE TABLE f AS SELECT (hash(range, " + std::to_string(rng() % 1000) +
              ") % 400000)::BIGINT - 200000 AS k, (range % 13)::BIGINT AS v, range::DOUBLE / 3 AS d FROM range(600000)",
          kWrite);
  const std::string sql = "SELECT k, sum(v), avg(d), min(v), count(*) FROM f GROUP BY k";
  const auto plan = ut::data::plan_query(s, sql, {.backend = dev->backend_name(), .force_kernel = true});
  ASSERT_EQ(plan.engine, ut::data::Engine::kernel) << plan.explain();
  ut::data::PreAggStats st;
  const Result a = one.run(s, *plan.query, &st, {}, plan.estimated_rows);
  const Result b = many.run(s, *plan.query, &st, {}, plan.estimated_rows);
  EXPECT_GT(st.capacity, 1u << 18);  // large enough for the threaded path
  ASSERT_EQ(a.rows(), b.rows());
  // The same groups in the same (slot) order; values equal up to the order of floating additions (GPU atomics).
  for (std::size_t i = 0; i < a.rows(); ++i) ASSERT_EQ(a.column(0).text(i), b.column(0).text(i)) << i;
  EXPECT_EQ(compare(b, a, 1e-9), "");
  EXPECT_EQ(compare(b, s.query(sql), 1e-9), "");
}
