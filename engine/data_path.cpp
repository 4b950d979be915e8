#include "engine/data_path.h"

#include "timeline/error.h"
#include "timeline/kernel.h"
#include "workloads/data/agg_kernel.h"

namespace ut::engine {
namespace {

// The device the aggregation kernels run on: the one asked for, else the engine's device when a data.agg_rows
// implementation exists for its backend (CUDA builds register one), else another available GPU backend that
// has them (an engine kept on the CPU, as `ut sql` keeps it, still aggregates on the GPU), else the CPU.
DevicePtr kernel_device(Engine& engine, const std::string& wanted) {
  data::register_agg_kernels();
  std::string backend = wanted;
  if (backend.empty() && kernels().find(data::kAggRowsKernel, engine.device().backend_name()))
    backend = engine.device().backend_name();
  if (backend.empty())
    for (const auto& b : Device::backends())
      if (b.available && b.name != "cpu" && kernels().find(data::kAggRowsKernel, b.name)) backend = b.name;
  if (backend.empty()) backend = "cpu";
  if (backend == engine.device().backend_name()) return engine.device_ptr();
  if (backend == engine.host_device()->backend_name()) return engine.host_device();
  return Device::create({.backend = backend});
}

}  // namespace

KernelMode parse_kernel_mode(const std::string& s) {
  if (s == "auto") return KernelMode::automatic;
  if (s == "on") return KernelMode::on;
  if (s == "off") return KernelMode::off;
  throw UsageError("[parse_kernel_mode] kernel must be auto, on or off, not '" + s + "'");
}

DataPath::DataPath(Engine& engine, data::Database& db, DataPathConfig config)
    : engine_(engine), db_(db), config_(std::move(config)) {
  // SQL blocks for as long as the query runs: a queue of its own, so Q_host (chat retrieval) never waits on it.
  auto queue = engine_.host_device()->make_queue({.kind = QueueKind::host, .label = "Q_data"});
  lane_ = std::make_unique<data::QueryLane>(engine_.host_device(), db_, queue, engine_.e_data());
  engine_.add_queue("data", queue);
}

DataPath::~DataPath() {
  const QueuePtr queue = lane_->queue();
  lane_.reset();  // cancels the running query and drains the queue
  engine_.remove_queue(*queue);
  std::lock_guard lock(kernels_mutex_);
  if (kernel_queue_) {
    kernel_queue_->wait_idle();
    engine_.remove_queue(*kernel_queue_);
  }
}

// On first use: a GPU context costs time and memory that `ut chat` or `ut ingest` never need.
data::PreAggregator& DataPath::aggregator() {
  std::lock_guard lock(kernels_mutex_);
  if (!agg_) {
    kernel_device_ = kernel_device(engine_, config_.kernel_backend);
    kernel_queue_ = kernel_device_->make_queue(
        {.kind = QueueKind::compute, .label = "Q_data.kernels", .partition = SmPartition::work});
    agg_ = std::make_unique<data::PreAggregator>(kernel_device_, kernel_queue_);
    engine_.add_queue("data_kernels", kernel_queue_);
  }
  return *agg_;
}

std::string DataPath::kernel_backend() { return aggregator().backend(); }

data::PlannerOptions DataPath::planner_options(const SqlRequest& r) {
  return {.backend = aggregator().backend(),
          .force_kernel = r.kernel == KernelMode::on,
          .force_duckdb = r.kernel == KernelMode::off || r.write};
}

data::QueryTicket DataPath::submit(const SqlRequest& r) {
  if (r.sql.empty()) throw UsageError("[DataPath::submit] empty SQL");
  const data::QueryOptions qo{.access = r.write ? data::Access::read_write : data::Access::read_only,
                              .timeout = r.timeout};
  auto run = [&] {
    return r.write ? lane_->submit(r.sql, qo) : lane_->submit_planned(r.sql, aggregator(), planner_options(r), qo);
  };
  const CoreBudgetPtr& budget = config_.cpu_budget;
  if (!budget) return run();
  // Background embedding yields from its next batch while the query waits or runs.
  auto hold = std::make_shared<CoreBudget::Hold>(budget->hold(CpuLane::sql));
  // The DuckDB threads this query started with: 0 before it starts, -1 once it will not run or has finished.
  auto running = std::make_shared<std::atomic<int>>(0);
  const auto finish = [budget, running] {
    if (const int n = running->exchange(-1); n > 0) budget->query_finished(n);
  };
  lane_->queue()
      ->make_command_buffer("cpu budget")
      .host_task(
          [this, budget, running] {
            const int n = set_duckdb_threads();
            int before = 0;
            if (running->compare_exchange_strong(before, n)) budget->query_started(n);
          },
          "SET threads")
      .commit();
  data::QueryTicket t = [&] {
    try {
      return run();
    } catch (...) {  // refused before it was queued (bad SQL, a write through the read path): nothing will run
      finish();
      throw;
    }
  }();
  t.event->notify(t.value, [hold, finish](uint64_t) {
    finish();
    hold->reset();
  });
  return t;
}

int DataPath::set_duckdb_threads() {
  // A chat waiting for its first token has the cores: the query starts after it (or after a bounded wait).
  const int n = config_.cpu_budget->wait_threads(CpuLane::sql);
  config_.cpu_budget->record(CpuLane::sql, n);
  if (n == duckdb_threads_) return n;
  try {
    if (!budget_session_) budget_session_.emplace(db_.connect());
    budget_session_->query("SET threads = " + std::to_string(n));
    duckdb_threads_ = n;
  } catch (const std::exception&) {  // the query still runs, with the threads DuckDB had
  }
  return duckdb_threads_ > 0 ? duckdb_threads_ : n;
}

std::string DataPath::explain(const std::string& sql, KernelMode kernel) {
  data::Session session = db_.connect();
  return data::plan_query(session, sql, planner_options({.sql = sql, .kernel = kernel})).explain();
}

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

}  // namespace ut::engine
