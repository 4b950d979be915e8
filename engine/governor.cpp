#include "engine/governor.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "timeline/host.h"
#include "timeline/clock.h"

namespace ut::engine {
namespace {

double rss_mb() { return static_cast<double>(process_rss_bytes()) / (1 << 20); }

// utime + stime of this process, in clock ticks.
uint64_t cpu_ticks() {
  std::ifstream f("/proc/self/stat");
  std::string s;
  std::getline(f, s);
  const auto close = s.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return 0;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

std::string level_of(double fraction) { return fraction < 0.60 ? "low" : fraction < 0.85 ? "medium" : "high"; }

}  // namespace

Governor::Governor(Engine& engine, GovernorConfig config)
    : engine_(engine), config_(config), base_heavy_(engine.config().max_heavy_ops), batch_(config.base_batch) {
  const HostInfo host = host_info();
  cores_ = host.cores;
  if (config_.rss_limit_mb <= 0) config_.rss_limit_mb = static_cast<double>(host.memory_total) / (1 << 20) / 2;
  last_cpu_ticks_ = cpu_ticks();
  last_wall_ns_ = now_ns();
}

Governor::~Governor() { stop(); }

void Governor::on_batch(std::function<void(std::size_t)> fn) {
  std::lock_guard lock(mutex_);
  on_batch_ = std::move(fn);
}

void Governor::start() {
  // A fixed mmap threshold: glibc otherwise raises it after each large free, so that later large transient
  // buffers (a long prompt's tokens, a big request body) land in the arenas and stay there once freed.
  static std::once_flag mmap_threshold;
  std::call_once(mmap_threshold, [] { (void)mallopt(M_MMAP_THRESHOLD, 1 << 20); });
  std::lock_guard lock(mutex_);
  if (running_) return;
  running_ = true;
  thread_ = std::thread([this] { loop(); });
}

void Governor::stop() {
  {
    std::lock_guard lock(mutex_);
    running_ = false;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Governor::loop() {
  std::unique_lock lock(mutex_);
  while (running_) {
    // A periodic reading (a timer); stop() wakes it at once.
    cv_.wait_for(lock, config_.interval, [&] { return !running_; });
    if (!running_) return;
    lock.unlock();
    sample();
    lock.lock();
  }
}

void Governor::force_pressure(std::optional<std::string> level) {
  {
    std::lock_guard lock(mutex_);
    forced_ = std::move(level);
  }
  sample();
}

void Governor::sample() {
  const double rss = rss_mb();
  const HeapStats hs = engine_.shared_heap()->stats();
  const DeviceCaps caps = engine_.device().refresh_caps();
  const double heap_frac = hs.size ? static_cast<double>(hs.used) / static_cast<double>(hs.size) : 0;
  const double dev_frac = caps.is_gpu && caps.memory_total
                              ? 1.0 - static_cast<double>(caps.memory_free) / static_cast<double>(caps.memory_total)
                              : 0;
  const double rss_frac = rss / config_.rss_limit_mb;
  const double worst = std::max({rss_frac, heap_frac, dev_frac});
  const uint64_t ticks = cpu_ticks(), wall = now_ns();
  const double cpu_s = static_cast<double>(ticks - last_cpu_ticks_) / static_cast<double>(sysconf(_SC_CLK_TCK));
  const double wall_s = static_cast<double>(wall - last_wall_ns_) / 1e9;
  const double cpu_util = wall_s > 0 ? std::min(1.0, cpu_s / (wall_s * cores_)) : 0;
  const auto stats = engine_.realtime_stats();
  const auto& gpu = stats["performance"]["gpu_util_pct"];
  std::string level, why;
  {
    std::lock_guard lock(mutex_);
    last_cpu_ticks_ = ticks;
    last_wall_ns_ = wall;
    level = forced_.value_or(level_of(worst));
    char buf[160];
    std::snprintf(buf, sizeof buf, "rss %.0f of %.0f MB, heap %.0f%%, device memory %.0f%%%s", rss, config_.rss_limit_mb,
                  heap_frac * 100, dev_frac * 100, forced_ ? " (forced)" : "");
    why = buf;
    // The bottleneck of the last interval.
    std::string kind, reason;
    if (level == "high") {
      kind = "memory-bound";
      reason = why;
    } else if (gpu.is_number() && gpu.get<double>() > 85) {
      kind = "gpu-bound";
      reason = "GPU utilisation " + gpu.dump() + "%";
    } else if (cpu_util > 0.85) {
      kind = "cpu-bound";
      reason = "the process used " + std::to_string(static_cast<int>(cpu_util * 100)) + "% of " +
               std::to_string(cores_) + " cores";
    } else {
      kind = "not saturated";
      reason = "CPU " + std::to_string(static_cast<int>(cpu_util * 100)) + "%" +
               (gpu.is_number() ? ", GPU " + gpu.dump() + "%" : "") + ", memory " + level;
    }
    last_ = {{"pressure", level}, {"rss_mb", rss}, {"rss_limit_mb", config_.rss_limit_mb}, {"heap_used_frac", heap_frac},
             {"device_used_frac", dev_frac}, {"cpu_util", cpu_util}, {"gpu_util_pct", gpu},
             {"bottleneck", {{"kind", kind}, {"why", reason}}}};
  }
  apply(level, why);
  return_freed_memory();
}

void Governor::return_freed_memory() {
  const uint64_t now = now_ns();
  const auto every = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.trim_interval).count();
  uint64_t last = last_trim_check_ns_.load();
  if (every <= 0 || now - last < static_cast<uint64_t>(every)) return;
  if (!last_trim_check_ns_.compare_exchange_strong(last, now)) return;  // another caller is checking
  const struct mallinfo2 before = mallinfo2();  // walks the arenas: not on every sample
  const double held_mb = static_cast<double>(before.fordblks) / (1 << 20);
  {
    std::lock_guard lock(mutex_);
    allocator_["free_held_mb"] = held_mb;
    allocator_["in_use_mb"] = static_cast<double>(before.uordblks + before.hblkhd) / (1 << 20);
  }
  if (held_mb <= config_.trim_above_mb) return;
  const double rss0 = rss_mb();
  const uint64_t t0 = now_ns();
  (void)malloc_trim(0);
  const double ms = static_cast<double>(now_ns() - t0) / 1e6, returned = std::max(0.0, rss0 - rss_mb());
  std::lock_guard lock(mutex_);
  allocator_["trims"] = allocator_["trims"].get<int>() + 1;
  allocator_["returned_mb"] = allocator_["returned_mb"].get<double>() + returned;
  allocator_["last_trim"] = {{"held_mb", held_mb}, {"returned_mb", returned}, {"ms", ms}};
}

void Governor::apply(const std::string& level, const std::string& why) {
  std::function<void(std::size_t)> notify;
  std::size_t batch = 0;
  {
    std::lock_guard lock(mutex_);
    if (level == level_) return;
    const std::size_t divisor = level == "high" ? 4 : level == "medium" ? 2 : 1;
    batch = std::max<std::size_t>(1, config_.base_batch / divisor);
    const int heavy = level == "high" ? 1 : base_heavy_;
    char buf[256];
    std::snprintf(buf, sizeof buf, "pressure %s -> %s (%s): embedding batch %zu -> %zu, heavy operations %d",
                  level_.c_str(), level.c_str(), why.c_str(), batch_, batch, heavy);
    log_.emplace_back(buf);
    std::fprintf(stderr, "ut: %s\n", buf);
    level_ = level;
    batch_ = batch;
    engine_.set_heavy_limit(heavy);
    notify = on_batch_;
  }
  if (notify) notify(batch);
}

std::string Governor::pressure() const {
  std::lock_guard lock(mutex_);
  return level_;
}

std::size_t Governor::batch() const {
  std::lock_guard lock(mutex_);
  return batch_;
}

nlohmann::json Governor::snapshot() const {
  std::lock_guard lock(mutex_);
  nlohmann::json j = last_;
  j["batch"] = batch_;
  j["allocator"] = allocator_;
  j["log"] = log_;
  return j;
}

std::vector<std::string> Governor::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

}  // namespace ut::engine
