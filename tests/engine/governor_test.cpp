#include "engine/governor.h"

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "tests/common/cpu_time.h"

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

// The real thresholds, no forcing: the engine heap's fill is set exactly by allocations (RSS is far below its
// limit), so the reading sits on each side of each boundary. Below 60% low; from 60% medium (batch halved); from
// 85% high (batch quartered, one heavy operation); back to low when the memory is released.
TEST(Governor, HeapFillCrossesTheRealThresholds) {
  ut::engine::Engine eng({.backend = "cpu", .max_heavy_ops = 3});
  ut::engine::Governor gov(eng, {.rss_limit_mb = 1e9, .base_batch = 32});
  std::atomic<std::size_t> batch{0};
  gov.on_batch([&](std::size_t b) { batch = b; });
  const auto& heap = eng.shared_heap();
  const std::size_t size = heap->size(), used0 = heap->used();
  std::vector<ut::Buffer> held;
  // Fills the heap to exactly `used` bytes, then takes one reading.
  auto sample_at = [&](std::size_t used) {
    held.clear();
    if (used > used0) held.push_back(heap->allocate(used - used0, 1));
    EXPECT_EQ(heap->used(), used);
    gov.sample();
    return gov.pressure();
  };
  const auto at = [&](double fraction) { return static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(size))); };
  ASSERT_LT(used0, at(0.60) - 1) << "the engine's heap starts nearly empty";
  EXPECT_EQ(sample_at(at(0.60) - 1), "low");
  EXPECT_EQ(gov.log().size(), 0u) << "no change, nothing logged";
  EXPECT_EQ(sample_at(at(0.60)), "medium");
  EXPECT_EQ(batch.load(), 16u);
  EXPECT_EQ(eng.heavy_limit(), 3);
  EXPECT_EQ(sample_at(at(0.85) - 1), "medium");
  EXPECT_EQ(sample_at(at(0.85)), "high");
  EXPECT_EQ(batch.load(), 8u);
  EXPECT_EQ(eng.heavy_limit(), 1);
  EXPECT_EQ(gov.snapshot()["bottleneck"]["kind"], "memory-bound");
  EXPECT_NE(gov.snapshot()["bottleneck"]["why"].get<std::string>().find("heap 85%"), std::string::npos)
      << gov.snapshot().dump();
  EXPECT_EQ(sample_at(used0), "low");
  EXPECT_EQ(batch.load(), 32u);
  EXPECT_EQ(eng.heavy_limit(), 3);
  ASSERT_EQ(gov.log().size(), 3u);
  EXPECT_NE(gov.log()[0].find("low -> medium"), std::string::npos) << gov.log()[0];
  EXPECT_EQ(gov.log()[0].find("(forced)"), std::string::npos) << "a real reading, not a forced one";
  EXPECT_NE(gov.log()[2].find("high -> low"), std::string::npos) << gov.log()[2];
}

// RSS against its limit, the other reading: the limit is set from this process's own RSS (read independently from
// /proc/self/statm) so that the fraction lies well inside each band.
TEST(Governor, RssAgainstItsLimitPicksTheLevel) {
  ut::engine::Engine eng({.backend = "cpu"});
  auto rss_mb = [] {
    std::ifstream f("/proc/self/statm");
    uint64_t pages = 0, resident = 0;
    f >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
  };
  for (const auto& [fraction, level] : {std::pair{0.3, "low"}, {0.72, "medium"}, {0.95, "high"}}) {
    ut::engine::Governor gov(eng, {.rss_limit_mb = rss_mb() / fraction});
    gov.sample();
    EXPECT_EQ(gov.pressure(), level) << "RSS at " << fraction << " of the limit: " << gov.snapshot().dump();
    EXPECT_NEAR(gov.snapshot()["rss_mb"].get<double>() / gov.snapshot()["rss_limit_mb"].get<double>(), fraction, 0.05);
  }
}

// The CPU reading against an independent measurement of the same interval (getrusage), whatever else the
// machine is doing; the bottleneck must follow from the reading. Each burner spins until it has used 300 ms of
// its own CPU time, so the interval ends when the work is done, not after a guessed sleep.
TEST(Governor, CpuReadingMatchesRusageAndNamesTheBottleneck) {
  ut::engine::Engine eng({.backend = "cpu"});
  ut::engine::Governor gov(eng);
  gov.sample();
  const double c0 = ut::test::process_cpu_seconds();
  const auto w0 = std::chrono::steady_clock::now();
  std::vector<std::thread> burn;
  for (unsigned i = 0; i < std::thread::hardware_concurrency(); ++i)
    burn.emplace_back([] {
      auto thread_cpu_s = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
      };
      volatile uint64_t x = 0;
      while (thread_cpu_s() < 0.3) x = x + 1;
    });
  for (auto& t : burn) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  const double used = ut::test::process_cpu_seconds() - c0;
  ASSERT_GE(used, 0.3 * std::thread::hardware_concurrency() - 0.05) << "every burner used its 300 ms";
  const double expected = used / (wall * std::thread::hardware_concurrency());
  gov.sample();
  const auto s = gov.snapshot();
  const double got = s["cpu_util"].get<double>();
  // The busy threads show up in the reading as much as they ran, however loaded the machine was (other processes
  // take cores from them and stretch the wall time: both readings see that alike).
  EXPECT_NEAR(got, std::min(1.0, expected), 0.15) << s.dump();
  EXPECT_EQ(s["bottleneck"]["kind"], got > 0.85 ? "cpu-bound" : "not saturated") << s.dump();
}

// Memory freed in the middle of the heap stays resident until someone trims it: the Governor returns it once more
// than trim_above_mb is held free, and says so in its snapshot.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kGlibcMalloc = false;  // the sanitizers replace malloc: mallinfo2 and malloc_trim see nothing
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

TEST(Governor, ReturnsMemoryTheAllocatorHoldsFree) {
  if (!kGlibcMalloc) GTEST_SKIP() << "a sanitizer's allocator replaces glibc's malloc in this build";
  ut::engine::Engine eng({.backend = "cpu"});
  ut::engine::Governor off(eng, {.trim_interval = 0s});
  ut::engine::Governor gov(eng, {.trim_interval = 1s, .trim_above_mb = 16});
  // 96 MB in 3 KB blocks (under the mmap threshold: in the heap), touched; then 3 of every 4 freed, leaving holes
  // of whole pages behind live blocks, which free() alone cannot give back.
  std::vector<char*> blocks(32768);
  for (auto& b : blocks) {
    b = static_cast<char*>(std::malloc(3072));
    std::memset(b, 1, 3072);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (i % 4 != 0) {
      std::free(blocks[i]);
      blocks[i] = nullptr;
    }
  off.sample();
  EXPECT_EQ(off.snapshot()["allocator"]["trims"], 0) << "trimming off";
  gov.sample();
  const auto a = gov.snapshot()["allocator"];
  EXPECT_GE(a["free_held_mb"].get<double>(), 16.0) << a.dump();
  EXPECT_EQ(a["trims"], 1) << a.dump();
  EXPECT_GT(a["returned_mb"].get<double>(), 8.0) << a.dump();
  gov.sample();  // within trim_interval: no second look
  EXPECT_EQ(gov.snapshot()["allocator"]["trims"], 1);
  for (auto* b : blocks) std::free(b);
}

}  // namespace
