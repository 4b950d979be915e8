#include "workloads/data/query_lane.h"

#include <algorithm>
#include <vector>

#include "timeline/command_buffer.h"
#include "timeline/error.h"
#include "timeline/queue.h"
#include "workloads/data/preagg.h"

namespace ut::data {

namespace detail {

// Shared by the lane, its tickets and its host tasks, so a ticket can cancel after the lane is gone.
struct LaneControl {
  std::shared_ptr<Session> session;
  std::mutex mutex;                                       // guards the rest and every Slot::cancelled
  std::vector<std::shared_ptr<QueryTicket::Slot>> queued;  // submitted, not started
  const QueryTicket::Slot* running = nullptr;

  // The host task's first step: false when the query was cancelled while it waited.
  bool start(const std::shared_ptr<QueryTicket::Slot>& slot) {
    std::lock_guard lock(mutex);
    std::erase(queued, slot);
    if (slot->cancelled) return false;
    running = slot.get();
    return true;
  }
  void finish() {
    std::lock_guard lock(mutex);
    running = nullptr;
  }
  // Caller holds `mutex`.
  void cancel_locked(QueryTicket::Slot& slot) {
    slot.cancelled = true;
    if (running == &slot) session->cancel();
  }
};

}  // namespace detail

Result QueryTicket::get() const {
  if (!command_buffer) throw DataError("[QueryTicket::get]", "empty ticket");
  try {
    command_buffer.wait_until_completed();
  } catch (...) {
    if (slot && slot->error) std::rethrow_exception(slot->error);
    throw;
  }
  return slot->result;
}

void QueryTicket::cancel() const noexcept {
  if (!slot || !control) return;
  std::lock_guard lock(control->mutex);
  control->cancel_locked(*slot);
}

QueryLane::QueryLane(DevicePtr device, Database& db, QueuePtr queue, EventPtr event)
    : device_(std::move(device)), queue_(std::move(queue)), event_(std::move(event)) {
  if (!device_) throw DataError("[QueryLane::QueryLane]", "no device");
  if (!queue_ && device_->caps().is_gpu)
    throw UsageError("[QueryLane::QueryLane] give the lane a CPU-backend device (or a host queue of one): a GPU "
                     "backend runs host tasks inside stream callbacks (cudaLaunchHostFunc), where the CUDA calls that "
                     "kernel dispatch makes are not permitted; the pre-aggregation kernels still run on the GPU");
  if (!queue_) queue_ = device_->make_queue({.kind = QueueKind::host, .label = "Q_data"});
  if (queue_->kind() != QueueKind::host)
    throw UsageError(std::string("[QueryLane::QueryLane] SQL runs on a host queue, not on a ") + to_string(queue_->kind()) +
                     " queue ('" + queue_->label() + "')");
  if (!event_) event_ = device_->make_event("E_data");
  next_value_ = event_->signaled_value();
  control_ = std::make_shared<detail::LaneControl>();
  control_->session = std::make_shared<Session>(db.connect());
}

QueryLane::~QueryLane() {
  cancel();
  queue_->wait_idle();
}

QueryTicket QueryLane::enqueue(const std::string& label, std::function<Result(Session&, QueryTicket::Slot&)> work) {
  QueryTicket t;
  t.event = event_;
  t.slot = std::make_shared<QueryTicket::Slot>();
  t.control = control_;
  std::lock_guard lock(mutex_);
  t.value = ++next_value_;
  {
    std::lock_guard queued(control_->mutex);
    control_->queued.push_back(t.slot);
  }
  t.command_buffer = queue_->make_command_buffer(label);
  t.command_buffer
      .host_task(
          [slot = t.slot, control = control_, work = std::move(work), label] {
            try {
              if (!control->start(slot))
                throw QueryCancelled("[QueryLane]", "query cancelled before it started (" + label + ")");
              try {
                slot->result = work(*control->session, *slot);
              } catch (...) {
                control->finish();
                throw;
              }
              control->finish();
            } catch (...) {
              slot->error = std::current_exception();
              throw;  // fails the command buffer, so E_data carries the error to waiting queues
            }
          },
          label)
      .signal(event_, t.value)
      .commit();
  return t;
}

QueryTicket QueryLane::submit(const std::string& sql, QueryOptions options) {
  return enqueue("sql", [sql, options](Session& s, QueryTicket::Slot&) { return s.query(sql, options); });
}

QueryTicket QueryLane::submit_planned(const std::string& sql, PreAggregator& agg, PlannerOptions planner,
                                      QueryOptions options) {
  return enqueue("sql.planned", [sql, &agg, planner, options](Session& s, QueryTicket::Slot& slot) {
    const Plan p = plan_query(s, sql, planner);
    slot.engine = (p.engine == Engine::kernel ? "kernel (backend " + p.backend + ")" : std::string("duckdb")) + ": " + p.reason;
    return execute(s, p, &agg, options);
  });
}

void QueryLane::cancel() noexcept {
  if (!control_) return;
  std::lock_guard lock(control_->mutex);
  for (const auto& slot : control_->queued) slot->cancelled = true;
  if (control_->running) control_->session->cancel();
}

}  // namespace ut::data
