#include "engine/engine.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

#include "timeline/clock.h"
#include "timeline/error.h"

namespace ut::engine {
namespace {
constexpr std::size_t kFrameWindow = 600;  // ~10 s at 60 Hz

// "2026-12-07T03:40:00.123Z": the plan's timestamp, UTC with milliseconds.
std::string iso8601_utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32], millis[8];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(date) + millis;
}

// -1 (auto): 8 SMs when the best device is a GPU large enough to spare them (the H100/H200 measurement: an 8-SM
// partition held a 2 us kernel at 7.7 us p50 with the other 124 SMs saturated), else none.
unsigned resolve_reserve_sms(const EngineConfig& c) {
  if (c.reserve_sms >= 0) return static_cast<unsigned>(c.reserve_sms);
  for (const auto& b : Device::backends())
    if (b.available && b.name == "cuda" && (c.backend.empty() || c.backend == "cuda")) return 8;
  return 0;
}

const char* pressure_of(double used_fraction) {
  return used_fraction < 0.6 ? "low" : used_fraction < 0.85 ? "medium" : "high";
}
}  // namespace

int parse_reserve_sms(const std::string& v) {
  if (v == "auto") return -1;
  try {
    std::size_t used = 0;
    const int k = std::stoi(v, &used);
    if (used == v.size() && k >= 0 && k <= 1024) return k;
  } catch (const std::exception&) {
  }
  throw UsageError("--reserve-sms: expected a number of SMs, auto or 0, not '" + v + "'");
}

std::string partition_text(const DeviceCaps& c) {
  if (!c.partition.active) return c.partition.mode;
  return std::to_string(c.partition.reserved_sms) + " SMs reserved, " + std::to_string(c.partition.work_sms) +
         " for work (" + c.partition.mode + ")";
}

Engine::Engine(EngineConfig config) : config_(std::move(config)) {
  if (config_.max_heavy_ops < 1) throw UsageError("[Engine::Engine] max_heavy_ops must be >= 1");
  if (config_.frame_hz <= 0 || config_.frame_hz > 1000) throw UsageError("[Engine::Engine] frame_hz must be in (0, 1000]");
  heavy_limit_ = config_.max_heavy_ops;
  device_ = Device::create({.backend = config_.backend, .reserve_sms = resolve_reserve_sms(config_)});
  host_device_ = device_->caps().backend == "cpu" ? device_ : Device::create({.backend = "cpu"});
  // The heartbeat's tick is a host task. On CUDA a host task runs on the driver's one callback thread, behind
  // every other callback and the driver's locks (model loads, cuBLAS set-up, synchronous copies), which cost
  // 1-4% late ticks on an H200 under the mixed load; a CPU queue of its own (high priority) keeps the clock.
  // GPU drawing belongs to the Vulkan FrameLoop (workloads/render), not to this tick.
  q_render_ = host_device_->make_queue({.kind = QueueKind::render, .label = "Q_render"});
  q_ml_ = host_device_->make_queue({.kind = QueueKind::compute, .label = "Q_ml"});
  q_blit_ = device_->make_queue({.kind = QueueKind::transfer, .label = "Q_blit"});
  q_host_ = host_device_->make_queue({.kind = QueueKind::host, .label = "Q_host"});
  e_frame_ = device_->make_event("E_frame");
  e_data_ = device_->make_event("E_data");
  e_embed_ = device_->make_event("E_embed");
  e_rag_ = device_->make_event("E_rag");
  heap_ = device_->make_heap({.size = config_.heap_mb << 20, .mode = StorageMode::shared, .label = "engine.shared"});
  queues_ = {{"render", q_render_}, {"ml", q_ml_}, {"blit", q_blit_}, {"host", q_host_}};
  // Q_ml's thread is not bound to the SM partition: llama.cpp cannot compute under a green context (see
  // docs/ARCHITECTURE.md, "SM partition"); the engine's own CUDA queues are placed in it instead.
}

void Engine::add_queue(std::string name, QueuePtr queue) {
  if (!queue) throw UsageError("[Engine::add_queue] null queue");
  std::lock_guard lock(queues_mutex_);
  for (auto& [n, q] : queues_)
    if (n == name) throw UsageError("[Engine::add_queue] a queue is already named '" + name + "'");
  queues_.emplace_back(std::move(name), std::move(queue));
}

void Engine::remove_queue(const Queue& queue) {
  std::lock_guard lock(queues_mutex_);
  std::erase_if(queues_, [&](const auto& e) { return e.second.get() == &queue; });
}

std::vector<std::pair<std::string, QueuePtr>> Engine::queues() const {
  std::lock_guard lock(queues_mutex_);
  return queues_;
}

Engine::~Engine() {
  stop();
  for (const auto& [name, q] : queues()) q->wait_idle();
}

uint64_t Engine::next_value(const EventPtr& e) {
  std::lock_guard lock(values_mutex_);
  for (auto& [ev, v] : issued_) {
    if (ev == e.get()) return ++v;
  }
  issued_.emplace_back(e.get(), e->signaled_value() + 1);
  return issued_.back().second;
}

std::optional<Admission> Engine::try_admit() {
  int cur = heavy_.load();
  while (cur < heavy_limit_.load()) {
    if (heavy_.compare_exchange_weak(cur, cur + 1)) return Admission(this);
  }
  return std::nullopt;
}

void Admission::release() noexcept {
  if (engine_) engine_->release_admission();
  engine_ = nullptr;
}

void Engine::release_admission() noexcept {
  {
    std::lock_guard lock(admission_mutex_);  // a waiter between its check and its wait sees this change
    heavy_.fetch_sub(1);
  }
  admission_cv_.notify_all();
}

bool Engine::wait_admissions_below(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(admission_mutex_);
  return admission_cv_.wait_for(lock, timeout, [&] { return heavy_.load() < n; });
}

void Engine::start() {
  bool expected = false;
  if (!running_.compare_exchange_strong(expected, true)) return;
  heartbeat_ = std::thread([this] { heartbeat(); });
}

void Engine::stop() {
  if (!running_.exchange(false)) return;
  if (heartbeat_.joinable()) heartbeat_.join();
}

void Engine::heartbeat() {
  // The UI clock must wake on time even when DuckDB, llama.cpp and the embedder keep every core busy: ask for a
  // real-time slot, else a higher nice level. Both need privileges; without them the thread stays as it is.
  sched_param sp{};
  sp.sched_priority = 1;
  if (pthread_setschedparam(pthread_self(), SCHED_RR, &sp) != 0) (void)setpriority(PRIO_PROCESS, gettid(), -10);
  const auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / config_.frame_hz));
  auto next = std::chrono::steady_clock::now();
  uint64_t last_start = 0;
  while (running_.load()) {
    const uint64_t tick = next_value(e_frame_);
    auto cb = q_render_->make_command_buffer("frame");
    // The render path only reads what is complete; it never waits on ML or data.
    cb.host_task([this, &last_start] {
        const uint64_t now = now_ns();
        if (last_start != 0) {
          const double ms = static_cast<double>(now - last_start) / 1e6;
          std::lock_guard lock(frames_mutex_);
          frame_ms_.push_back(ms);
          if (frame_ms_.size() > kFrameWindow) frame_ms_.pop_front();
          last_frame_ms_ = ms;
          ++frames_;
        }
        last_start = now;
      }, "tick")
        .signal(e_frame_, tick)
        .commit();
    next += period;
    std::this_thread::sleep_until(next);  // a timer, not a poll
  }
  q_render_->wait_idle();  // last_start lives on this thread's stack
}

FrameStats Engine::frame_stats() const {
  std::lock_guard lock(frames_mutex_);
  FrameStats s;
  s.frames = frames_;
  s.last_ms = last_frame_ms_;
  if (frame_ms_.empty()) return s;
  std::vector<double> v(frame_ms_.begin(), frame_ms_.end());
  double sum = 0;
  std::size_t over16 = 0, over33 = 0;
  for (double x : v) {
    sum += x;
    over16 += x > 16.6 + 1.0;  // a tick is 16.67 ms: count frames that missed it by more than 1 ms
    over33 += x > 33.3;
  }
  std::sort(v.begin(), v.end());
  s.avg_ms = sum / static_cast<double>(v.size());
  s.max_ms = v.back();
  s.p99_ms = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  s.over_16ms_pct = 100.0 * static_cast<double>(over16) / static_cast<double>(v.size());
  s.over_33ms_pct = 100.0 * static_cast<double>(over33) / static_cast<double>(v.size());
  return s;
}

uint64_t Engine::overlapped_ops(double window_ms) const {
  const uint64_t now = now_ns();
  const uint64_t since = now - std::min<uint64_t>(now, static_cast<uint64_t>(window_ms * 1e6));
  auto recs = device_->trace().since(since);
  if (host_device_ != device_) {
    auto more = host_device_->trace().since(since);
    recs.insert(recs.end(), more.begin(), more.end());
  }
  uint64_t n = 0;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    for (std::size_t j = 0; j < recs.size(); ++j) {
      if (i == j || recs[i].queue_id == recs[j].queue_id) continue;
      if (recs[i].start_ns < recs[j].end_ns && recs[j].start_ns < recs[i].end_ns) {
        ++n;
        break;
      }
    }
  }
  return n;
}

double Engine::overlapped_ms(uint64_t t0, uint64_t t1) const {
  auto recs = device_ptr()->trace().since(t0);
  if (host_device() != device_ptr()) {
    auto more = host_device()->trace().since(t0);
    recs.insert(recs.end(), more.begin(), more.end());
  }
  std::vector<std::pair<uint64_t, int>> edges;  // per-queue merged busy intervals -> +1/-1 edges
  std::map<uint32_t, std::vector<std::pair<uint64_t, uint64_t>>> by_queue;
  for (auto& r : recs) by_queue[r.queue_id].push_back({std::max(r.start_ns, t0), std::min(r.end_ns, t1)});
  for (auto& [q, v] : by_queue) {
    std::sort(v.begin(), v.end());
    uint64_t s = 0, e = 0;
    for (auto& [a, b] : v) {
      if (a >= b) continue;
      if (e == 0 || a > e) {
        if (e) edges.push_back({s, +1}), edges.push_back({e, -1});
        s = a;
        e = b;
      } else {
        e = std::max(e, b);
      }
    }
    if (e) edges.push_back({s, +1}), edges.push_back({e, -1});
  }
  std::sort(edges.begin(), edges.end());
  int busy = 0;
  uint64_t last = 0, over = 0;
  for (auto& [t, d] : edges) {
    if (busy >= 2) over += t - last;
    busy += d;
    last = t;
  }
  return static_cast<double>(over) / 1e6;
}

std::string Engine::chrome_trace(uint64_t since_ns) const {
  if (host_device_ == device_) return device_->trace().chrome_json(since_ns);
  Trace merged(SIZE_MAX);
  for (const auto* d : {device_.get(), host_device_.get()})
    for (auto& r : d->trace().since(since_ns)) merged.add(std::move(r));
  return merged.chrome_json(since_ns);
}

// GPU utilisation where the device reads it (NVML on CUDA); null otherwise.
nlohmann::json Engine::gpu_utilization() const {
  const DeviceUtilization u = device_->utilization();
  if (u.available && u.gpu_percent) return *u.gpu_percent;
  return nullptr;
}

nlohmann::json Engine::realtime_stats() const {
  auto queue_json = [](const Queue& q) {
    const QueueStats s = q.stats();
    return nlohmann::json{{"label", q.label()}, {"kind", to_string(q.kind())},
                          {"device", q.device().caps().backend}, {"active_buffers", s.active},
                          {"avg_encode_time_ms", s.avg_encode_ms}, {"completed", s.completed}, {"failed", s.failed},
                          {"avg_run_ms", s.avg_run_ms}, {"priority", to_string(q.priority())},
                          {"native_priority", s.native_priority}};
  };
  const HeapStats hs = heap_->stats();
  const DeviceCaps caps = device_->refresh_caps();
  const double dev_used = caps.memory_total ? 1.0 - static_cast<double>(caps.memory_free) / static_cast<double>(caps.memory_total) : 0;
  const double heap_used = hs.size ? static_cast<double>(hs.used) / static_cast<double>(hs.size) : 0;
  const FrameStats fs = frame_stats();
  // The plan's gpu_util_pct is a number: 0 where nothing measures it, and gpu_util_source says which.
  const nlohmann::json gpu = gpu_utilization();
  nlohmann::json j;
  j["timestamp"] = iso8601_utc_now();
  j["queues"] = nlohmann::json::object();
  for (const auto& [name, q] : queues()) j["queues"][name] = queue_json(*q);
  j["events"] = {{"frame_counter", e_frame_->signaled_value()}, {"embed_counter", e_embed_->signaled_value()},
                 {"rag_counter", e_rag_->signaled_value()}, {"data_counter", e_data_->signaled_value()}};
  j["memory"] = {{"heap_used_mb", static_cast<double>(hs.used) / (1 << 20)},
                 {"heap_total_mb", static_cast<double>(hs.size) / (1 << 20)},
                 {"device_used_mb", static_cast<double>(caps.memory_total - caps.memory_free) / (1 << 20)},
                 {"device_total_mb", static_cast<double>(caps.memory_total) / (1 << 20)},
                 {"pressure", pressure_of(std::max(dev_used, heap_used))}};
  j["performance"] = {{"frame_time_ms", fs.last_ms},
                      {"frame_time_avg_ms", fs.avg_ms},
                      {"frame_time_p99_ms", fs.p99_ms},
                      {"frames_over_16ms_pct", fs.over_16ms_pct},
                      {"frame_time_max_ms", fs.max_ms},
                      {"frames_over_33ms_pct", fs.over_33ms_pct},
                      {"gpu_util_pct", gpu.is_number() ? gpu : nlohmann::json(0.0)},
                      {"gpu_util_source", gpu.is_number() ? "nvml" : "none"},
                      {"overlapped_ops", overlapped_ops()},
                      {"heavy_ops", heavy_ops()}};
  j["device"] = {{"backend", caps.backend}, {"name", caps.name},
                 {"partition", {{"active", caps.partition.active}, {"reserved_sms", caps.partition.reserved_sms},
                                {"work_sms", caps.partition.work_sms}, {"mode", caps.partition.mode}}}};
  std::vector<std::pair<std::string, std::function<nlohmann::json()>>> sections;
  {
    std::lock_guard lock(queues_mutex_);
    sections = stats_sections_;
  }
  for (const auto& [name, fn] : sections) j[name] = fn();
  return j;
}

void Engine::set_stats_section(const std::string& name, std::function<nlohmann::json()> fn) {
  std::lock_guard lock(queues_mutex_);
  std::erase_if(stats_sections_, [&](const auto& p) { return p.first == name; });
  if (fn) stats_sections_.emplace_back(name, std::move(fn));
}

std::string Engine::prometheus_metrics() const {
  const auto j = realtime_stats();
  std::ostringstream o;
  auto metric = [&](const char* name, const char* help, const char* type) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  metric("ut_queue_active_buffers", "Command buffers committed and not yet completed", "gauge");
  for (auto& [q, s] : j["queues"].items()) o << "ut_queue_active_buffers{queue=\"" << q << "\"} " << s["active_buffers"] << '\n';
  metric("ut_queue_completed_total", "Command buffers completed", "counter");
  for (auto& [q, s] : j["queues"].items()) o << "ut_queue_completed_total{queue=\"" << q << "\"} " << s["completed"] << '\n';
  metric("ut_queue_failed_total", "Command buffers that failed", "counter");
  for (auto& [q, s] : j["queues"].items()) o << "ut_queue_failed_total{queue=\"" << q << "\"} " << s["failed"] << '\n';
  metric("ut_event_value", "Signalled value of the engine's shared events", "gauge");
  for (auto& [e, v] : j["events"].items()) {
    const std::string name = e.ends_with("_counter") ? e.substr(0, e.size() - 8) : e;  // event="frame", as before
    o << "ut_event_value{event=\"" << name << "\"} " << v << '\n';
  }
  metric("ut_heap_used_bytes", "Bytes placed in the engine's shared heap", "gauge");
  o << "ut_heap_used_bytes " << static_cast<uint64_t>(j["memory"]["heap_used_mb"].get<double>() * (1 << 20)) << '\n';
  metric("ut_heap_size_bytes", "Size of the engine's shared heap", "gauge");
  o << "ut_heap_size_bytes " << static_cast<uint64_t>(j["memory"]["heap_total_mb"].get<double>() * (1 << 20)) << '\n';
  metric("ut_frame_time_ms", "Last heartbeat interval", "gauge");
  o << "ut_frame_time_ms " << j["performance"]["frame_time_ms"] << '\n';
  metric("ut_frame_time_p99_ms", "p99 heartbeat interval over the last 10 s", "gauge");
  o << "ut_frame_time_p99_ms " << j["performance"]["frame_time_p99_ms"] << '\n';
  metric("ut_overlapped_ops", "Command buffers in the last second that overlapped another queue", "gauge");
  o << "ut_overlapped_ops " << j["performance"]["overlapped_ops"] << '\n';
  if (j["performance"]["gpu_util_source"] == "nvml") {
    metric("ut_gpu_utilization_percent", "GPU utilisation reported by NVML", "gauge");
    o << "ut_gpu_utilization_percent " << j["performance"]["gpu_util_pct"] << '\n';
  }
  metric("ut_heavy_ops", "Heavy operations admitted and running", "gauge");
  o << "ut_heavy_ops " << j["performance"]["heavy_ops"] << '\n';
  return o.str();
}

}  // namespace ut::engine
