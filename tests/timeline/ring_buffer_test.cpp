#include "timeline/ring_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "tests/common/wait.h"
#include "timeline/clock.h"

using namespace std::chrono_literals;

TEST(RingBuffer, CapacityRoundsUpAndFullIsReported) {
  ut::RingBuffer<int> r(5);
  EXPECT_EQ(r.capacity(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(r.try_push(i));
  EXPECT_FALSE(r.try_push(99)) << "a full ring must refuse, not overwrite";
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r.try_pop().value(), i);
  EXPECT_FALSE(r.try_pop().has_value());
}

TEST(RingBuffer, MoveOnlyValues) {
  ut::RingBuffer<std::unique_ptr<std::string>> r(4);
  EXPECT_TRUE(r.try_push(std::make_unique<std::string>("tok")));
  auto v = r.try_pop();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(**v, "tok");
}

TEST(RingBuffer, PopWaitTimesOutWhenEmpty) {
  ut::RingBuffer<int> r(4);
  const uint64_t t0 = ut::now_ns();
  EXPECT_FALSE(r.pop_wait(20ms).has_value());
  EXPECT_GE(ut::now_ns() - t0, 19'000'000u);
}

TEST(RingBuffer, PopWaitWakesOnPush) {
  ut::RingBuffer<int> r(4);
  std::atomic<pid_t> reader{0};
  std::thread producer([&] {
    // Push once the reader is parked on the futex: the wake-up is what is tested.
    EXPECT_TRUE(ut::test::wait_until([&] { return ut::test::thread_blocked(reader.load()); }));
    r.try_push(42);
  });
  reader = ut::test::this_thread_id();
  auto v = r.pop_wait(60s);
  producer.join();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 42);
}

TEST(RingBuffer, CloseWakesReaderAndDrains) {
  ut::RingBuffer<int> r(4);
  r.try_push(1);
  r.close();
  EXPECT_EQ(r.pop_wait(10s).value(), 1);
  // Blocking would last the whole 120 s: returning at once and blocking are minutes apart on any machine.
  const uint64_t t0 = ut::now_ns();
  EXPECT_FALSE(r.pop_wait(120s).has_value());
  EXPECT_LT(ut::now_ns() - t0, 60'000'000'000u) << "a closed, drained ring must not block";
}

// One producer, one consumer, random burst sizes: every item arrives once, in order.
TEST(RingBuffer, SpscOrderUnderContention) {
  constexpr uint64_t kItems = 200'000;
  ut::RingBuffer<uint64_t> r(64);
  std::thread producer([&] {
    std::mt19937 rng(std::random_device{}());
    uint64_t i = 0;
    while (i < kItems) {
      if (r.try_push(i)) {
        ++i;
      } else if (rng() % 4 == 0) {
        std::this_thread::yield();
      }
    }
    r.close();
  });
  uint64_t expect = 0;
  for (;;) {
    auto v = r.pop_wait(10s);
    if (!v) break;
    ASSERT_EQ(*v, expect);
    ++expect;
  }
  producer.join();
  EXPECT_EQ(expect, kItems);
}
