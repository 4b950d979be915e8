// The data path over HTTP: POST /api/v1/sql through the engine's planner and data queue, E_data, truncation,
// timeouts, and the kernels against DuckDB's own aggregate.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "tests/engine/runtime_fixture.h"
#include "workloads/data/datasets.h"

using namespace std::chrono_literals;
using nlohmann::json;
using ut::test::AssistantTest;

namespace {

TEST_F(AssistantTest, SqlIsReadOnlyOverHttpAndErrorsCarryDuckDbsMessage) {
  start();
  auto j = post("/api/v1/sql", {{"sql", "SELECT 40 + 2 AS answer, 'x' AS s"}}, 200);
  EXPECT_EQ(j["rows"][0][0], 42);
  EXPECT_EQ(j["columns"][0]["name"], "answer");
  post("/api/v1/sql", {{"sql", "CREATE TABLE t(i INT)"}}, 400);
  post("/api/v1/sql", {{"sql", "CREATE TABLE t(i INT)"}, {"write", true}}, 403);
  auto e = post("/api/v1/sql", {{"sql", "SELEC 1"}}, 400);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("syntax"), std::string::npos) << e.dump();
}

TEST_F(AssistantTest, SqlGoesThroughTheDataPath) {
  start();
  auto a = post("/api/v1/sql", {{"sql", "SELECT range AS i FROM range(50)"}, {"max_rows", 7}}, 200);
  EXPECT_EQ(a["rows"].size(), 7u);
  EXPECT_EQ(a["row_count"], 50);
  EXPECT_TRUE(a["truncated"].get<bool>());
  EXPECT_EQ(a["queue"], "Q_data");
  EXPECT_EQ(a["engine"].get<std::string>().rfind("duckdb", 0), 0u) << a.dump();
  auto b = post("/api/v1/sql", {{"sql", "SELECT 1 AS one"}}, 200);
  EXPECT_FALSE(b["truncated"].get<bool>());
  EXPECT_EQ(b["e_data"].get<uint64_t>(), a["e_data"].get<uint64_t>() + 1) << "each query signals the next E_data value";
  EXPECT_GE(eng->e_data()->signaled_value(), b["e_data"].get<uint64_t>());
  const auto stats = eng->realtime_stats();
  ASSERT_TRUE(stats["queues"].contains("data"));
  EXPECT_GE(stats["queues"]["data"]["completed"].get<uint64_t>(), 2u);
  for (const auto& bad : {json{{"sql", "SELECT 1"}, {"max_rows", -1}}, json{{"sql", "SELECT 1"}, {"timeout_ms", 0}},
                          json{{"sql", "SELECT 1"}, {"kernel", "sometimes"}}, json{{"sql", "SELECT 1"}, {"write", "yes"}}})
    post("/api/v1/sql", bad, 400);
}

// What a soak reads to tell a leak from caches: the process's memory by owner (realtime-stats "process") and
// DuckDB's own accounting through the SQL route.
TEST_F(AssistantTest, RealtimeStatsSayWhereTheProcessMemoryIs) {
  start();
  const auto p = eng->realtime_stats()["process"];
  EXPECT_GT(p["rss_mb"].get<double>(), 10.0) << p.dump();  // the models alone are tens of MB
  for (const char* k : {"malloc_in_use_mb", "malloc_free_held_mb", "index_vectors", "index_removed"})
    EXPECT_TRUE(p.contains(k)) << k << " in " << p.dump();
  auto m = post("/api/v1/sql", {{"sql", "SELECT sum(memory_usage_bytes) AS b FROM duckdb_memory()"}}, 200);
  ASSERT_EQ(m["rows"].size(), 1u) << m.dump();
}

TEST_F(AssistantTest, SqlTimeoutCancelsALongQuery) {
  start();
  // Minutes of work on any machine; the timeout interrupts it.
  auto e = post("/api/v1/sql", {{"sql", "SELECT count(*) FROM range(100000000000) t(a) WHERE a % 7 = 3"}, {"timeout_ms", 300}},
                408);
  EXPECT_EQ(e["error"]["type"], "timeout") << e.dump();
  // The lane is free again: the next query answers.
  auto ok = post("/api/v1/sql", {{"sql", "SELECT 2 AS two"}}, 200);
  EXPECT_EQ(ok["rows"][0][0], 2);
}

TEST_F(AssistantTest, SqlGroupByKernelsAgreeWithDuckDb) {
  start();
  {
    auto session = rt->database().connect();
    ut::data::generate_lineitem(session, {.rows = 1'000'000, .seed = 11});
  }
  // One key, no ORDER BY: what the kernel path takes.
  const std::string sql = "SELECT l_shipmode, count(*) AS n, sum(l_quantity) AS q, min(l_extendedprice) AS lo "
                          "FROM lineitem GROUP BY l_shipmode";
  auto duck = post("/api/v1/sql", {{"sql", sql}, {"kernel", "off"}}, 200);
  auto kern = post("/api/v1/sql", {{"sql", sql}, {"kernel", "on"}}, 200);
  auto plan = post("/api/v1/sql", {{"sql", sql}}, 200);
  EXPECT_EQ(duck["engine"].get<std::string>().rfind("duckdb", 0), 0u) << duck.dump();
  EXPECT_EQ(kern["engine"].get<std::string>().rfind("kernel", 0), 0u) << kern.dump();
  // Rows in any order; sums as text (DuckDB answers HUGEINT, which JSON carries as a string).
  auto canonical = [](const json& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) {
      std::string line;
      for (const auto& c : r) line += (c.is_string() ? c.get<std::string>() : c.dump()) + "|";
      out.push_back(line);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  ASSERT_EQ(duck["rows"].size(), 7u);
  EXPECT_EQ(canonical(kern["rows"]), canonical(duck["rows"]));
  EXPECT_EQ(canonical(plan["rows"]), canonical(duck["rows"]));
  // On a GPU engine an eligible GROUP BY over >= 1M rows runs on the kernels; on the CPU DuckDB is faster.
  const bool gpu = eng->device().caps().is_gpu;
  EXPECT_EQ(plan["engine"].get<std::string>().rfind(gpu ? "kernel" : "duckdb", 0), 0u) << plan.dump();
}

}  // namespace

// Each query tells the CPU budget the DuckDB threads it runs with, and gives them back when it ends — also when it
// fails or times out: afterwards a chat waiting for its first token gets every core.
TEST_F(AssistantTest, QueriesGiveTheirCoresBackHoweverTheyEnd) {
  start();
  post("/api/v1/sql", {{"sql", "SELECT count(*) AS n FROM range(100000)"}}, 200);
  post("/api/v1/sql", {{"sql", "SELEC 1"}}, 400);
  post("/api/v1/sql", {{"sql", "SELECT * FROM no_such_table"}}, 400);
  post("/api/v1/sql", {{"sql", "SELECT count(*) FROM range(100000000000) t(a) WHERE a % 7 = 3"}, {"timeout_ms", 200}},
       408);
  ut::engine::CoreBudget& budget = rt->cpu_budget();
  auto prompt = budget.hold(ut::engine::CpuLane::prompt);
  const auto until = std::chrono::steady_clock::now() + 5s;  // the last query's end reaches the budget just after
  while (budget.threads(ut::engine::CpuLane::chat) != budget.cores() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(budget.threads(ut::engine::CpuLane::chat), budget.cores()) << budget.snapshot().dump();
}
