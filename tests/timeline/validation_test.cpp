// Validation mode: waits that can never be satisfied fail with ValidationError instead of hanging.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/common/wait.h"
#include "tests/timeline/fixture.h"
#include "timeline/clock.h"
#include "timeline/validator.h"

using namespace std::chrono_literals;

namespace {

class Validation : public ut::test::DeviceTest {
 protected:
  ut::DeviceDesc desc() override {
    ut::DeviceDesc d;
    d.validation = true;
    d.unsatisfiable_wait_grace = 150ms;
    return d;
  }
  void SetUp() override {
    DeviceTest::SetUp();
    // Device-side waits are validated by the CUDA backend's own tests (CudaValidation); ctest and the GPU check
    // leave this suite out of their CUDA runs.
    if (dev && dev->caps().gpu_side_events) GTEST_SKIP() << "validation of device-side waits is CPU-backend only";
  }
  static bool failed_with_validation(const ut::CommandBuffer& cb) {
    try {
      cb.wait_until_completed();
    } catch (const ut::ValidationError&) {
      return true;
    } catch (...) {
    }
    return false;
  }
};

TEST_F(Validation, CycleAcrossTwoQueuesIsReportedNotHung) {
  auto q1 = dev->make_queue({.label = "q1"});
  auto q2 = dev->make_queue({.label = "q2"});
  auto e1 = dev->make_event("E1"), e2 = dev->make_event("E2");
  auto a = q1->make_command_buffer("A");
  a.wait(e2, 1).signal(e1, 1).commit();
  auto b = q2->make_command_buffer("B");
  b.wait(e1, 1).signal(e2, 1).commit();
  // Far below the grace period times a few: a cycle is found at once, not by timeout.
  for (auto* cb : {&a, &b}) {
    try {
      cb->wait_until_completed();
    } catch (const ut::Error&) {
    }
  }
  EXPECT_EQ(a.status(), ut::CommandBufferStatus::error);
  EXPECT_EQ(b.status(), ut::CommandBufferStatus::error);
  EXPECT_TRUE(failed_with_validation(a) || failed_with_validation(b));
  auto f = dev->validator()->findings();
  ASSERT_FALSE(f.empty());
  EXPECT_NE(f.front().find("deadlock"), std::string::npos) << f.front();
}

TEST_F(Validation, WaitBehindItsOwnSignallerOnOneQueueIsADeadlock) {
  auto q = dev->make_queue({.label = "solo"});
  auto e = dev->make_event("E");
  auto a = q->make_command_buffer("waiter");
  a.wait(e, 1).commit();
  auto b = q->make_command_buffer("signaller");
  b.signal(e, 1).commit();
  EXPECT_TRUE(failed_with_validation(a));
  b.wait_until_completed();  // the queue moves on after the finding
}

TEST_F(Validation, ValueNobodySignalsFailsAfterGrace) {
  auto q = dev->make_queue({});
  auto e = dev->make_event("E_never");
  auto cb = q->make_command_buffer("orphan");
  cb.wait(e, 5).commit();
  const uint64_t t0 = ut::now_ns();
  try {
    cb.wait_until_completed();
    FAIL() << "expected ValidationError";
  } catch (const ut::ValidationError& err) {
    EXPECT_NE(std::string(err.what()).find("E_never"), std::string::npos) << err.what();
  }
  EXPECT_GE(ut::now_ns() - t0, 140'000'000u);
}

TEST_F(Validation, HostSignalWithinGraceIsFine) {
  auto q = dev->make_queue({});
  auto e = dev->make_event();
  auto cb = q->make_command_buffer();
  cb.wait(e, 1).commit();
  // The queue has reached the wait before the host signals it.
  ASSERT_TRUE(ut::test::wait_until([&] { return cb.status() == ut::CommandBufferStatus::running; }));
  e->signal(1);
  EXPECT_NO_THROW(cb.wait_until_completed());
}

TEST_F(Validation, LaterCommitThatSignalsIsNotAFalsePositive) {
  auto q1 = dev->make_queue({}), q2 = dev->make_queue({});
  auto e = dev->make_event();
  auto a = q1->make_command_buffer("early");
  a.wait(e, 1).commit();
  // The waiter has started waiting before its signaller is even committed.
  ASSERT_TRUE(ut::test::wait_until([&] { return a.status() == ut::CommandBufferStatus::running; }));
  auto b = q2->make_command_buffer("late");
  b.signal(e, 1).commit();
  EXPECT_NO_THROW(a.wait_until_completed());
  EXPECT_TRUE(dev->validator()->findings().empty());
}

}  // namespace
