#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/common/wait.h"
#include "tests/timeline/fixture.h"
#include "timeline/clock.h"

using namespace std::chrono_literals;

namespace {

class Events : public ut::test::DeviceTest {};

TEST_F(Events, StartsAtInitialValueAndGrows) {
  auto e = dev->make_event("E", 5);
  EXPECT_EQ(e->signaled_value(), 5u);
  EXPECT_EQ(e->label(), "E");
  e->signal(7);
  EXPECT_EQ(e->signaled_value(), 7u);
  e->signal(7);  // equal: no-op
  EXPECT_EQ(e->signaled_value(), 7u);
}

TEST_F(Events, BackwardsSignalIsRejected) {
  auto e = dev->make_event("E_back");
  e->signal(10);
  try {
    e->signal(3);
    FAIL() << "expected ValidationError";
  } catch (const ut::ValidationError& err) {
    EXPECT_NE(std::string(err.what()).find("E_back"), std::string::npos);
  }
  EXPECT_EQ(e->signaled_value(), 10u) << "a rejected signal must not move the value";
}

TEST_F(Events, WaitTimesOutOnValueNeverSignalled) {
  auto e = dev->make_event();
  const uint64_t t0 = ut::now_ns();
  EXPECT_FALSE(e->wait(1, 30ms));
  EXPECT_GE(ut::now_ns() - t0, 29'000'000u);
}

TEST_F(Events, WaitWakesOnSignalFromAnotherThread) {
  auto e = dev->make_event();
  std::atomic<pid_t> waiter{0};
  std::thread t([&] {
    // Signal once the waiter is parked in the kernel: the wake-up is what is tested, not the fast path.
    EXPECT_TRUE(ut::test::wait_until([&] { return ut::test::thread_blocked(waiter.load()); }));
    e->signal(3);
  });
  waiter = ut::test::this_thread_id();
  EXPECT_TRUE(e->wait(2, 60s));
  t.join();
}

TEST_F(Events, NotifyFiresOnceWhenReachedAndImmediatelyIfPast) {
  auto e = dev->make_event();
  std::atomic<int> fired{0};
  std::atomic<uint64_t> seen{0};
  e->notify(2, [&](uint64_t v) {
    ++fired;
    seen = v;
  });
  e->signal(1);
  EXPECT_EQ(fired.load(), 0);
  e->signal(4);
  EXPECT_EQ(fired.load(), 1);
  EXPECT_EQ(seen.load(), 4u);
  e->signal(9);
  EXPECT_EQ(fired.load(), 1) << "listeners fire once";
  int now = 0;
  e->notify(5, [&](uint64_t) { ++now; });
  EXPECT_EQ(now, 1) << "already reached: fires on the caller's thread";
}

TEST_F(Events, ManyWaitersAllRelease) {
  auto e = dev->make_event();
  std::atomic<int> released{0};
  std::vector<std::atomic<pid_t>> tids(8);
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&, i] {
      tids[static_cast<std::size_t>(i)] = ut::test::this_thread_id();
      if (e->wait(static_cast<uint64_t>(i % 3 + 1), 60s)) ++released;
    });
  }
  // Every waiter parked before the one signal that releases them all.
  for (auto& tid : tids) EXPECT_TRUE(ut::test::wait_until([&] { return ut::test::thread_blocked(tid.load()); }));
  e->signal(3);
  for (auto& t : ts) t.join();
  EXPECT_EQ(released.load(), 8);
}

TEST_F(Events, FailureRecordedOnEventIsRaisedAtWait) {
  auto e = dev->make_event("E_fail");
  e->signal_failed(2, std::make_exception_ptr(ut::CommandError("boom")));
  EXPECT_EQ(e->signaled_value(), 2u);
  EXPECT_NO_THROW(e->wait(1, 1s)) << "values below the failed one were produced by good work";
  EXPECT_THROW(e->wait(2, 1s), ut::CommandError);
}

}  // namespace
