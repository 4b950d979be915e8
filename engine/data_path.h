// DataPath: the plan's data path — SQL on the engine's DuckDB file through the GROUP BY planner, with the
// pre-aggregation kernels on the best device that has them, on a host queue of its own ("data"), each query
// signalling E_data. Every caller (`ut sql`, `POST /api/v1/sql`, `ut demo`, the UI) goes through it.
//
//   ut::engine::DataPath& data = runtime.data();
//   ut::data::QueryTicket t = data.submit({.sql = "SELECT section, count(*) FROM debian_packages GROUP BY 1",
//                                          .timeout = std::chrono::seconds(30)});
//   ut::data::Result r = t.get();      // rethrows DataError / QueryTimeout / QueryCancelled
//   std::string why = t.slot->engine;  // "duckdb (...)" or "kernel (cuda)": which engine ran it and why
//   std::cout << data.explain("SELECT ...");   // the planner's choice, runs nothing
//
// Contract
// - Queries run one after another on the "data" queue (a CPU host queue: DuckDB blocks, and kernel dispatch
//   from a CUDA host callback is not permitted); chat retrieval on Q_host never waits behind a long query.
// - Reads go through the planner (kernels when eligible and worth it, else DuckDB); writes go to DuckDB only,
//   and only when the request says write.
// - Kernels run on the engine's device when it has the data kernels (CUDA on a GPU machine; else another
//   available GPU backend that has them), on a compute queue registered as "data_kernels" on first use; on a
//   CPU-only machine the planner keeps DuckDB (its aggregate is the faster CPU path) unless the request forces
//   kernels.
// - cancel() interrupts the query running now. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/core_budget.h"
#include "engine/engine.h"
#include "workloads/data/database.h"
#include "workloads/data/planner.h"
#include "workloads/data/preagg.h"
#include "workloads/data/query_lane.h"

namespace ut::engine {

enum class KernelMode { automatic, on, off };  // planner decides / kernels whenever eligible / DuckDB only
KernelMode parse_kernel_mode(const std::string& s);  // "auto" | "on" | "off"; throws UsageError otherwise

struct DataPathConfig {
  std::string kernel_backend;  // empty: the engine's device when it has data kernels, else "cpu"
  // The CPU cores shared with the other lanes (the Runtime's): a query holds the SQL lane from submit until it
  // finishes, and DuckDB runs it with the lane's threads (SET threads just before it). Null: DuckDB's default.
  CoreBudgetPtr cpu_budget;
};

struct SqlRequest {
  std::string sql;
  bool write = false;                     // read-only transaction unless set
  std::chrono::milliseconds timeout{0};   // 0: none; past it the query is interrupted (QueryTimeout)
  KernelMode kernel = KernelMode::automatic;
};

class DataPath {
 public:
  DataPath(Engine& engine, data::Database& db, DataPathConfig config = {});
  ~DataPath();  // waits for queries in flight
  DataPath(const DataPath&) = delete;
  DataPath& operator=(const DataPath&) = delete;

  data::QueryTicket submit(const SqlRequest& request);
  // The planner's choice for this query and why (no query runs).
  std::string explain(const std::string& sql, KernelMode kernel = KernelMode::automatic);
  void cancel() noexcept { lane_->cancel(); }

  // The backend the kernels run on (chosen, and its device made, on first use).
  std::string kernel_backend();
  const QueuePtr& queue() const noexcept { return lane_->queue(); }
  data::Database& database() noexcept { return db_; }

 private:
  data::PlannerOptions planner_options(const SqlRequest& r);
  data::PreAggregator& aggregator();
  int set_duckdb_threads();  // on the data queue, before a query: SET threads to the SQL lane's share (returned)

  Engine& engine_;
  data::Database& db_;
  DataPathConfig config_;
  std::mutex kernels_mutex_;  // the kernel device, queue and aggregator are made on first use
  DevicePtr kernel_device_;
  QueuePtr kernel_queue_;
  std::unique_ptr<data::PreAggregator> agg_;
  std::optional<data::Session> budget_session_;  // runs SET threads; used on the data queue only
  int duckdb_threads_ = 0;
  std::unique_ptr<data::QueryLane> lane_;
};

// Query results as readable text rows ("column: value; ..."), the form the embedder and chat see; rows past
// max_rows are counted, not written.
std::string result_text(const std::string& sql, const data::Result& r, std::size_t max_rows);

}  // namespace ut::engine
