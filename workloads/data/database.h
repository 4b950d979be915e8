// Database, Session, ResultStream, Appender: RAII over DuckDB's C API (DuckDB 1.4.4).
//
//   ut::data::Database db({.path = ut::data::Database::default_path()});  // or {} for in-memory
//   ut::data::Session s = db.connect();
//   s.query("CREATE TABLE t AS SELECT range AS i FROM range(10)", {.access = ut::data::Access::read_write});
//   ut::data::Result r = s.query("SELECT sum(i) FROM t");                 // read-only by default
//   ut::data::ResultStream st = s.stream("SELECT * FROM big", {.timeout = std::chrono::seconds(5)});
//   ut::data::Result chunk;
//   while (st.next(chunk)) consume(chunk);                                 // one DuckDB chunk at a time
//   // from another thread: s.cancel();  -> the running query/stream throws QueryCancelled
//
// Contract
// - Extension auto-install and auto-load are off (no network). External file access from SQL (read_csv,
//   COPY, ATTACH ...) is off unless DatabaseOptions::allow_external_access.
// - Access::read_only (the default, for SQL from chat or HTTP): exactly one statement, which DuckDB's own
//   parser must classify as SELECT or EXPLAIN, run inside `BEGIN TRANSACTION READ ONLY` and rolled back after,
//   so DuckDB itself rejects any write (e.g. nextval on a sequence). Access::read_write runs a script; several
//   statements run in one transaction that is rolled back if any fails (a failed query changes nothing).
// - Errors: DataError carries DuckDB's message unchanged, its error type and the SQL; QueryCancelled and
//   QueryTimeout when interrupted (duckdb_interrupt). After an error the session is usable again.
// - Results are fetched chunk by chunk from a streaming DuckDB result: query() appends chunks into one Result
//   (DuckDB never materializes it as well); stream() hands out one chunk at a time.
// - Threads: a Database is thread-safe and outlives nothing (sessions keep it open). A Session is one DuckDB
//   connection used by one thread at a time; only cancel() may be called from any thread. One query or
//   stream at a time per session; a ResultStream keeps its session busy until it ends or is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/data/result.h"

namespace ut::data {

struct DatabaseOptions {
  std::string path;                    // database file; empty or ":memory:" = in-memory
  bool read_only = false;              // open the file in DuckDB's READ_ONLY access mode (whole database)
  bool allow_external_access = false;  // DuckDB enable_external_access: SQL may read/write files
  int threads = 0;                     // DuckDB worker threads; 0 = DuckDB's default (all cores)
  std::string memory_limit;            // e.g. "4GB"; empty = DuckDB's default
};

enum class Access { read_only, read_write };

struct QueryOptions {
  Access access = Access::read_only;
  std::chrono::milliseconds timeout{0};  // 0 = none; past it the query is interrupted (QueryTimeout)
};

class Session;

class Database {
 public:
  explicit Database(DatabaseOptions options = {});
  ~Database();
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;

  // The engine's embedded default store: $UT_DATA_DB, else ./ut-data.duckdb.
  static std::string default_path();

  Session connect();
  // Convenience: one query on a fresh session.
  Result query(const std::string& sql, const QueryOptions& options = {});
  const DatabaseOptions& options() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

class ResultStream {
 public:
  ResultStream();
  ~ResultStream();  // ends the query (rolls back its read-only transaction); never throws
  ResultStream(ResultStream&&) noexcept;
  ResultStream& operator=(ResultStream&&) noexcept;

  // Column names and types (no rows).
  const std::vector<Column>& schema() const;
  // Replaces `chunk` with the next DuckDB chunk (up to 2048 rows); false once the result is exhausted.
  bool next(Result& chunk);
  uint64_t rows_fetched() const noexcept;

  struct Impl;

 private:
  friend class Session;
  explicit ResultStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Session {
 public:
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  Result query(const std::string& sql, const QueryOptions& options = {});
  ResultStream stream(const std::string& sql, const QueryOptions& options = {});
  // Names and types of a statement's result, from DuckDB's binder (nothing runs).
  std::vector<Column> describe(const std::string& sql);
  // Interrupts the running query or stream of this session and of its forks (duckdb_interrupt); a no-op when idle.
  void cancel() noexcept;
  // Another session (connection) on the same database, for work that runs beside this one (parallel scans);
  // cancel() on this session reaches the fork's query too.
  Session fork();
  bool busy() const noexcept;
  // Changes after every read-write statement (committed or not) and every Appender of this process on this
  // database; with database_id() it keys caches of scanned columns (PreAggregator). Other processes cannot
  // write while this one holds the file (DuckDB's file lock), so nothing else changes the data unseen.
  uint64_t data_version() const noexcept;
  const void* database_id() const noexcept;

  struct Impl;

 private:
  friend class Database;
  friend class Appender;
  explicit Session(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Bulk insert into an existing table (duckdb_appender); rows become visible at close().
//   ut::data::Appender a(session, "debian_packages");
//   a.add("bash").add(int64_t{6424}).add_null().end_row();  ...  a.close();
class Appender {
 public:
  Appender(Session& session, const std::string& table);
  ~Appender();  // closes; errors at that point are dropped (call close() to see them)
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;

  Appender& add(int64_t v);
  Appender& add(double v);
  Appender& add(std::string_view v);
  Appender& add_null();
  void end_row();
  void close();

 private:
  void check(int state, const char* method);
  void* handle_ = nullptr;  // duckdb_appender
  std::shared_ptr<Session::Impl> session_;
  std::string table_;
};

}  // namespace ut::data
