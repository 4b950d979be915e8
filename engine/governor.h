// Governor: the plan's memory and load guards. Every interval it reads process RSS, the engine heap, device
// memory and CPU (and, on CUDA, GPU) utilisation; under pressure it halves batch sizes and caps heavy
// operations, and restores them when pressure falls — each change logged. It also names the bottleneck.
//
//   ut::engine::Governor gov(engine, {.rss_limit_mb = 8192});
//   gov.on_batch([&](std::size_t b) { assistant.set_index_batch(b); });
//   gov.start();
//   nlohmann::json g = gov.snapshot();   // {"pressure": "low", "bottleneck": {"kind": "cpu-bound", "why": ...}, ...}
//
// Levels: low (< 60% of the budget), medium (60–85%), high (> 85%) of the worst of: RSS / rss_limit, engine heap,
// device memory. medium halves the batch; high quarters it and caps heavy operations at 1. It also hands memory
// the allocator holds freed back to the system (GovernorConfig::trim_interval). Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace ut::engine {

struct GovernorConfig {
  double rss_limit_mb = 0;                       // 0: half of the machine's memory
  std::size_t base_batch = 32;                   // embedding batch at low pressure
  std::chrono::milliseconds interval{250};
  // glibc keeps freed memory in its arenas (one per thread that allocated, up to 8 per core) and hands it back to
  // the system only from the top of a heap: under a server's many threads and large transient requests RSS then
  // grows while the memory in use does not. Every trim_interval, when more than trim_above_mb is held free, the
  // Governor returns it (malloc_trim). 0 turns it off.
  std::chrono::seconds trim_interval{10};
  double trim_above_mb = 64;
};

class Governor {
 public:
  Governor(Engine& engine, GovernorConfig config = {});
  ~Governor();
  Governor(const Governor&) = delete;
  Governor& operator=(const Governor&) = delete;

  void on_batch(std::function<void(std::size_t)> fn);  // called with the new batch size on every change
  void start();
  void stop();

  // Takes one reading now and applies it (the background loop calls this every interval).
  void sample();
  // Tests and drills: pretend the pressure is `level` ("low", "medium", "high"); nullopt returns to readings.
  void force_pressure(std::optional<std::string> level);

  std::string pressure() const;
  std::size_t batch() const;
  nlohmann::json snapshot() const;
  std::vector<std::string> log() const;

 private:
  void apply(const std::string& level, const std::string& why);
  void loop();
  void return_freed_memory();

  Engine& engine_;
  GovernorConfig config_;
  unsigned cores_ = 1;  // read once: host_info() reads /proc, and the sampling loop runs every interval
  int base_heavy_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool running_ = false;
  std::thread thread_;
  std::function<void(std::size_t)> on_batch_;
  std::optional<std::string> forced_;
  std::string level_ = "low";
  std::size_t batch_;
  nlohmann::json last_;  // the last reading
  std::vector<std::string> log_;
  uint64_t last_cpu_ticks_ = 0, last_wall_ns_ = 0;
  std::atomic<uint64_t> last_trim_check_ns_{0};  // sample() runs on the loop and on force_pressure()'s caller
  nlohmann::json allocator_ = {{"trims", 0}, {"returned_mb", 0.0}};  // what return_freed_memory() did
};

}  // namespace ut::engine
