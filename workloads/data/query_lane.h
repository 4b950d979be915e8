// QueryLane: SQL runs as command-buffer host tasks on a host queue ("Q_data") and signals E_data when done.
//
//   auto cpu = ut::Device::create({.backend = "cpu"});
//   ut::data::QueryLane lane(cpu, db);                       // makes Q_data (QueueKind::host) and E_data
//   ut::data::QueryTicket t = lane.submit("SELECT count(*) FROM debian_packages");
//   // the render path only reads: if (lane.event()->signaled_value() >= t.value) draw(t.result());
//   ut::data::Result r = t.get();                            // a host thread may block; rethrows DataError
//   t.cancel();                                              // this query: queued, it never runs; running, interrupted
//   lane.cancel();                                           // every query submitted so far
//
// Contract
// - Queries run one after another on the lane's own queue, never on a render queue (the constructor rejects
//   a queue whose kind is not host). The lane's device is a CPU-backend one: a CUDA host task runs inside a
//   stream callback, where CUDA calls are not permitted (measured on an H200: cudaErrorNotPermitted), and
//   submit_planned() dispatches GPU kernels from the task. E_data may belong to any backend. Each submit() gets the next E_data value; the event is signalled after
//   the result (or the error) is stored, also when the query fails (the command buffer's error travels on
//   the event, so a queue waiting on E_data fails instead of hanging).
// - With a PreAggregator, submit_planned() plans the query and runs the chosen engine on the lane.
// - Cancel: QueryTicket::cancel() before the query starts means it never runs: its get() throws QueryCancelled and
//   E_data still reaches its value (carrying the failure). While it runs, the query is interrupted
//   (Session::cancel); DuckDB only hears an interrupt once the query executes, so one that lands in the instant
//   between the lane starting the query and DuckDB running it is lost and the query completes. After it finished,
//   cancel() does nothing. QueryLane::cancel() cancels every query submitted so far.
// - Thread-safe: submit from any thread. The lane owns one Session; destroying the lane waits for its queue.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "timeline/device.h"
#include "workloads/data/database.h"
#include "workloads/data/planner.h"

namespace ut::data {

class PreAggregator;
namespace detail {
struct LaneControl;  // the lane's session, its queued queries and the one running (query_lane.cpp)
}

struct QueryTicket {
  uint64_t value = 0;        // E_data reaches this value when the query has finished (or failed)
  EventPtr event;
  CommandBuffer command_buffer;
  struct Slot {
    Result result;
    std::exception_ptr error;  // the query's own exception (the command buffer wraps it in CommandError)
    std::string engine;        // submit_planned: "duckdb" or "kernel (backend)", with the planner's reason
    bool cancelled = false;    // guarded by the lane's control mutex
  };
  std::shared_ptr<Slot> slot;  // filled by the host task
  std::shared_ptr<detail::LaneControl> control;

  bool ready() const noexcept { return event && event->signaled_value() >= value; }
  // Blocks until finished; rethrows the query's own error (DataError, QueryCancelled, QueryTimeout).
  Result get() const;
  // Cancels this query (see the contract above); any thread, any time, also after the lane is gone.
  void cancel() const noexcept;
};

class QueryLane {
 public:
  // queue: a host-kind queue to use; nullptr makes "Q_data". event: E_data to signal; nullptr makes one.
  QueryLane(DevicePtr device, Database& db, QueuePtr queue = nullptr, EventPtr event = nullptr);
  ~QueryLane();

  QueryTicket submit(const std::string& sql, QueryOptions options = {});
  // Plans with `planner` and runs the plan (kernels through `agg`, whose queue is a compute queue).
  QueryTicket submit_planned(const std::string& sql, PreAggregator& agg, PlannerOptions planner, QueryOptions options = {});
  // Cancels every query submitted so far: the queued ones never run, the running one is interrupted.
  void cancel() noexcept;

  const QueuePtr& queue() const noexcept { return queue_; }
  const EventPtr& event() const noexcept { return event_; }

 private:
  QueryTicket enqueue(const std::string& label, std::function<Result(Session&, QueryTicket::Slot&)> work);

  DevicePtr device_;
  QueuePtr queue_;
  EventPtr event_;
  std::shared_ptr<detail::LaneControl> control_;
  std::mutex mutex_;   // orders value assignment with commit
  uint64_t next_value_;
};

}  // namespace ut::data
