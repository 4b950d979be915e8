// Frame statistics: the definitions in frame_stats.h, on known data.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "workloads/render/frame_stats.h"
#include "workloads/render/ui_model.h"

namespace ut::render {
namespace {

TEST(FrameStats, DistributionOfKnownFrameTimes) {
  std::vector<double> ms;
  for (int i = 1; i <= 100; ++i) ms.push_back(i);  // 1..100 ms
  const auto d = distribution(ms);
  EXPECT_EQ(d.count, 100u);
  EXPECT_DOUBLE_EQ(d.avg, 50.5);
  EXPECT_DOUBLE_EQ(d.p50, 50);
  EXPECT_DOUBLE_EQ(d.p99, 99);
  EXPECT_DOUBLE_EQ(d.max, 100);
  EXPECT_DOUBLE_EQ(d.over_16_6_pct, 84);  // 17..100
  EXPECT_DOUBLE_EQ(d.over_33_pct, 67);    // 34..100
  EXPECT_DOUBLE_EQ(d.one_pct_low_fps, 10);  // the slowest 1% is one 100 ms frame
  EXPECT_EQ(distribution({}).count, 0u);
}

TEST(FrameStats, SummaryAndJson) {
  FrameStats s(60);
  for (uint64_t i = 0; i < 10; ++i)
    s.add({.index = i + 1, .start_ns = i * 16'666'667, .cpu_ms = i == 9 ? 40.0 : 4.0, .gpu_ms = 1.0,
           .interval_ms = i ? 16.67 : 0, .late = i == 9});
  const auto sum = s.summary();
  EXPECT_EQ(sum.frames, 10u);
  EXPECT_EQ(sum.late_frames, 1u);
  EXPECT_NEAR(sum.achieved_hz, 60.0, 0.1);
  EXPECT_DOUBLE_EQ(sum.cpu.max, 40.0);
  EXPECT_DOUBLE_EQ(sum.cpu.over_33_pct, 10.0);
  EXPECT_EQ(sum.interval.count, 9u);
  const auto j = nlohmann::json::parse(s.to_json(true));
  EXPECT_EQ(j["frames"], 10);
  EXPECT_EQ(j["samples"].size(), 10u);
  EXPECT_DOUBLE_EQ(j["cpu_frame_ms"]["max_ms"].get<double>(), 40.0);
  EXPECT_EQ(s.recent(3).size(), 3u);
}

TEST(Snapshot, ReaderKeepsItsValueWhileTheWriterPublishes) {
  Snapshot<SqlView> snap;
  EXPECT_EQ(snap.latest(), nullptr);
  snap.publish({.query = "a"});
  auto held = snap.latest();
  snap.publish({.query = "b"});
  EXPECT_EQ(held->query, "a");
  EXPECT_EQ(snap.latest()->query, "b");
  EXPECT_EQ(snap.version(), 2u);
}

}  // namespace
}  // namespace ut::render
