// Queue: an ordered stream of command buffers (Metal's MTLCommandQueue; a CUDA stream; a CPU worker thread).
//
//   auto q = device->make_queue({.kind = ut::QueueKind::compute, .label = "Q_ml"});
//   auto cb = q->make_command_buffer("embed");
//   cb.host_task([] { ... }).signal(e_embed, 1).commit();
//   q->wait_idle();
//
// Contract
// - Command buffers of one queue start in commit order and run one after another; different queues run
//   concurrently. Priority tells a backend which queue's work to prefer (CUDA stream priority; a CPU worker's
//   scheduling hint) — it never preempts a running command.
// - Thread-safe: any thread may commit to any queue.
// - Destroying a queue waits for its committed work to finish.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "timeline/command_buffer.h"

namespace ut {

enum class QueueKind { render, compute, transfer, host };
enum class QueuePriority { low, normal, high };
// Which SMs a GPU queue's kernels may use when the device was created with reserved SMs (DeviceDesc::reserve_sms):
// `reserved` (the k SMs kept for render and latency-critical work), `work` (the other N-k: ML, data), or `any`
// (the whole device). Backends without partitions ignore it (caps().partition says so).
enum class SmPartition { any, reserved, work };
const char* to_string(QueueKind k) noexcept;
const char* to_string(QueuePriority p) noexcept;
const char* to_string(SmPartition p) noexcept;

struct QueueDesc {
  QueueKind kind = QueueKind::compute;
  // Defaults by kind when unset: render -> high, compute/host -> normal, transfer -> low.
  std::optional<QueuePriority> priority;
  std::string label;
  SmPartition partition = SmPartition::any;
};

struct QueueStats {
  uint64_t committed = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t active = 0;              // committed, not yet completed
  double avg_encode_ms = 0.0;       // creation -> commit, averaged over completed buffers
  double avg_run_ms = 0.0;          // start -> end
  uint64_t busy_ns = 0;             // sum of start -> end
  int native_priority = 0;          // backend's value (CUDA stream priority; 0 on CPU)
};

class Device;

// A queue's API handles, for code that records the API's commands itself inside a dispatch (the renderer records
// its frame into the render queue's batch: DispatchContext::native_commands). Untyped, so that callers include no
// backend header. Vulkan: api "vulkan", VkInstance, VkPhysicalDevice, VkDevice, the VkQueue (shared with the
// queue's worker: never submit to it directly), its family, and the loader's vkGetInstanceProcAddr. Empty (api "")
// on backends without such handles.
struct NativeQueueHandles {
  std::string api;
  void* instance = nullptr;
  void* physical_device = nullptr;
  void* device = nullptr;
  void* queue = nullptr;
  uint32_t family = 0;
  void* get_instance_proc_addr = nullptr;
};

class Queue : public std::enable_shared_from_this<Queue> {
 public:
  Queue(Device& device, QueueDesc desc);
  virtual ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  CommandBuffer make_command_buffer(std::string label = {});

  // Blocks until every committed command buffer has completed (successfully or not).
  void wait_idle();

  QueueKind kind() const noexcept { return desc_.kind; }
  QueuePriority priority() const noexcept { return *desc_.priority; }
  const std::string& label() const noexcept { return desc_.label; }
  SmPartition partition() const noexcept { return desc_.partition; }  // `any` where the device has none
  uint32_t id() const noexcept { return id_; }
  QueueStats stats() const;
  Device& device() const noexcept { return device_; }

  // --- For backends ------------------------------------------------------------------------------------
  // Called by CommandBuffer::commit after bookkeeping.
  virtual void submit(std::shared_ptr<detail::CommandBufferState> cb) = 0;
  virtual int native_priority() const noexcept { return 0; }
  virtual NativeQueueHandles native_handles() const { return {}; }
  // Called by CommandBufferState::finish(): on_completed when the status is final (before waiters wake),
  // on_drained after the completion handlers ran (wait_idle returns once every buffer is drained).
  void on_completed(const detail::CommandBufferState& cb) noexcept;
  void on_drained() noexcept;
  void on_committed(detail::CommandBufferState& cb);

 protected:
  Device& device_;
  QueueDesc desc_;
  uint32_t id_;

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  uint64_t committed_ = 0, completed_ = 0, failed_ = 0, drained_ = 0;
  uint64_t encode_ns_ = 0, run_ns_ = 0;
};

using QueuePtr = std::shared_ptr<Queue>;

}  // namespace ut
