#include "engine/governor.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;

namespace {

TEST(Governor, PressureHalvesBatchesCapsHeavyOpsAndRecovers) {
  ut::engine::Engine eng({.backend = "cpu", .max_heavy_ops = 3});
  ut::engine::Governor gov(eng, {.base_batch = 32});
  std::atomic<std::size_t> batch{0};
  gov.on_batch([&](std::size_t b) { batch = b; });
  gov.sample();
  EXPECT_EQ(gov.pressure(), "low");
  gov.force_pressure("medium");
  EXPECT_EQ(batch.load(), 16u);
  EXPECT_EQ(eng.heavy_limit(), 3);
  gov.force_pressure("high");  // forced memory pressure
  EXPECT_EQ(batch.load(), 8u);
  EXPECT_EQ(eng.heavy_limit(), 1);
  auto a = eng.try_admit();
  EXPECT_TRUE(a.has_value());
  EXPECT_FALSE(eng.try_admit().has_value()) << "under high pressure only one heavy operation runs";
  EXPECT_EQ(gov.snapshot()["bottleneck"]["kind"], "memory-bound");
  gov.force_pressure(std::nullopt);  // back to real readings: this test process is far from its budget
  EXPECT_EQ(gov.pressure(), "low");
  EXPECT_EQ(batch.load(), 32u);
  EXPECT_EQ(eng.heavy_limit(), 3);
  EXPECT_EQ(gov.log().size(), 3u) << "every change is logged";
  EXPECT_NE(gov.log()[1].find("medium -> high"), std::string::npos) << gov.log()[1];
}

// The CPU reading against an independent measurement of the same interval (getrusage), whatever else the
// machine is doing; the bottleneck must follow from the reading.
TEST(Governor, CpuReadingMatchesRusageAndNamesTheBottleneck) {
  ut::engine::Engine eng({.backend = "cpu"});
  ut::engine::Governor gov(eng);
  auto cpu_s = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  gov.sample();
  const double c0 = cpu_s();
  const auto w0 = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  std::vector<std::thread> burn;
  for (unsigned i = 0; i < std::thread::hardware_concurrency(); ++i)
    burn.emplace_back([&] {
      volatile uint64_t x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
  std::this_thread::sleep_for(800ms);
  stop = true;
  for (auto& t : burn) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  const double expected = (cpu_s() - c0) / (wall * std::thread::hardware_concurrency());
  gov.sample();
  const auto s = gov.snapshot();
  const double got = s["cpu_util"].get<double>();
  EXPECT_NEAR(got, std::min(1.0, expected), 0.15) << s.dump();
  EXPECT_GT(got, 0.2) << "busy threads must show up in the reading: " << s.dump();
  EXPECT_EQ(s["bottleneck"]["kind"], got > 0.85 ? "cpu-bound" : "not saturated") << s.dump();
}

}  // namespace
