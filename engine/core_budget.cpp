#include "engine/core_budget.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "timeline/clock.h"
#include "timeline/host.h"

namespace ut::engine {
namespace {

int configured_cores(int asked) {
  if (asked > 0) return asked;
  if (const char* v = std::getenv("UT_CPU_CORES"); v && *v)
    if (const int n = std::atoi(v); n > 0) return n;
  return std::max(1, static_cast<int>(host_info().cores));
}

std::size_t idx(CpuLane lane) { return static_cast<std::size_t>(lane); }

const uint64_t kStart = now_ns();

}  // namespace

const char* to_string(CpuLane lane) noexcept {
  switch (lane) {
    case CpuLane::chat: return "chat";
    case CpuLane::sql: return "sql";
    case CpuLane::embed: return "embed";
    case CpuLane::prompt: return "prompt";
  }
  return "?";
}

CoreBudget::Hold& CoreBudget::Hold::operator=(Hold&& o) noexcept {
  if (this != &o) {
    reset();
    budget_.store(o.budget_.exchange(nullptr));
    lane_ = o.lane_;
  }
  return *this;
}

void CoreBudget::Hold::reset() noexcept {
  if (auto* b = budget_.exchange(nullptr)) b->end(lane_);
}

CoreBudget::CoreBudget(CoreBudgetConfig config) : config_(config), cores_(configured_cores(config.cores)) {
  split_ = split_locked();
  log_.push_back("0.0 s: " + std::to_string(cores_) + " cores; chat " + std::to_string(split_[0]) + ", sql " +
                 std::to_string(split_[1]) + ", embed " + std::to_string(split_[2]) + ", prompt " +
                 std::to_string(split_[3]) + " threads");
}

std::array<int, kCpuLanes> CoreBudget::split_locked() const {
  const bool chat = holds_[idx(CpuLane::chat)] > 0, sql = holds_[idx(CpuLane::sql)] > 0;
  const int users = (chat ? 1 : 0) + (sql ? 1 : 0);
  std::array<int, kCpuLanes> s{};
  if (holds_[idx(CpuLane::prompt)] > 0) {  // a user waits for a first token: every core not busy with a query
    s[idx(CpuLane::chat)] = s[idx(CpuLane::prompt)] = std::max(1, cores_ - query_threads_);
    return s;
  }
  s[idx(CpuLane::prompt)] = cores_;  // what a prompt would get if one arrived now
  if (users == 0) {
    s[idx(CpuLane::embed)] = cores_;
    s[idx(CpuLane::chat)] = s[idx(CpuLane::sql)] = cores_;  // what a step would get if one arrived now
    return s;
  }
  // Background embedding keeps one thread only where a core is left over beyond one per user lane.
  const int embed = cores_ >= users + 2 ? 1 : 0;
  const int rest = std::max(1, cores_ - embed);
  s[idx(CpuLane::embed)] = embed;
  if (chat && sql) {
    s[idx(CpuLane::sql)] = std::max(1, rest / 3);
    s[idx(CpuLane::chat)] = std::max(1, rest - s[idx(CpuLane::sql)]);
  } else {
    s[idx(CpuLane::chat)] = s[idx(CpuLane::sql)] = rest;
  }
  return s;
}

void CoreBudget::note_split_locked(const std::string& why) {
  const auto next = split_locked();
  if (next == split_) return;
  char head[48];
  std::snprintf(head, sizeof head, "%.1f s: ", static_cast<double>(now_ns() - kStart) / 1e9);
  std::string line = head;
  for (int l = 0; l < kCpuLanes; ++l) {
    if (next[static_cast<std::size_t>(l)] == split_[static_cast<std::size_t>(l)]) continue;
    line += std::string(to_string(static_cast<CpuLane>(l))) + " " + std::to_string(split_[static_cast<std::size_t>(l)]) +
            " -> " + std::to_string(next[static_cast<std::size_t>(l)]) + ", ";
  }
  line += why;
  split_ = next;
  split_changed_.notify_all();
  log_.push_back(std::move(line));
  if (log_.size() > config_.log_lines) log_.erase(log_.begin() + 1);  // the first line says the cores
}

CoreBudget::Hold CoreBudget::hold(CpuLane lane) {
  begin(lane);
  return Hold(this, lane);
}

void CoreBudget::begin(CpuLane lane) {
  std::lock_guard lock(mutex_);
  if (holds_[idx(lane)]++ == 0) note_split_locked(std::string(to_string(lane)) + " started");
  if (lane != CpuLane::embed) user_arrivals_.fetch_add(1, std::memory_order_release);
}

void CoreBudget::end(CpuLane lane) noexcept {
  std::vector<std::function<void(CpuLane)>> fns;
  {
    std::lock_guard lock(mutex_);
    if (holds_[idx(lane)] <= 0 || --holds_[idx(lane)] > 0) return;
    renew_split_locked(to_string(lane), "done");
    try {
      for (const auto& [id, fn] : release_fns_) fns.push_back(fn);
    } catch (...) {  // out of memory: the callbacks are skipped this time (the next release runs them)
    }
  }
  for (auto& fn : fns) fn(lane);
}

void CoreBudget::renew_split_locked(const char* who, const char* what) noexcept {
  try {
    note_split_locked(std::string(who) + " " + what);
  } catch (...) {  // logging ran out of memory: the split is still right, the line is lost
    split_ = split_locked();
    split_changed_.notify_all();
  }
}

void CoreBudget::query_started(int threads) {
  std::lock_guard lock(mutex_);
  query_threads_ += threads;
  renew_split_locked("query", "started");
}

void CoreBudget::query_finished(int threads) {
  std::lock_guard lock(mutex_);
  query_threads_ = std::max(0, query_threads_ - threads);
  renew_split_locked("query", "finished");
}

bool CoreBudget::active(CpuLane lane) const {
  std::lock_guard lock(mutex_);
  return holds_[idx(lane)] > 0;
}

int CoreBudget::threads(CpuLane lane) const {
  std::lock_guard lock(mutex_);
  return split_[idx(lane)];
}

int CoreBudget::wait_threads(CpuLane lane) const {
  std::unique_lock lock(mutex_);
  split_changed_.wait_for(lock, std::chrono::milliseconds(config_.max_wait_ms),
                          [&] { return split_[idx(lane)] > 0; });
  return std::max(1, split_[idx(lane)]);
}

void CoreBudget::record(CpuLane lane, int threads) {
  std::function<void(CpuLane, int)> hook;
  {
    std::lock_guard lock(mutex_);
    last_step_[idx(lane)] = threads;
    ++steps_by_threads_[idx(lane)][threads];
    hook = hook_;
  }
  if (hook) hook(lane, threads);
}

void CoreBudget::set_step_hook(std::function<void(CpuLane, int)> hook) {
  std::lock_guard lock(mutex_);
  hook_ = std::move(hook);
}

int CoreBudget::on_release(std::function<void(CpuLane)> fn) {
  std::lock_guard lock(mutex_);
  release_fns_.emplace_back(++next_release_id_, std::move(fn));
  return next_release_id_;
}

void CoreBudget::remove_release(int id) {
  std::lock_guard lock(mutex_);
  std::erase_if(release_fns_, [id](const auto& p) { return p.first == id; });
}

nlohmann::json CoreBudget::snapshot() const {
  std::lock_guard lock(mutex_);
  nlohmann::json lanes = nlohmann::json::object();
  for (int l = 0; l < kCpuLanes; ++l) {
    const auto i = static_cast<std::size_t>(l);
    nlohmann::json by = nlohmann::json::object();
    for (const auto& [n, count] : steps_by_threads_[i]) by[std::to_string(n)] = count;
    lanes[to_string(static_cast<CpuLane>(l))] = {{"active", holds_[i] > 0},
                                                 {"threads", split_[i]},
                                                 {"last_step_threads", last_step_[i]},
                                                 {"steps_by_threads", by}};
  }
  return {{"cores", cores_}, {"lanes", lanes}, {"log", log_}};
}

std::vector<std::string> CoreBudget::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

}  // namespace ut::engine
