// Engine: owns the device, the plan's queues, events and heaps, and runs the paths on them (the plan's
// Metal4Engine). Other layers plug in through the slots below as they are configured.
//
//   ut::engine::Engine eng({.backend = "", .heap_mb = 64});
//   eng.start();                                    // 60 Hz heartbeat on Q_render signals E_frame
//   auto cb = eng.ml_queue()->make_command_buffer("embed");
//   cb.host_task([] { ... }).signal(eng.e_embed(), eng.next_value(eng.e_embed())).commit();
//   nlohmann::json s = eng.realtime_stats();        // the plan's realtime-stats JSON, all values measured
//   std::string m = eng.prometheus_metrics();        // the same, in Prometheus text format
//   eng.stop();
//
// Contract
// - Queues: Q_render (render, high priority), Q_ml (compute), Q_blit (transfer), Q_host (host lane: SQL, I/O).
//   Q_render and Q_blit live on the best device (CUDA on a GPU machine); Q_ml and Q_host on a CPU device,
//   because their host tasks block for long (llama.cpp steps, DuckDB queries) and a CUDA backend runs host
//   tasks on the driver's single callback thread, where they would stall every stream's callbacks. Events
//   are shared across the two devices.
//   Events: E_frame, E_data, E_embed, E_rag — each only grows; next_value(e) hands out the next value to signal
//   (thread-safe), so independent producers never signal backwards.
// - The heartbeat never waits on ML or data: each tick is one command buffer on Q_render that reads the other
//   events' signaled_value() and signals E_frame. Frame times (tick start to tick start) feed the KPIs.
// - Admission: try_admit() returns a token while fewer than max_heavy_ops heavy operations run; otherwise
//   nullopt, and callers answer "busy" instead of queueing without bound.
// - Thread-safe. Destroying the engine stops the heartbeat and drains the queues.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "timeline/device.h"

namespace ut::engine {

struct EngineConfig {
  std::string backend;             // empty: $UT_BACKEND, else the best available
  std::size_t heap_mb = 64;        // shared heap for embeddings (B_embed) and context (B_ctx)
  int max_heavy_ops = 3;           // concurrent heavy operations (generation, large SQL, ingestion)
  double frame_hz = 60.0;
  // SMs kept for render and latency-critical GPU work (green contexts on CUDA); the ML lane's threads (and with
  // them llama.cpp's streams) and the data kernels run on the rest. 0: none; -1: auto (8 on a GPU with >= 64
  // SMs, else none). Where green contexts are unavailable the engine keeps stream priorities and says so.
  int reserve_sms = 0;
};

// A held admission slot; releases on destruction (and wakes wait_admissions_below()).
class Engine;
class Admission {
 public:
  Admission() = default;
  explicit Admission(Engine* engine) : engine_(engine) {}
  Admission(Admission&& o) noexcept : engine_(std::exchange(o.engine_, nullptr)) {}
  Admission& operator=(Admission&& o) noexcept {
    if (this != &o) {
      release();
      engine_ = std::exchange(o.engine_, nullptr);
    }
    return *this;
  }
  ~Admission() { release(); }

 private:
  void release() noexcept;
  Engine* engine_ = nullptr;
};

struct FrameStats {
  double last_ms = 0, avg_ms = 0, max_ms = 0, p99_ms = 0;
  double over_16ms_pct = 0, over_33ms_pct = 0;
  uint64_t frames = 0;
};

// "k", "auto" or "0" (the --reserve-sms option) -> EngineConfig::reserve_sms (-1 for auto); throws UsageError.
int parse_reserve_sms(const std::string& text);

// "8 SMs reserved, 124 for work (green contexts)", or what stands in for a partition and why.
std::string partition_text(const DeviceCaps& caps);

class Engine {
 public:
  explicit Engine(EngineConfig config = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();  // heartbeat on
  void stop();   // heartbeat off (idempotent)

  Device& device() noexcept { return *device_; }
  const DevicePtr& device_ptr() const noexcept { return device_; }
  // The CPU device behind Q_ml and Q_host (the same as device() on the CPU backend).
  const DevicePtr& host_device() const noexcept { return host_device_; }
  const QueuePtr& render_queue() const noexcept { return q_render_; }
  const QueuePtr& ml_queue() const noexcept { return q_ml_; }
  const QueuePtr& blit_queue() const noexcept { return q_blit_; }
  const QueuePtr& host_queue() const noexcept { return q_host_; }
  const EventPtr& e_frame() const noexcept { return e_frame_; }
  const EventPtr& e_data() const noexcept { return e_data_; }
  const EventPtr& e_embed() const noexcept { return e_embed_; }
  const EventPtr& e_rag() const noexcept { return e_rag_; }
  const HeapPtr& shared_heap() const noexcept { return heap_; }

  // Every queue the engine runs, by name ("render", "ml", "blit", "host", and those the paths add, such as
  // "ml_gen"): realtime-stats, /metrics and the dashboard list them all. add_queue throws on a taken name;
  // a path that owns a queue removes it before the queue is destroyed.
  void add_queue(std::string name, QueuePtr queue);
  void remove_queue(const Queue& queue);
  std::vector<std::pair<std::string, QueuePtr>> queues() const;

  // The next value to signal on one of the engine's events (monotonic per event, thread-safe).
  uint64_t next_value(const EventPtr& e);

  std::optional<Admission> try_admit();
  // Caps heavy operations below the configured maximum (the Governor lowers it under memory pressure).
  void set_heavy_limit(int limit) noexcept { heavy_limit_.store(std::clamp(limit, 1, config_.max_heavy_ops)); }
  int heavy_limit() const noexcept { return heavy_limit_.load(); }
  int heavy_ops() const noexcept { return heavy_.load(); }
  // Blocks until fewer than n heavy operations hold admission slots, or the timeout passes; true when they do.
  bool wait_admissions_below(int n, std::chrono::milliseconds timeout);
  const EngineConfig& config() const noexcept { return config_; }

  FrameStats frame_stats() const;
  // Command buffers in the last `window_ms` whose run overlapped a command buffer on another queue.
  uint64_t overlapped_ops(double window_ms = 1000) const;
  // Milliseconds within [t0_ns, t1_ns] during which two or more queues (of both devices) ran command buffers.
  double overlapped_ms(uint64_t t0_ns, uint64_t t1_ns) const;
  nlohmann::json realtime_stats() const;
  // An extra object of realtime-stats (the Runtime's "cpu_budget"), produced on every call; an empty fn removes it.
  void set_stats_section(const std::string& name, std::function<nlohmann::json()> fn);
  // Chrome trace JSON of both devices' records ending at or after since_ns.
  std::string chrome_trace(uint64_t since_ns = 0) const;
  std::string prometheus_metrics() const;

 private:
  void heartbeat();
  nlohmann::json gpu_utilization() const;

  EngineConfig config_;
  DevicePtr device_, host_device_;
  QueuePtr q_render_, q_ml_, q_blit_, q_host_;
  EventPtr e_frame_, e_data_, e_embed_, e_rag_;
  HeapPtr heap_;
  mutable std::mutex queues_mutex_;
  std::vector<std::pair<std::string, QueuePtr>> queues_;
  std::vector<std::pair<std::string, std::function<nlohmann::json()>>> stats_sections_;  // under queues_mutex_
  std::mutex values_mutex_;
  std::vector<std::pair<SharedEvent*, uint64_t>> issued_;  // last value handed out per event
  friend class Admission;
  void release_admission() noexcept;
  std::atomic<int> heavy_{0};
  std::mutex admission_mutex_;
  std::condition_variable admission_cv_;
  std::atomic<int> heavy_limit_{1};

  std::atomic<bool> running_{false};
  std::thread heartbeat_;
  mutable std::mutex frames_mutex_;
  std::deque<double> frame_ms_;  // last few seconds of frame intervals
  uint64_t frames_ = 0;
  double last_frame_ms_ = 0;
};

}  // namespace ut::engine
