// DuckDB C API adapter. Every native handle has one owner here; see database.h for the contract.
#include "workloads/data/database.h"

#include <duckdb.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "workloads/data/column_source.h"

namespace ut::data {
namespace {

// Pending streaming execution is marked deprecated in 1.4 but is the C API's only way to stream a prepared
// statement's result; fall back to a materialized result if a later DuckDB drops it (see DUCKDB_API_NO_DEPRECATED).
const char* statement_type_name(duckdb_statement_type t) {
  switch (t) {
    case DUCKDB_STATEMENT_TYPE_SELECT: return "SELECT";
    case DUCKDB_STATEMENT_TYPE_INSERT: return "INSERT";
    case DUCKDB_STATEMENT_TYPE_UPDATE: return "UPDATE";
    case DUCKDB_STATEMENT_TYPE_EXPLAIN: return "EXPLAIN";
    case DUCKDB_STATEMENT_TYPE_DELETE: return "DELETE";
    case DUCKDB_STATEMENT_TYPE_CREATE: return "CREATE";
    case DUCKDB_STATEMENT_TYPE_ALTER: return "ALTER";
    case DUCKDB_STATEMENT_TYPE_TRANSACTION: return "TRANSACTION";
    case DUCKDB_STATEMENT_TYPE_COPY: return "COPY";
    case DUCKDB_STATEMENT_TYPE_DROP: return "DROP";
    case DUCKDB_STATEMENT_TYPE_PRAGMA: return "PRAGMA";
    case DUCKDB_STATEMENT_TYPE_SET:
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET: return "SET";
    case DUCKDB_STATEMENT_TYPE_ATTACH: return "ATTACH";
    case DUCKDB_STATEMENT_TYPE_LOAD: return "LOAD";
    case DUCKDB_STATEMENT_TYPE_CALL: return "CALL";
    case DUCKDB_STATEMENT_TYPE_EXPORT: return "EXPORT";
    default: return "non-SELECT";
  }
}

// Runs `deadline` -> duckdb_interrupt on a helper thread that sleeps on a condition variable (no polling).
class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds timeout, std::function<void()> on_expiry) {
    if (timeout.count() <= 0) return;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    thread_ = std::thread([this, deadline, fn = std::move(on_expiry)] {
      std::unique_lock lock(mutex_);
      if (!cv_.wait_until(lock, deadline, [this] { return stop_; })) fn();
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------
struct Database::Impl {
  DatabaseOptions options;
  duckdb_database db = nullptr;
  std::atomic<uint64_t> writes{0};  // Session::data_version()
  ~Impl() {
    if (db) duckdb_close(&db);
  }
};

struct Session::Impl {
  std::shared_ptr<Database::Impl> db;
  duckdb_connection con = nullptr;
  std::atomic<bool> busy{false};
  std::atomic<bool> cancelled{false}, timed_out{false};
  std::mutex children_mutex;
  std::vector<std::weak_ptr<Impl>> children;  // forks that cancel() reaches
  ~Impl() {
    if (con) duckdb_disconnect(&con);
  }
  // Plain statement for transaction control; returns DuckDB's error or "".
  std::string run_simple(const char* sql) {
    duckdb_result r;
    std::string err;
    if (duckdb_query(con, sql, &r) == DuckDBError) err = duckdb_result_error(&r) ? duckdb_result_error(&r) : "error";
    duckdb_destroy_result(&r);
    return err;
  }
  [[noreturn]] void fail(const char* context, const std::string& msg, const std::string& sql, int type) {
    if (cancelled.load()) throw QueryCancelled(context, "query cancelled: " + msg, sql, type);
    if (timed_out.load()) throw QueryTimeout(context, "query timed out: " + msg, sql, type);
    throw DataError(context, msg, sql, type);
  }
};

struct ResultStream::Impl {
  std::shared_ptr<Session::Impl> session;
  std::string sql;
  duckdb_extracted_statements extracted = nullptr;
  duckdb_prepared_statement prepared = nullptr;
  duckdb_pending_result pending = nullptr;
  duckdb_result result{};
  bool have_result = false;
  bool in_transaction = false;  // ours: BEGIN [READ ONLY] ... ROLLBACK/COMMIT
  bool commit_at_end = false;   // read-write scripts commit once fully consumed
  bool writes = false;          // read_write access: bump the data version once the statement has ended
  bool done = false;
  uint64_t rows = 0;
  std::vector<Column> schema;
  std::vector<detail::ColumnSource> sources;
  std::unique_ptr<Watchdog> watchdog;

  ~Impl() { finish(false); }

  // Ends the statement: COMMIT after a successful read-write script, else ROLLBACK. Returns DuckDB's error when
  // the COMMIT failed (then rolled back: nothing of the script was written, e.g. the log could not grow on a full
  // disk), "" otherwise; the caller must report it, or a lost write would pass as stored.
  std::string finish(bool success) noexcept {
    if (done && !have_result && !prepared && !extracted && !pending && !in_transaction) return {};
    done = true;
    watchdog.reset();
    if (have_result) duckdb_destroy_result(&result);
    have_result = false;
    if (pending) duckdb_destroy_pending(&pending);
    if (prepared) duckdb_destroy_prepare(&prepared);
    if (extracted) duckdb_destroy_extracted(&extracted);
    std::string commit_error;
    if (in_transaction) {
      in_transaction = false;
      const bool commit = success && commit_at_end;
      std::string err = session->run_simple(commit ? "COMMIT" : "ROLLBACK");
      if (!err.empty() && commit) {
        commit_error = std::move(err);
        (void)session->run_simple("ROLLBACK");
      }
    }
    // After the commit (or rollback), so a scan that read the old version never caches the new data under it.
    if (writes) session->db->writes.fetch_add(1);
    session->busy.store(false);
    return commit_error;
  }

  [[noreturn]] void fail(const char* context, const std::string& msg, int type) {
    finish(false);
    session->fail(context, msg, sql, type);
  }
};

// ---------------------------------------------------------------------------------------------------------
Database::Database(DatabaseOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  const DatabaseOptions& o = impl_->options;
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) throw DataError("[Database::Database]", "duckdb_create_config failed");
  auto set = [&](const char* name, const std::string& value) {
    if (duckdb_set_config(config, name, value.c_str()) == DuckDBError) {
      duckdb_destroy_config(&config);
      throw DataError("[Database::Database]", std::string("DuckDB rejected option ") + name + "=" + value);
    }
  };
  set("autoinstall_known_extensions", "false");
  set("autoload_known_extensions", "false");
  set("enable_external_access", o.allow_external_access ? "true" : "false");
  if (o.read_only) set("access_mode", "READ_ONLY");
  if (o.threads > 0) set("threads", std::to_string(o.threads));
  if (!o.memory_limit.empty()) set("memory_limit", o.memory_limit);
  char* err = nullptr;
  const char* path = o.path.empty() ? nullptr : o.path.c_str();
  const duckdb_state st = duckdb_open_ext(path, &impl_->db, config, &err);
  duckdb_destroy_config(&config);
  if (st == DuckDBError) {
    const std::string msg = err ? err : "unknown error";
    if (err) duckdb_free(err);
    impl_->db = nullptr;
    throw DataError("[Database::Database]", "cannot open '" + (o.path.empty() ? std::string(":memory:") : o.path) +
                                                "': " + msg);
  }
}

Database::~Database() = default;
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;

std::string Database::default_path() {
  const char* env = std::getenv("UT_DATA_DB");
  return env && *env ? env : "ut-data.duckdb";
}

const DatabaseOptions& Database::options() const { return impl_->options; }

Session Database::connect() {
  auto s = std::make_shared<Session::Impl>();
  s->db = impl_;
  if (duckdb_connect(impl_->db, &s->con) == DuckDBError) throw DataError("[Database::connect]", "duckdb_connect failed");
  return Session(std::move(s));
}

Result Database::query(const std::string& sql, const QueryOptions& options) { return connect().query(sql, options); }

// ---------------------------------------------------------------------------------------------------------
Session::Session(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::cancel() noexcept {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->children_mutex);
    for (const auto& w : impl_->children)
      if (auto child = w.lock()) Session(child).cancel();
  }
  if (!impl_->busy.load()) return;
  impl_->cancelled.store(true);
  duckdb_interrupt(impl_->con);
}

Session Session::fork() {
  if (!impl_) throw DataError("[Session::fork]", "moved-from session");
  auto s = std::make_shared<Impl>();
  s->db = impl_->db;
  if (duckdb_connect(impl_->db->db, &s->con) == DuckDBError) throw DataError("[Session::fork]", "duckdb_connect failed");
  std::lock_guard lock(impl_->children_mutex);
  std::erase_if(impl_->children, [](const std::weak_ptr<Impl>& w) { return w.expired(); });
  impl_->children.push_back(s);
  return Session(std::move(s));
}

bool Session::busy() const noexcept { return impl_ && impl_->busy.load(); }
uint64_t Session::data_version() const noexcept { return impl_ ? impl_->db->writes.load() : 0; }
const void* Session::database_id() const noexcept { return impl_ ? impl_->db.get() : nullptr; }

ResultStream Session::stream(const std::string& sql, const QueryOptions& options) {
  if (!impl_) throw DataError("[Session::stream]", "moved-from session");
  bool expected = false;
  if (!impl_->busy.compare_exchange_strong(expected, true))
    throw DataError("[Session::stream]", "session is busy with another query or an open ResultStream", sql);
  impl_->cancelled.store(false);
  impl_->timed_out.store(false);
  auto st = std::make_unique<ResultStream::Impl>();
  st->session = impl_;
  st->sql = sql;
  st->writes = options.access == Access::read_write;
  Impl* s = impl_.get();
  st->watchdog = std::make_unique<Watchdog>(options.timeout, [s] {
    s->timed_out.store(true);
    duckdb_interrupt(s->con);
  });
  constexpr const char* ctx = "[Session::stream]";

  const idx_t n = duckdb_extract_statements(s->con, sql.c_str(), &st->extracted);
  if (n == 0) {
    const char* e = duckdb_extract_statements_error(st->extracted);
    st->fail(ctx, e ? e : "no statement in SQL", DUCKDB_ERROR_PARSER);
  }
  const bool read_only = options.access == Access::read_only;
  if (read_only && n != 1)
    st->fail(ctx, "a read-only session runs exactly one statement; got " + std::to_string(n), -1);
  if (read_only || n > 1) {
    const std::string e = s->run_simple(read_only ? "BEGIN TRANSACTION READ ONLY" : "BEGIN TRANSACTION");
    if (!e.empty()) st->fail(ctx, "could not begin a transaction: " + e, DUCKDB_ERROR_TRANSACTION);
    st->in_transaction = true;
    st->commit_at_end = !read_only;
  }
  // Every statement but the last runs to completion (a write script); the last one is streamed.
  for (idx_t i = 0; i < n; ++i) {
    if (st->prepared) duckdb_destroy_prepare(&st->prepared);
    if (duckdb_prepare_extracted_statement(s->con, st->extracted, i, &st->prepared) == DuckDBError) {
      const char* e = duckdb_prepare_error(st->prepared);
      st->fail(ctx, e ? e : "prepare failed", -1);
    }
    if (duckdb_prepared_statement_type(st->prepared) == DUCKDB_STATEMENT_TYPE_TRANSACTION)
      st->fail(ctx, "transaction statements are not accepted: the session manages transactions (a multi-statement "
                    "script runs as one transaction)", DUCKDB_ERROR_TRANSACTION);
    if (read_only) {
      const duckdb_statement_type t = duckdb_prepared_statement_type(st->prepared);
      if (t != DUCKDB_STATEMENT_TYPE_SELECT && t != DUCKDB_STATEMENT_TYPE_EXPLAIN)
        st->fail(ctx, std::string("read-only session: ") + statement_type_name(t) +
                          " statements are not allowed (only SELECT and EXPLAIN; writes need read_write access)",
                 DUCKDB_ERROR_PERMISSION);
    }
    if (i + 1 < n) {
      duckdb_result r;
      if (duckdb_execute_prepared(st->prepared, &r) == DuckDBError) {
        const std::string e = duckdb_result_error(&r) ? duckdb_result_error(&r) : "error";
        const int type = duckdb_result_error_type(&r);
        duckdb_destroy_result(&r);
        st->fail(ctx, e + " (statement " + std::to_string(i + 1) + " of " + std::to_string(n) + "; rolled back)", type);
      }
      duckdb_destroy_result(&r);
      if (s->cancelled.load() || s->timed_out.load()) st->fail(ctx, "interrupted between statements", DUCKDB_ERROR_INTERRUPT);
    }
  }
  if (duckdb_pending_prepared_streaming(st->prepared, &st->pending) == DuckDBError) {
    const char* e = duckdb_pending_error(st->pending);
    st->fail(ctx, e ? e : "could not start the query", -1);
  }
  const duckdb_state es = duckdb_execute_pending(st->pending, &st->result);
  st->have_result = true;
  if (es == DuckDBError) {
    const std::string e = duckdb_result_error(&st->result) ? duckdb_result_error(&st->result) : "error";
    st->fail(ctx, e, duckdb_result_error_type(&st->result));
  }
  const idx_t cols = duckdb_column_count(&st->result);
  st->schema.reserve(cols);
  st->sources.resize(cols);
  try {
    for (idx_t c = 0; c < cols; ++c) {
      duckdb_logical_type lt = duckdb_column_logical_type(&st->result, c);
      try {
        st->schema.push_back(detail::make_column(duckdb_column_name(&st->result, c), lt, st->sources[c], sql));
      } catch (...) {
        duckdb_destroy_logical_type(&lt);
        throw;
      }
      duckdb_destroy_logical_type(&lt);
    }
  } catch (...) {
    st->finish(false);
    throw;
  }
  return ResultStream(std::move(st));
}

Result Session::query(const std::string& sql, const QueryOptions& options) {
  ResultStream st = stream(sql, options);
  Result out;
  out.columns = st.schema();
  Result chunk;
  while (st.next(chunk)) out.append(chunk);
  return out;
}

std::vector<Column> Session::describe(const std::string& sql) {
  duckdb_prepared_statement p = nullptr;
  if (duckdb_prepare(impl_->con, sql.c_str(), &p) == DuckDBError) {
    const std::string e = duckdb_prepare_error(p) ? duckdb_prepare_error(p) : "prepare failed";
    duckdb_destroy_prepare(&p);
    throw DataError("[Session::describe]", e, sql);
  }
  std::vector<Column> cols;
  try {
    const idx_t n = duckdb_prepared_statement_column_count(p);
    for (idx_t c = 0; c < n; ++c) {
      duckdb_logical_type lt = duckdb_prepared_statement_column_logical_type(p, c);
      detail::ColumnSource src;
      try {
        // DuckDB returns a copy of the name that the caller frees (found by the planner fuzz target under LSan).
        char* raw = const_cast<char*>(duckdb_prepared_statement_column_name(p, c));
        const std::string name = raw ? raw : "";
        duckdb_free(raw);
        cols.push_back(detail::make_column(name.c_str(), lt, src, sql));
      } catch (...) {
        duckdb_destroy_logical_type(&lt);
        throw;
      }
      duckdb_destroy_logical_type(&lt);
    }
  } catch (...) {
    duckdb_destroy_prepare(&p);
    throw;
  }
  duckdb_destroy_prepare(&p);
  return cols;
}

// ---------------------------------------------------------------------------------------------------------
ResultStream::ResultStream() = default;
ResultStream::ResultStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultStream::~ResultStream() = default;
ResultStream::ResultStream(ResultStream&&) noexcept = default;
ResultStream& ResultStream::operator=(ResultStream&&) noexcept = default;

const std::vector<Column>& ResultStream::schema() const {
  if (!impl_) throw DataError("[ResultStream::schema]", "empty stream");
  return impl_->schema;
}

uint64_t ResultStream::rows_fetched() const noexcept { return impl_ ? impl_->rows : 0; }

bool ResultStream::next(Result& chunk) {
  constexpr const char* ctx = "[ResultStream::next]";
  if (!impl_ || impl_->done) return false;
  Impl& st = *impl_;
  Session::Impl& s = *st.session;
  if (s.cancelled.load() || s.timed_out.load()) st.fail(ctx, "interrupted", DUCKDB_ERROR_INTERRUPT);
  duckdb_data_chunk c = duckdb_fetch_chunk(st.result);
  if (c == nullptr) {
    const char* e = duckdb_result_error(&st.result);
    if (e != nullptr) st.fail(ctx, e, duckdb_result_error_type(&st.result));
    if (s.cancelled.load() || s.timed_out.load()) st.fail(ctx, "interrupted", DUCKDB_ERROR_INTERRUPT);
    if (const std::string err = st.finish(true); !err.empty())
      s.fail(ctx, "COMMIT failed, nothing of the statement was written: " + err, st.sql, DUCKDB_ERROR_TRANSACTION);
    return false;
  }
  const idx_t n = duckdb_data_chunk_get_size(c);
  chunk.columns = st.schema;
  try {
    for (std::size_t col = 0; col < chunk.columns.size(); ++col) {
      chunk.columns[col].reserve(n);
      detail::append_vector(chunk.columns[col], st.sources[col], duckdb_data_chunk_get_vector(c, col), n);
    }
  } catch (...) {
    duckdb_destroy_data_chunk(&c);
    st.finish(false);
    throw;
  }
  duckdb_destroy_data_chunk(&c);
  st.rows += n;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
Appender::Appender(Session& session, const std::string& table) : session_(session.impl_), table_(table) {
  duckdb_appender a = nullptr;
  if (duckdb_appender_create(session_->con, nullptr, table.c_str(), &a) == DuckDBError) {
    const std::string e = duckdb_appender_error(a) ? duckdb_appender_error(a) : "cannot create appender";
    duckdb_appender_destroy(&a);
    throw DataError("[Appender::Appender]", e + " (table '" + table + "')");
  }
  handle_ = a;
}

Appender::~Appender() {
  if (handle_) {
    auto a = static_cast<duckdb_appender>(handle_);
    duckdb_appender_destroy(&a);  // flushes and closes
    session_->db->writes.fetch_add(1);
  }
}

void Appender::check(int state, const char* method) {
  if (state == DuckDBError) {
    const char* e = duckdb_appender_error(static_cast<duckdb_appender>(handle_));
    throw DataError(std::string("[Appender::") + method + "]", (e ? e : "append failed") + (" (table '" + table_ + "')"));
  }
}

Appender& Appender::add(int64_t v) {
  check(duckdb_append_int64(static_cast<duckdb_appender>(handle_), v), "add");
  return *this;
}
Appender& Appender::add(double v) {
  check(duckdb_append_double(static_cast<duckdb_appender>(handle_), v), "add");
  return *this;
}
Appender& Appender::add(std::string_view v) {
  check(duckdb_append_varchar_length(static_cast<duckdb_appender>(handle_), v.data(), v.size()), "add");
  return *this;
}
Appender& Appender::add_null() {
  check(duckdb_append_null(static_cast<duckdb_appender>(handle_)), "add_null");
  return *this;
}
void Appender::end_row() { check(duckdb_appender_end_row(static_cast<duckdb_appender>(handle_)), "end_row"); }
void Appender::close() {
  if (!handle_) return;
  const int state = duckdb_appender_close(static_cast<duckdb_appender>(handle_));
  session_->db->writes.fetch_add(1);  // a failed close may still have flushed rows
  check(state, "close");
  auto a = static_cast<duckdb_appender>(handle_);
  duckdb_appender_destroy(&a);
  handle_ = nullptr;
}

}  // namespace ut::data
