// The heartbeat's rules: 60 Hz on the render queue, E_frame per tick, paced by a timer, never waiting on ML.
// No wall-clock windows: the tests wait on E_frame and measure pacing with CPU time.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "fixture.h"
#include "tests/common/cpu_time.h"
#include "timeline/clock.h"
#include "timeline/error.h"
#include "workloads/render/frame_loop.h"

namespace ut::render {
namespace {

struct Seen {
  uint64_t frame, start_ns;
  bool rag_ready, placeholder;
  uint64_t e_rag;
};

// An ML command buffer is held on its queue (it waits for an event the test releases once 60 frames are done).
// Frames keep coming, show the placeholder meanwhile, and none of them waits on the held work: a frame that did
// would never complete, and the wait for the 60th would time out.
TEST(FrameLoop, NeverWaitsOnAHeldMlQueue) {
  auto dev = Device::create({.backend = "cpu"});
  auto renderer = Renderer::create({.width = 960, .height = 600});
  auto q_ml = dev->make_queue({.kind = QueueKind::compute, .label = "Q_ml"});
  auto e_hold = dev->make_event("E_hold"), e_rag = dev->make_event("E_rag");
  UiModel model;
  model.device = dev;
  model.e_rag = e_rag;
  model.watch_event(e_rag);
  model.rag.publish({.ready_value = 1, .sources = {{"docs/held.md#1", 0.9f}}});

  // The held ML work: answers only after E_hold, then pushes tokens and raises E_rag.
  auto ml = q_ml->make_command_buffer("generate (held)");
  ml.wait(e_hold, 1)
      .host_task([&] { (void)model.tokens.try_push({.text = "released", .end_of_message = true}); }, "tokens")
      .signal(e_rag, 1)
      .commit();

  std::mutex mu;
  std::vector<Seen> seen;
  FrameLoop loop({.device = dev, .renderer = renderer.get(), .model = &model,
                  .on_frame = [&](uint64_t n, const UiFrameInfo& info, const FrameSample& s) {
                    std::lock_guard<std::mutex> lock(mu);
                    seen.push_back({n, s.start_ns, info.rag_ready, info.chat_placeholder, info.e_rag_seen});
                  }});
  loop.start();
  const auto& e_frame = loop.frame_event();
  ASSERT_TRUE(e_frame->wait(60, std::chrono::seconds(300))) << "frames stopped while ML was held";
  // Every frame up to this value was drawn before the release.
  const uint64_t drawn_while_held = e_frame->signaled_value();
  EXPECT_EQ(e_rag->signaled_value(), 0u) << "the ML work is still held";
  e_hold->signal(1);
  ASSERT_TRUE(e_rag->wait(1, std::chrono::seconds(60)));  // the test thread may wait; the UI does not
  // Frames that start after this value began drawing after E_rag was raised; wait for a few of them.
  const uint64_t after_release = e_frame->signaled_value() + 2;
  ASSERT_TRUE(e_frame->wait(after_release + 3, std::chrono::seconds(60)));
  loop.stop();
  ASSERT_EQ(loop.error(), nullptr);

  std::lock_guard<std::mutex> lock(mu);
  std::size_t held = 0, placeholder_held = 0, later = 0, ready_later = 0;
  for (const auto& s : seen) {
    if (s.frame <= drawn_while_held) {
      ++held;
      placeholder_held += (!s.rag_ready && s.placeholder && s.e_rag == 0) ? 1 : 0;
    } else if (s.frame >= after_release) {
      ++later;
      ready_later += s.rag_ready ? 1 : 0;
    }
  }
  const auto sum = loop.summary();
  std::printf("held: %zu frames, cpu p99 %.2f ms, gpu avg %.2f ms\n", held, sum.cpu.p99, sum.gpu.avg);
  EXPECT_GE(held, 60u);
  EXPECT_EQ(placeholder_held, held) << "every frame during the hold shows the placeholder";
  EXPECT_GE(later, 3u);
  EXPECT_EQ(ready_later, later) << "after the release the RAG badges appear";

  // The trace agrees: no render-queue command buffer waited on anything.
  for (const auto& r : dev->trace().snapshot()) {
    if (r.queue_label == "Q_render") {
      EXPECT_TRUE(r.waits.empty()) << r.label;
      EXPECT_FALSE(r.failed) << r.label << ": " << r.error;
    }
  }
  EXPECT_EQ(loop.frame_event()->signaled_value(), loop.frames());
}

// Paced by a timer: 30 ticks, each signals E_frame, without UI too. No wall-clock window: ticks never come faster
// than the tick rate (a lower bound no machine can miss), and a timer-paced loop uses a small part of the wall time
// as CPU time where a busy loop would use all of it.
TEST(FrameLoop, PacedAt60HzAndSignalsEFrame) {
  auto dev = Device::create({.backend = "cpu"});
  auto e_frame = dev->make_event("E_frame", 100);
  FrameLoop loop({.device = dev, .e_frame = e_frame});
  const uint64_t t0 = now_ns();
  const double c0 = ut::test::process_cpu_seconds();
  loop.run(30);
  const double cpu_s = ut::test::process_cpu_seconds() - c0;
  const double s = static_cast<double>(now_ns() - t0) / 1e9;
  EXPECT_EQ(e_frame->signaled_value(), 130u);
  EXPECT_GE(s, 29.0 / 60.0 - 0.005);
  EXPECT_LT(cpu_s, 0.3 * s) << "the ticker sleeps until the next tick; it does not spin";
  const auto sum = loop.summary();
  EXPECT_EQ(sum.frames, 30u);
  // The median interval is the tick (a late wake-up shortens only the interval after it).
  EXPECT_GE(sum.interval.p50, 1000.0 / 60.0 - 2.0);
}

TEST(FrameLoop, SlowFramesAreRecordedNotHidden) {
  auto dev = Device::create({.backend = "cpu"});
  auto renderer = Renderer::create({.width = 320, .height = 200});
  UiModel model;
  model.device = dev;
  int n = 0;
  FrameLoop loop({.device = dev, .renderer = renderer.get(), .model = &model,
                  .on_frame = [&](uint64_t, const UiFrameInfo&, const FrameSample&) {
                    // Every 5th frame, the next tick is delayed by a slow callback (40 ms of simulated work; a slower
                    // machine only makes it slower, which this test counts as late too).
                    if (++n % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(40));
                  }});
  loop.run(20);
  const auto sum = loop.summary();
  EXPECT_EQ(sum.frames, 20u);
  EXPECT_GE(sum.late_frames, 3u);
  EXPECT_GT(sum.interval.max, 33.0);
  EXPECT_GT(sum.interval.over_33_pct, 0.0);
  const std::string js = loop.stats().to_json();
  EXPECT_NE(js.find("\"late_frames\""), std::string::npos);
}

TEST(FrameLoop, RejectsANonRenderQueue) {
  auto dev = Device::create({.backend = "cpu"});
  auto q = dev->make_queue({.kind = QueueKind::compute, .label = "Q_ml"});
  EXPECT_THROW(FrameLoop({.device = dev, .queue = q}), UsageError);
  EXPECT_THROW(FrameLoop({}), UsageError);
}

// A frame whose command buffer never completes (here the render queue is held by an earlier buffer waiting on an
// event nobody signals; on the GPU machine, a device that stopped finishing work) stops the loop with a clear
// error within the deadline instead of blocking the caller; the frame completes harmlessly once the queue moves.
TEST(FrameLoop, AFrameThatNeverCompletesStopsTheLoopWithAClearError) {
  auto dev = Device::create({.backend = "cpu"});
  auto q = dev->make_queue({.kind = QueueKind::render, .label = "Q_render"});
  auto gate = dev->make_event("E_gate");
  q->make_command_buffer("held").wait(gate, 1).commit();
  FrameLoop loop({.device = dev, .queue = q, .frame_deadline = std::chrono::milliseconds(150)});
  const uint64_t t0 = now_ns();
  try {
    loop.run(3);
    FAIL() << "expected the loop to stop";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("frame 1 did not complete in 150 ms"), std::string::npos) << e.what();
  }
  EXPECT_LT(now_ns() - t0, 10'000'000'000ull) << "the deadline, not the held queue, ended the run";
  EXPECT_EQ(loop.frames(), 0u);
  gate->signal(1);
  q->wait_idle();  // the timed-out frame's work runs now, on state it shares with the buffer
  EXPECT_EQ(loop.frame_event()->signaled_value(), 1u);
}

}  // namespace
}  // namespace ut::render
