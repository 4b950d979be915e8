// Waiting on state that has no event of its own, instead of sleeping and hoping: a thread parked in the kernel
// (so that a test exercises the wake-up, not the fast path), a command buffer that has started.
//
//   std::atomic<pid_t> waiter{0};
//   std::thread signaller([&] {
//     ASSERT_TRUE(ut::test::wait_until([&] { return ut::test::thread_blocked(waiter); }));
//     event->signal(1);
//   });
//   waiter = ut::test::this_thread_id();
//   EXPECT_TRUE(event->wait(1, 10s));
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace ut::test {

// Checks pred() until it holds, yielding the CPU between checks; false once `limit` has passed.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// The calling thread's kernel id (for thread_blocked).
inline pid_t this_thread_id() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Whether thread `tid` of this process is asleep in the kernel (state S or D in /proc): a thread that waits on a
// futex, a condition variable or a pipe is; one that runs or spins is not. False for 0 or an unknown thread.
inline bool thread_blocked(pid_t tid) {
  if (tid == 0) return false;
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return false;
  const auto close = stat.rfind(')');  // the thread's name may hold spaces and parentheses
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  const char state = stat[close + 2];
  return state == 'S' || state == 'D';
}

}  // namespace ut::test
