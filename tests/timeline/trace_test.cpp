#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <set>

#include "tests/timeline/fixture.h"
#include "timeline/clock.h"

namespace {

class Traces : public ut::test::DeviceTest {};

TEST_F(Traces, ChromeJsonHasQueuesSlicesAndFlows) {
  auto q1 = dev->make_queue({.kind = ut::QueueKind::compute, .label = "Q_ml"});
  auto q2 = dev->make_queue({.kind = ut::QueueKind::render, .label = "Q_render"});
  auto e = dev->make_event("E_embed");
  auto a = q1->make_command_buffer("embed");
  a.host_task([] {}).signal(e, 1).commit();
  auto b = q2->make_command_buffer("draw");
  b.wait(e, 1).host_task([] {}).commit();
  b.wait_until_completed();
  q1->wait_idle();
  dev->trace().mark("frame", ut::now_ns());

  const auto j = nlohmann::json::parse(dev->trace().chrome_json());
  std::set<std::string> threads, slices;
  int flow_s = 0, flow_f = 0;
  for (auto& ev : j["traceEvents"]) {
    const std::string ph = ev["ph"];
    if (ph == "M") threads.insert(ev["args"]["name"].get<std::string>());
    if (ph == "X") {
      slices.insert(ev["name"].get<std::string>());
      EXPECT_GE(ev["dur"].get<double>(), 0.0);
    }
    if (ph == "s") ++flow_s;
    if (ph == "f") ++flow_f;
  }
  EXPECT_TRUE(threads.count("Q_ml (compute)"));
  EXPECT_TRUE(threads.count("Q_render (render)"));
  EXPECT_TRUE(slices.count("embed"));
  EXPECT_TRUE(slices.count("draw"));
  EXPECT_EQ(flow_s, 1);
  EXPECT_EQ(flow_f, 1);

  auto recs = dev->trace().snapshot();
  ASSERT_EQ(recs.size(), 2u);
  for (auto& r : recs) {
    EXPECT_LE(r.committed_ns, r.start_ns);
    EXPECT_LE(r.start_ns, r.end_ns);
  }
}

TEST_F(Traces, WritesFileAtomicallyAndReportsBadPath) {
  auto q = dev->make_queue({});
  auto cb = q->make_command_buffer("x");
  cb.host_task([] {}).commit();
  cb.wait_until_completed();
  const std::string path = ::testing::TempDir() + "/ut_trace_test.json";
  dev->trace().write_chrome_json(path);
  std::ifstream f(path);
  EXPECT_NO_THROW({ auto parsed = nlohmann::json::parse(f); EXPECT_TRUE(parsed.contains("traceEvents")); });
  std::remove(path.c_str());
  EXPECT_THROW(dev->trace().write_chrome_json("/nonexistent-dir/x.json"), ut::Error);
}

TEST(TraceUnit, BoundedCapacityDropsOldest) {
  ut::Trace t(3);
  for (uint64_t i = 0; i < 5; ++i) t.add({.cb_id = i, .label = "r" + std::to_string(i), .start_ns = i, .end_ns = i});
  auto s = t.snapshot();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.front().cb_id, 2u);
  EXPECT_EQ(t.dropped(), 2u);
}

}  // namespace
