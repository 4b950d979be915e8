#include "timeline/queue.h"

#include <atomic>

#include "timeline/clock.h"
#include "timeline/detail/command_buffer_state.h"
#include "timeline/device.h"
#include "timeline/validator.h"

namespace ut {
namespace {
std::atomic<uint32_t> g_next_queue_id{1};
std::atomic<uint64_t> g_next_cb_id{1};

QueuePriority default_priority(QueueKind k) {
  switch (k) {
    case QueueKind::render: return QueuePriority::high;
    case QueueKind::transfer: return QueuePriority::low;
    default: return QueuePriority::normal;
  }
}
}  // namespace

const char* to_string(QueueKind k) noexcept {
  switch (k) {
    case QueueKind::render: return "render";
    case QueueKind::compute: return "compute";
    case QueueKind::transfer: return "transfer";
    case QueueKind::host: return "host";
  }
  return "?";
}

const char* to_string(QueuePriority p) noexcept {
  switch (p) {
    case QueuePriority::low: return "low";
    case QueuePriority::normal: return "normal";
    case QueuePriority::high: return "high";
  }
  return "?";
}

const char* to_string(SmPartition p) noexcept {
  switch (p) {
    case SmPartition::any: return "any";
    case SmPartition::reserved: return "reserved";
    case SmPartition::work: return "work";
  }
  return "?";
}

Queue::Queue(Device& device, QueueDesc desc) : device_(device), desc_(std::move(desc)), id_(g_next_queue_id++) {
  if (!desc_.priority) desc_.priority = default_priority(desc_.kind);
  if (desc_.label.empty()) desc_.label = std::string(to_string(desc_.kind)) + "#" + std::to_string(id_);
  if (!device_.caps().partition.active) desc_.partition = SmPartition::any;  // caps().partition says why
}

Queue::~Queue() = default;

CommandBuffer Queue::make_command_buffer(std::string label) {
  auto s = std::make_shared<detail::CommandBufferState>();
  s->queue = this;
  s->id = g_next_cb_id++;
  s->label = label.empty() ? "cb#" + std::to_string(s->id) : std::move(label);
  s->times.created_ns = now_ns();
  return CommandBuffer(std::move(s));
}

void Queue::on_committed(detail::CommandBufferState& cb) {
  {
    std::lock_guard lock(mutex_);
    ++committed_;
  }
  if (auto* v = device_.validator()) v->on_commit(cb.shared_from_this());
}

void Queue::on_completed(const detail::CommandBufferState& cb) noexcept {
  {
    std::lock_guard lock(mutex_);
    ++completed_;
    if (cb.error) ++failed_;
    encode_ns_ += cb.times.committed_ns - cb.times.created_ns;
    run_ns_ += cb.times.end_ns - cb.times.start_ns;
  }
}

void Queue::on_drained() noexcept {
  {
    std::lock_guard lock(mutex_);
    ++drained_;
  }
  idle_cv_.notify_all();
}

void Queue::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [&] { return drained_ == committed_; });
}

QueueStats Queue::stats() const {
  std::lock_guard lock(mutex_);
  QueueStats s;
  s.committed = committed_;
  s.completed = completed_;
  s.failed = failed_;
  s.active = committed_ - completed_;
  s.avg_encode_ms = completed_ ? static_cast<double>(encode_ns_) / 1e6 / static_cast<double>(completed_) : 0.0;
  s.avg_run_ms = completed_ ? static_cast<double>(run_ns_) / 1e6 / static_cast<double>(completed_) : 0.0;
  s.busy_ns = run_ns_;
  s.native_priority = native_priority();
  return s;
}

}  // namespace ut
