#include "engine/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "timeline/error.h"

using namespace std::chrono_literals;

namespace {

TEST(Engine, HeartbeatTicksAndNeverWaitsOnAHeldMlQueue) {
  ut::engine::Engine eng({.backend = "cpu"});
  // Hold the ML queue on an event nobody signals until the end of the test.
  auto gate = eng.device().make_event("gate");
  auto held = eng.ml_queue()->make_command_buffer("held ML work");
  held.wait(gate, 1).signal(eng.e_embed(), eng.next_value(eng.e_embed())).commit();
  eng.start();
  const uint64_t f0 = eng.e_frame()->signaled_value();
  std::this_thread::sleep_for(1s);
  const uint64_t f1 = eng.e_frame()->signaled_value();
  EXPECT_GE(f1 - f0, 45u) << "the heartbeat must keep ticking at ~60 Hz while ML is held";
  EXPECT_LE(f1 - f0, 70u);
  EXPECT_EQ(eng.e_embed()->signaled_value(), 0u);
  gate->signal(1);
  held.wait_until_completed();
  eng.stop();
  const auto fs = eng.frame_stats();
  EXPECT_GT(fs.frames, 40u);
  EXPECT_NEAR(fs.avg_ms, 16.67, 3.0);
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
  // Overlapping work on two queues.
  auto a = eng.ml_queue()->make_command_buffer("ml");
  a.host_task([] { std::this_thread::sleep_for(30ms); }).commit();
  auto b = eng.host_queue()->make_command_buffer("sql");
  b.host_task([] { std::this_thread::sleep_for(30ms); }).commit();
  a.wait_until_completed();
  b.wait_until_completed();
  std::this_thread::sleep_for(100ms);
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
  EXPECT_GT(s["performance"]["frame_time_ms"].get<double>(), 5.0);
  EXPECT_GE(s["performance"]["overlapped_ops"].get<uint64_t>(), 2u);
  EXPECT_GT(s["timestamp"].get<double>(), 1.7e9);
}

}  // namespace
