#include "engine/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "tests/common/cpu_time.h"
#include "timeline/clock.h"
#include "timeline/error.h"

using namespace std::chrono_literals;

namespace {

// 60 ticks while the ML queue is held: a heartbeat that waited on ML would never get there (the wait times out).
// Pacing without a wall-clock window: never faster than the tick, and a timer, not a busy loop (CPU time).
TEST(Engine, HeartbeatTicksAndNeverWaitsOnAHeldMlQueue) {
  ut::engine::Engine eng({.backend = "cpu"});
  // Hold the ML queue on an event nobody signals until the end of the test.
  auto gate = eng.device().make_event("gate");
  auto held = eng.ml_queue()->make_command_buffer("held ML work");
  held.wait(gate, 1).signal(eng.e_embed(), eng.next_value(eng.e_embed())).commit();
  eng.start();
  const uint64_t f0 = eng.e_frame()->signaled_value();
  const uint64_t t0 = ut::now_ns();
  const double c0 = ut::test::process_cpu_seconds();
  ASSERT_TRUE(eng.e_frame()->wait(f0 + 60, 120s)) << "the heartbeat stopped while ML was held";
  const double wall_s = static_cast<double>(ut::now_ns() - t0) / 1e9;
  const double cpu_s = ut::test::process_cpu_seconds() - c0;
  EXPECT_EQ(eng.e_embed()->signaled_value(), 0u) << "the ML work is still held";
  EXPECT_GE(wall_s, 59.0 / 60.0 - 0.005) << "60 ticks at 60 Hz cannot come faster than the tick";
  EXPECT_LT(cpu_s, 0.3 * wall_s) << "the heartbeat sleeps until the next tick; it does not spin";
  gate->signal(1);
  held.wait_until_completed();
  eng.stop();
  const auto fs = eng.frame_stats();
  EXPECT_GE(fs.frames, 59u);
  EXPECT_GT(fs.avg_ms, 0.0);
}

TEST(Engine, NextValueIsMonotonicAcrossThreads) {
  ut::engine::Engine eng({.backend = "cpu"});
  std::vector<std::thread> ts;
  std::vector<std::vector<uint64_t>> got(4);
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) got[static_cast<std::size_t>(t)].push_back(eng.next_value(eng.e_data()));
    });
  for (auto& t : ts) t.join();
  std::vector<uint64_t> all;
  for (auto& g : got) {
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "values handed out twice";
  EXPECT_EQ(all.back(), 4000u);
}

TEST(Engine, AdmissionIsBoundedAndReleased) {
  ut::engine::Engine eng({.backend = "cpu", .max_heavy_ops = 2});
  auto a = eng.try_admit();
  auto b = eng.try_admit();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(eng.try_admit().has_value()) << "a third heavy operation must be refused (busy)";
  a.reset();
  EXPECT_TRUE(eng.try_admit().has_value());
  EXPECT_THROW(ut::engine::Engine({.backend = "cpu", .max_heavy_ops = 0}), ut::UsageError);
}

TEST(Engine, RealtimeStatsHaveThePlansShapeWithLiveValues) {
  ut::engine::Engine eng({.backend = "cpu"});
  eng.start();
  ASSERT_TRUE(eng.e_frame()->wait(5, 60s));  // a few heartbeat intervals to report
  // Overlapping work on two queues: each task runs until it has seen the other start.
  const uint64_t t0 = ut::now_ns();
  auto ml_started = eng.device().make_event("ml_started"), sql_started = eng.device().make_event("sql_started");
  auto a = eng.ml_queue()->make_command_buffer("ml");
  a.host_task([&] {
    ml_started->signal(1);
    if (!sql_started->wait(1, 60s)) throw std::runtime_error("the sql task never started");
  }).commit();
  auto b = eng.host_queue()->make_command_buffer("sql");
  b.host_task([&] {
    sql_started->signal(1);
    if (!ml_started->wait(1, 60s)) throw std::runtime_error("the ml task never started");
  }).commit();
  a.wait_until_completed();
  b.wait_until_completed();
  // Both buffers lie inside a window that reaches back to t0, however long the machine took.
  EXPECT_GE(eng.overlapped_ops(static_cast<double>(ut::now_ns() - t0) / 1e6 + 1), 2u);
  const auto s = eng.realtime_stats();
  eng.stop();
  for (const char* q : {"render", "ml", "blit"}) {
    ASSERT_TRUE(s["queues"].contains(q)) << q;
    EXPECT_TRUE(s["queues"][q].contains("active_buffers"));
    EXPECT_TRUE(s["queues"][q].contains("avg_encode_time_ms"));
  }
  for (const char* e : {"frame", "embed", "rag"}) EXPECT_TRUE(s["events"].contains(e)) << e;
  EXPECT_GT(s["events"]["frame"].get<uint64_t>(), 3u);
  EXPECT_GT(s["memory"]["heap_total_mb"].get<double>(), 0.0);
  EXPECT_TRUE(s["memory"]["pressure"].is_string());
  EXPECT_GT(s["performance"]["frame_time_ms"].get<double>(), 0.0);
  EXPECT_TRUE(s["performance"]["overlapped_ops"].is_number_unsigned());
  EXPECT_GT(s["timestamp"].get<double>(), 1.7e9);
}

}  // namespace
