// The DuckDB adapter: types and NULLs, files, read-only enforcement, errors, cancel, timeout, streaming.
// (The query lane on top of it: query_lane_test.cpp.)
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "timeline/error.h"
#include "workloads/data/database.h"

namespace {

using namespace std::chrono_literals;
using ut::data::Access;
using ut::data::DataError;
using ut::data::Database;
using ut::data::Result;
using ut::data::Session;

const ut::data::QueryOptions kWrite{.access = Access::read_write};

// A query that runs for a long time on any machine (minutes), for cancel and timeout tests.
const char* kSlowSql = "SELECT sum(hash(a.range + b.range)) FROM range(1000000) a, range(100000) b";

std::string temp_path(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           (name + "-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            std::to_string(reinterpret_cast<uintptr_t>(&name)) + ".duckdb");
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + ".wal");
  return p.string();
}

TEST(DataDatabase, ColumnsKeepTypesAndNulls) {
  Database db;
  Session s = db.connect();
  Result r = s.query(
      "SELECT * FROM (VALUES (1::TINYINT, 2::BIGINT, 3.5::DOUBLE, 'x', DATE '2024-02-29', 12.34::DECIMAL(10,2), "
      "170141183460469231731687303715884105727::HUGEINT, true, 4000000000::UINTEGER, TIMESTAMP '2020-01-02 03:04:05.25'),"
      "(NULL, NULL, NULL, NULL, NULL, -0.05::DECIMAL(10,2), -5::HUGEINT, NULL, NULL, NULL)) "
      "t(a, b, c, d, e, f, g, h, i, j)");
  ASSERT_EQ(r.rows(), 2u);
  ASSERT_EQ(r.column_count(), 10u);
  EXPECT_EQ(r.column("a").type_name(), "TINYINT");
  EXPECT_EQ(r.column("f").type_name(), "DECIMAL(10,2)");
  EXPECT_EQ(r.column("a").i64[0], 1);
  EXPECT_EQ(r.column("b").i64[0], 2);
  EXPECT_DOUBLE_EQ(r.column("c").f64[0], 3.5);
  EXPECT_EQ(r.column("d").str[0], "x");
  EXPECT_EQ(r.column("e").text(0), "2024-02-29");
  EXPECT_EQ(r.column("f").text(0), "12.34");
  EXPECT_EQ(r.column("f").text(1), "-0.05");
  EXPECT_EQ(r.column("g").text(0), "170141183460469231731687303715884105727");
  EXPECT_EQ(r.column("g").text(1), "-5");
  EXPECT_EQ(r.column("h").text(0), "true");
  EXPECT_EQ(r.column("i").i64[0], 4000000000);
  EXPECT_EQ(r.column("j").text(0), "2020-01-02 03:04:05.25");
  for (const char* c : {"a", "b", "c", "d", "e", "h", "i", "j"}) {
    EXPECT_FALSE(r.column(c).is_null(0)) << c;
    EXPECT_TRUE(r.column(c).is_null(1)) << c;
    EXPECT_EQ(r.column(c).text(1), "NULL");
  }
  const std::string table = r.to_table();
  EXPECT_NE(table.find("(2 rows)"), std::string::npos) << table;
  EXPECT_NE(table.find("DECIMAL(10,2)"), std::string::npos) << table;
}

TEST(DataDatabase, UnsupportedTypeSaysToCast) {
  Database db;
  try {
    (void)db.query("SELECT [1, 2] AS l");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("CAST"), std::string::npos) << e.what();
  }
  EXPECT_EQ(db.query("SELECT [1, 2]::VARCHAR AS l").column(0).str[0], "[1, 2]");
}

TEST(DataDatabase, FilePersistsAndReadOnlyFileRejectsWrites) {
  const std::string path = temp_path("ut-data-file");
  {
    Database db({.path = path});
    db.query("CREATE TABLE t AS SELECT range AS i FROM range(5)", kWrite);
  }
  {
    Database db({.path = path, .read_only = true});
    EXPECT_EQ(db.query("SELECT sum(i) FROM t").column(0).text(0), "10");
    EXPECT_THROW(db.query("INSERT INTO t VALUES (1)", kWrite), DataError);
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
}

TEST(DataDatabase, ReadOnlySessionRejectsEveryWrite) {
  Database db;
  Session s = db.connect();
  s.query("CREATE TABLE t AS SELECT range AS i FROM range(3); CREATE SEQUENCE seq", kWrite);
  const char* writes[] = {
      "INSERT INTO t VALUES (7)", "UPDATE t SET i = 0", "DELETE FROM t", "DROP TABLE t", "CREATE TABLE u (i INT)",
      "ALTER TABLE t ADD COLUMN j INT", "COPY t TO '/tmp/ut-data-should-not-exist.csv'", "SET threads = 1",
      "ATTACH ':memory:' AS other", "CHECKPOINT", "SELECT nextval('seq')",  // DuckDB's read-only transaction
      "SELECT 1; INSERT INTO t VALUES (8)", "CREATE TEMP TABLE x AS SELECT 1", "PRAGMA enable_profiling",
      "INSTALL httpfs", "LOAD httpfs", "EXPORT DATABASE '/tmp/ut-data-export'"};
  for (const char* sql : writes) {
    EXPECT_THROW(s.query(sql), DataError) << sql;
  }
  EXPECT_EQ(s.query("SELECT count(*), sum(i) FROM t").column(1).text(0), "3");
  EXPECT_EQ(s.query("SELECT count(*) FROM t").column(0).i64[0], 3);
  // Reads still work, including DESCRIBE/SHOW (SELECT statements to DuckDB) and EXPLAIN.
  EXPECT_GE(s.query("DESCRIBE t").rows(), 1u);
  EXPECT_GE(s.query("EXPLAIN SELECT * FROM t").rows(), 1u);
  // The error names read-only mode and the statement kind.
  try {
    s.query("DELETE FROM t");
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("DELETE"), std::string::npos) << e.what();
  }
  // External file access is off by default.
  EXPECT_THROW(s.query("SELECT * FROM read_csv('/etc/hostname')"), DataError);
}

TEST(DataDatabase, FailedWriteScriptChangesNothing) {
  Database db;
  Session s = db.connect();
  s.query("CREATE TABLE t (i INTEGER PRIMARY KEY)", kWrite);
  EXPECT_THROW(s.query("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); INSERT INTO t VALUES (1)", kWrite), DataError);
  EXPECT_EQ(s.query("SELECT count(*) FROM t").column(0).i64[0], 0);
  s.query("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", kWrite);
  EXPECT_EQ(s.query("SELECT count(*) FROM t").column(0).i64[0], 2);
  // The session owns transactions: a client cannot leave one open on a shared session.
  EXPECT_THROW(s.query("BEGIN TRANSACTION", kWrite), DataError);
  EXPECT_THROW(s.query("INSERT INTO t VALUES (3); COMMIT", kWrite), DataError);
  EXPECT_EQ(s.query("SELECT count(*) FROM t").column(0).i64[0], 2);
}

TEST(DataDatabase, BadSqlGivesDuckDBsMessageAndSessionRecovers) {
  Database db;
  Session s = db.connect();
  try {
    s.query("SELEC 1");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(e.message().find("syntax error"), std::string::npos) << e.what();
    EXPECT_EQ(e.sql(), "SELEC 1");
    EXPECT_NE(std::string(e.what()).find("[Session::stream]"), std::string::npos) << e.what();
  }
  try {
    s.query("SELECT * FROM no_such_table");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(e.message().find("Catalog Error"), std::string::npos) << e.what();
  }
  try {
    s.query("SELECT 1 / 0::INTEGER, 'a'::INTEGER");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(e.message().find("Conversion Error"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.query("SELECT 41 + 1").column(0).i64[0], 42);
}

TEST(DataDatabase, EmptyResultsKeepTheirSchema) {
  Database db;
  Result r = db.query("SELECT range AS i, 'x' AS s FROM range(10) WHERE range > 100");
  EXPECT_EQ(r.rows(), 0u);
  ASSERT_EQ(r.column_count(), 2u);
  EXPECT_EQ(r.column(0).type_name(), "BIGINT");
  EXPECT_EQ(r.column(1).type_name(), "VARCHAR");
  EXPECT_NE(r.to_table().find("(0 rows)"), std::string::npos);
}

// Session::cancel() interrupts the query DuckDB runs now and is a no-op otherwise, and nothing says when DuckDB has
// begun: so the canceller cancels again each time the query has not ended within a short wait, until it has. The
// query's own timeout only bounds a run whose cancel does not work (it would end in QueryTimeout, not
// QueryCancelled).
TEST(DataDatabase, CancelInterruptsARunningQuery) {
  Database db({.threads = 2});
  Session s = db.connect();
  std::mutex m;
  std::condition_variable cv;
  bool ended = false;
  int cancels = 0;
  std::thread canceller([&] {
    std::unique_lock lock(m);
    while (!ended) {
      lock.unlock();
      s.cancel();
      lock.lock();
      ++cancels;
      cv.wait_for(lock, 20ms, [&] { return ended; });
    }
  });
  EXPECT_THROW(s.query(kSlowSql, {.timeout = 240s}), ut::data::QueryCancelled);
  {
    std::lock_guard lock(m);
    ended = true;
  }
  cv.notify_all();
  canceller.join();
  std::printf("cancelled after %d cancel() calls\n", cancels);
  EXPECT_EQ(s.query("SELECT 1").column(0).i64[0], 1);  // usable afterwards
  s.cancel();                                            // idle: no effect on the next query
  EXPECT_EQ(s.query("SELECT 2").column(0).i64[0], 2);
}

TEST(DataDatabase, TimeoutInterruptsAndNamesIt) {
  Database db({.threads = 2});
  Session s = db.connect();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    s.query(kSlowSql, {.timeout = 300ms});
    FAIL() << "expected QueryTimeout";
  } catch (const ut::data::QueryTimeout& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  // Not before its time (a lower bound no machine can miss); a timeout that never fired would leave the query
  // running for minutes, past ctest's limit.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  EXPECT_EQ(s.query("SELECT 3", {.timeout = 5s}).column(0).i64[0], 3);
}

TEST(DataDatabase, LargeResultStreamsChunkByChunk) {
  Database db;
  Session s = db.connect();
  const int64_t n = 3'000'000;
  ut::data::ResultStream st = s.stream("SELECT range AS i, range * 2 AS j FROM range(" + std::to_string(n) + ")");
  EXPECT_TRUE(s.busy());
  EXPECT_THROW(s.query("SELECT 1"), DataError);  // one query at a time per session
  Result chunk;
  int64_t rows = 0, sum = 0;
  std::size_t chunks = 0, biggest = 0;
  while (st.next(chunk)) {
    ++chunks;
    biggest = std::max(biggest, chunk.rows());
    for (std::size_t i = 0; i < chunk.rows(); ++i) sum += chunk.columns[1].i64[i];
    rows += static_cast<int64_t>(chunk.rows());
  }
  EXPECT_EQ(rows, n);
  EXPECT_EQ(sum, n * (n - 1));
  EXPECT_LE(biggest, 2048u);  // one DuckDB vector at a time, never the whole result
  EXPECT_GE(chunks, static_cast<std::size_t>(n / 2048));
  EXPECT_FALSE(s.busy());
  // An abandoned stream frees the session.
  { ut::data::ResultStream early = s.stream("SELECT * FROM range(100000000)"); ASSERT_TRUE(early.next(chunk)); }
  EXPECT_EQ(s.query("SELECT 5").column(0).i64[0], 5);
}

TEST(DataDatabase, AppenderInsertsRows) {
  Database db;
  Session s = db.connect();
  s.query("CREATE TABLE p (name VARCHAR, size BIGINT, w DOUBLE)", kWrite);
  {
    ut::data::Appender a(s, "p");
    a.add("bash").add(int64_t{6424}).add(1.5).end_row();
    a.add("x").add_null().add_null().end_row();
    a.close();
  }
  Result r = s.query("SELECT name, size, w FROM p ORDER BY name");
  ASSERT_EQ(r.rows(), 2u);
  EXPECT_EQ(r.column(1).i64[0], 6424);
  EXPECT_TRUE(r.column(1).is_null(1));
  EXPECT_THROW(ut::data::Appender(s, "no_such_table"), DataError);
}

}  // namespace
