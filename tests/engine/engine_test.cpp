#include "engine/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
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
  for (const char* e : {"frame_counter", "embed_counter", "rag_counter"}) EXPECT_TRUE(s["events"].contains(e)) << e;
  EXPECT_GT(s["events"]["frame_counter"].get<uint64_t>(), 3u);
  EXPECT_GT(s["memory"]["heap_total_mb"].get<double>(), 0.0);
  EXPECT_TRUE(s["memory"]["pressure"].is_string());
  EXPECT_GT(s["performance"]["frame_time_ms"].get<double>(), 0.0);
  EXPECT_TRUE(s["performance"]["overlapped_ops"].is_number_unsigned());
  EXPECT_TRUE(s["timestamp"].is_string());
}

// The plan's realtime-stats listing, as a client written against it reads it: every key with its JSON type
// (a string, an integer counter, a number). The engine may add fields beside these, never rename or retype them.
const char* kPlanRealtimeStats = R"JSON({
  "timestamp": "2026-12-07T03:40:00.123Z",
  "events": {"frame_counter": 1842, "embed_counter": 17, "rag_counter": 12},
  "queues": {
    "render": {"active_buffers": 1, "avg_encode_time_ms": 0.12},
    "ml": {"active_buffers": 2, "avg_encode_time_ms": 3.4},
    "blit": {"active_buffers": 0, "avg_encode_time_ms": 0.05}
  },
  "memory": {"heap_used_mb": 412.5, "heap_total_mb": 2048.0, "pressure": "low"},
  "performance": {"frame_time_ms": 16.7, "gpu_util_pct": 63.5, "overlapped_ops": 4}
})JSON";

// `actual` holds every key of `plan` with the same JSON type (an integer where the plan has a counter).
void expect_shape(const nlohmann::json& plan, const nlohmann::json& actual, const std::string& path) {
  for (auto& [key, want] : plan.items()) {
    const std::string at = path + "." + key;
    ASSERT_TRUE(actual.is_object() && actual.contains(key)) << "missing " << at;
    const auto& got = actual[key];
    if (want.is_object()) {
      expect_shape(want, got, at);
    } else if (want.is_string()) {
      EXPECT_TRUE(got.is_string()) << at << " is " << got.type_name();
    } else if (want.is_number_integer()) {
      EXPECT_TRUE(got.is_number_integer()) << at << " is " << got.dump();
    } else {
      EXPECT_TRUE(got.is_number()) << at << " is " << got.type_name();
    }
  }
}

// Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ", or -1 when the text is not in that form.
int64_t parse_iso8601_ms(const std::string& s) {
  std::tm tm{};
  int ms = 0, used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 ||
      used != static_cast<int>(s.size()) || s.size() != 24)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

TEST(Engine, RealtimeStatsMatchThePlansListingKeysAndTypes) {
  ut::engine::Engine eng({.backend = "cpu"});
  eng.start();
  ASSERT_TRUE(eng.e_frame()->wait(3, 60s));
  std::mt19937_64 rng(std::random_device{}());
  const uint64_t embed = 1 + rng() % 1000, rag = 1 + rng() % 1000, data = 1 + rng() % 1000;
  eng.e_embed()->signal(embed);
  eng.e_rag()->signal(rag);
  eng.e_data()->signal(data);
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const auto s = eng.realtime_stats();
  const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  eng.stop();

  expect_shape(nlohmann::json::parse(kPlanRealtimeStats), s, "stats");
  const int64_t t = parse_iso8601_ms(s["timestamp"].get<std::string>());
  EXPECT_GE(t, before) << s["timestamp"];
  EXPECT_LE(t, after) << s["timestamp"];
  EXPECT_EQ(s["events"]["embed_counter"].get<uint64_t>(), embed);
  EXPECT_EQ(s["events"]["rag_counter"].get<uint64_t>(), rag);
  EXPECT_EQ(s["events"]["data_counter"].get<uint64_t>(), data);  // ours, beside the plan's
  EXPECT_GE(s["events"]["frame_counter"].get<uint64_t>(), 3u);
  // Our fields beside the plan's: every queue by name with where it runs.
  for (const char* q : {"render", "ml", "blit", "host"}) {
    EXPECT_TRUE(s["queues"][q]["kind"].is_string()) << q;
    EXPECT_EQ(s["queues"][q]["device"], "cpu") << q;
  }
  EXPECT_EQ(s["performance"]["gpu_util_source"], "none") << "nothing measures a CPU backend's GPU utilisation";
  const std::string metrics = eng.prometheus_metrics();
  EXPECT_NE(metrics.find("ut_event_value{event=\"rag\"} " + std::to_string(rag)), std::string::npos) << metrics;
}

}  // namespace
