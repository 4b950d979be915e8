// CoreBudget: the CPU cores of the machine shared out between the lanes that compute on them, in the plan's
// order — the chat the user waits for (prefill and decode), then the SQL the user asked for, then background
// embedding. Each lane asks for its thread count at every step boundary (a decode step, a query, an embedding
// batch) and runs that step with exactly that many threads (llama_set_n_threads, DuckDB's SET threads), so the
// lanes together never ask for more threads than there are cores: ggml's worker threads spin at every barrier,
// and a spinning thread that shares a core with another lane's thread slows both down (measured on 2 cores:
// the mixed workload ran 0.2x-0.8x of the same work done one lane after another).
//
//   auto budget = std::make_shared<ut::engine::CoreBudget>(ut::engine::CoreBudgetConfig{});  // host cores
//   auto hold = budget->hold(ut::engine::CpuLane::chat);       // a chat runs or waits: the lane is active
//   auto first = budget->hold(ut::engine::CpuLane::prompt);    // until its first token: it takes every core
//   int n = budget->threads(ut::engine::CpuLane::chat);        // before each step
//   budget->record(ut::engine::CpuLane::chat, n);              // what the step used (log, stats, hooks)
//   hold.reset();                                              // the chat is done: background takes its cores back
//   nlohmann::json j = budget->snapshot();                     // realtime-stats' "cpu_budget"
//
// Policy (C cores; "active" means the lane holds at least one Hold):
// - A chat waiting for its first token (the prompt lane: from arrival through retrieval and prefill) gets all C
//   but the threads of a query already running (a DuckDB query cannot be paused; sharing its cores with ggml's
//   spinning threads slows both); SQL waits at its next query (wait_threads, bounded by
//   CoreBudgetConfig::max_wait_ms) and background embedding yields. On 2 cores a prompt shared with queries took
//   3x as long to its first token.
// - No chat and no SQL active: background embedding gets all C.
// - Otherwise background embedding gets 1 thread when C leaves a spare core beyond one per active user lane,
//   else 0, which means it yields its step (runs nothing until the user lanes release; on_release re-queues it).
// - Chat and SQL share the rest: alone each gets all of it; together SQL gets a third (at least 1) and the chat
//   the remainder.
// The frame (the heartbeat or the UI's FrameLoop) is not budgeted: a tick is microseconds of CPU, and on a GPU
// machine the renderer does not run on these cores.
//
// Contract: thread-safe; a Hold's reset() may be called from two threads at once (it releases once). on_release
// callbacks run on the thread that drops the last Hold of a lane, outside the budget's lock. Every change of the split is logged ("threads chat 2 -> 1, sql 0 -> 1, embed 2 -> 0: sql
// started"); record() notes the threads each lane's steps used (the last and the count per thread count).
#pragma once

#include <atomic>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ut::engine {

// prompt: a chat that has not produced its first token yet (held beside its chat Hold).
enum class CpuLane { chat, sql, embed, prompt };
constexpr int kCpuLanes = 4;
const char* to_string(CpuLane lane) noexcept;

struct CoreBudgetConfig {
  int cores = 0;               // 0: the cores this process may run on (host_info().cores; UT_CPU_CORES overrides)
  std::size_t log_lines = 64;  // the latest split changes kept
  // The longest a query waits for a prompt to reach its first token (then it runs with one thread anyway): a
  // stream of chats must not starve SQL.
  int max_wait_ms = 250;
};

class CoreBudget {
 public:
  // While alive, its lane counts as active (move-only; reset() or destruction releases it).
  class Hold {
   public:
    Hold() = default;
    Hold(Hold&& o) noexcept : budget_(o.budget_.exchange(nullptr)), lane_(o.lane_) {}
    Hold& operator=(Hold&& o) noexcept;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() { reset(); }
    void reset() noexcept;
    explicit operator bool() const noexcept { return budget_.load() != nullptr; }

   private:
    friend class CoreBudget;
    Hold(CoreBudget* b, CpuLane lane) : budget_(b), lane_(lane) {}
    std::atomic<CoreBudget*> budget_{nullptr};  // reset() may race with itself (first token vs the end): once
    CpuLane lane_ = CpuLane::chat;
  };

  explicit CoreBudget(CoreBudgetConfig config = {});
  CoreBudget(const CoreBudget&) = delete;
  CoreBudget& operator=(const CoreBudget&) = delete;

  int cores() const noexcept { return cores_; }
  Hold hold(CpuLane lane);
  bool active(CpuLane lane) const;
  // Counts every Hold taken for a user lane (chat or SQL), lock-free: a background step compares it with the value
  // at its start to see whether a user arrived meanwhile (and may then stop early: Embedder::set_abort_check).
  uint64_t user_arrivals() const noexcept { return user_arrivals_.load(std::memory_order_acquire); }
  // Threads this lane may use for its next step now; 0 for background embedding means "yield this step".
  int threads(CpuLane lane) const;
  // threads(lane) once it is above 0 (a prompt holds the cores), waiting at most CoreBudgetConfig::max_wait_ms;
  // then 1. For a lane that cannot skip a step (a query): the caller blocks in it.
  int wait_threads(CpuLane lane) const;
  // A query started with `threads` DuckDB threads / finished: a waiting prompt leaves those cores to it meanwhile.
  void query_started(int threads);
  void query_finished(int threads);
  // A step of `lane` ran with `threads` threads: kept for stats and handed to the step hook.
  void record(CpuLane lane, int threads);
  // Called (lane, threads) on every record(); tests observe the thread count a step used.
  void set_step_hook(std::function<void(CpuLane, int)> hook);
  // Called with the lane whenever a lane's last Hold is released (the background lane re-queues yielded work).
  // Returns an id for remove_release(), which a path calls before it goes away.
  int on_release(std::function<void(CpuLane)> fn);
  void remove_release(int id);

  // {"cores", "lanes": {"chat": {"active", "threads", "last_step_threads", "steps_by_threads"}, ...}, "log"}
  nlohmann::json snapshot() const;
  std::vector<std::string> log() const;

 private:
  void begin(CpuLane lane);
  void end(CpuLane lane) noexcept;
  std::array<int, kCpuLanes> split_locked() const;
  void note_split_locked(const std::string& why);
  void renew_split_locked(const char* who, const char* what) noexcept;  // note_split_locked("who what"), no throw

  const CoreBudgetConfig config_;
  const int cores_;
  mutable std::mutex mutex_;
  mutable std::condition_variable split_changed_;
  std::array<int, kCpuLanes> holds_{};
  int query_threads_ = 0;  // of the queries running now
  std::atomic<uint64_t> user_arrivals_{0};
  std::array<int, kCpuLanes> split_{};
  std::array<int, kCpuLanes> last_step_{};
  std::array<std::map<int, uint64_t>, kCpuLanes> steps_by_threads_;
  std::vector<std::string> log_;
  std::function<void(CpuLane, int)> hook_;
  std::vector<std::pair<int, std::function<void(CpuLane)>>> release_fns_;
  int next_release_id_ = 0;
};

using CoreBudgetPtr = std::shared_ptr<CoreBudget>;

}  // namespace ut::engine
