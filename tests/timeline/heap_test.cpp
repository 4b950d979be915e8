#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "tests/timeline/fixture.h"
#include "timeline/heap.h"

namespace {

class Heaps : public ut::test::DeviceTest {};

TEST_F(Heaps, PlacementHonoursAlignmentAndCountsUse) {
  auto h = dev->make_heap({.size = 1 << 16, .mode = ut::StorageMode::shared, .label = "h"});
  EXPECT_EQ(h->size(), 1u << 16);
  auto a = h->allocate(100, 64);
  auto b = h->allocate(10, 4096);
  EXPECT_EQ(a.device_address() % 64, 0u);
  EXPECT_EQ(b.device_address() % 4096, 0u);
  EXPECT_EQ(h->used(), 110u);
  EXPECT_EQ(h->stats().allocations, 2u);
  EXPECT_GE(b.offset(), a.offset() + a.size());
}

TEST_F(Heaps, FullHeapThrowsClearError) {
  auto h = dev->make_heap({.size = 4096, .label = "tiny"});
  auto a = h->allocate(3000);
  try {
    (void)h->allocate(2000);
    FAIL() << "expected OutOfMemoryError";
  } catch (const ut::OutOfMemoryError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tiny"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2000"), std::string::npos) << msg;
  }
}

TEST_F(Heaps, BadArgumentsAreUsageErrors) {
  auto h = dev->make_heap({.size = 4096});
  EXPECT_THROW((void)h->allocate(0), ut::UsageError);
  EXPECT_THROW((void)h->allocate(16, 3), ut::UsageError);
  EXPECT_THROW((void)dev->make_heap({.size = 0}), ut::UsageError);
}

TEST_F(Heaps, FreedRangesCoalesceBackToOneBlock) {
  auto h = dev->make_heap({.size = 1 << 20});
  std::vector<ut::Buffer> bufs;
  for (int i = 0; i < 64; ++i) bufs.push_back(h->allocate(1000 + static_cast<std::size_t>(i), 16));
  std::shuffle(bufs.begin(), bufs.end(), rng);
  // Free every other one: fragmented.
  for (std::size_t i = 0; i < bufs.size(); i += 2) bufs[i] = {};
  auto s = h->stats();
  EXPECT_GT(s.free_blocks, 1u);
  EXPECT_GT(s.fragmentation, 0.0);
  bufs.clear();
  s = h->stats();
  EXPECT_EQ(s.used, 0u);
  EXPECT_EQ(s.free_blocks, 1u);
  EXPECT_EQ(s.largest_free_block, s.size);
  EXPECT_DOUBLE_EQ(s.fragmentation, 0.0);
}

// Random allocate/free against a model: no two live ranges overlap, all stay inside the heap, and `used` agrees.
TEST_F(Heaps, RandomizedNoOverlap) {
  auto h = dev->make_heap({.size = 1 << 18});
  std::vector<ut::Buffer> live;
  std::uniform_int_distribution<int> op(0, 2), sz(1, 5000), al(0, 8);
  for (int step = 0; step < 5000; ++step) {
    if (live.empty() || op(rng) != 0) {
      try {
        live.push_back(h->allocate(static_cast<std::size_t>(sz(rng)), std::size_t{1} << al(rng)));
      } catch (const ut::OutOfMemoryError&) {
        live.erase(live.begin() + static_cast<long>(rng() % live.size()));
      }
    } else {
      live.erase(live.begin() + static_cast<long>(rng() % live.size()));
    }
  }
  std::map<std::size_t, std::size_t> ranges;
  std::size_t used = 0;
  for (auto& b : live) {
    ranges[b.offset()] = b.size();
    used += b.size();
    EXPECT_LE(b.offset() + b.size(), h->size());
  }
  std::size_t end = 0;
  for (auto& [off, len] : ranges) {
    EXPECT_GE(off, end) << "overlapping allocations";
    end = off + len;
  }
  EXPECT_EQ(h->used(), used);
}

TEST_F(Heaps, AllocateAtPlacesExactlyThereAndRefusesTakenBytes) {
  // What an aliasing heap (interop) relies on: the same offsets as the owner's buffers, checked against overlap.
  auto h = dev->make_heap({.size = 1 << 16, .label = "alias"});
  const std::size_t off = 256 * (1 + rng() % 100), bytes = 1 + rng() % 4000;
  auto a = h->allocate_at(off, bytes, "a");
  EXPECT_EQ(a.offset(), off);
  EXPECT_EQ(a.device_address(), h->memory().device_address + off);
  EXPECT_EQ(h->used(), bytes);
  EXPECT_THROW((void)h->allocate_at(off + bytes - 1, 2), ut::UsageError);  // overlaps a's last byte
  EXPECT_THROW((void)h->allocate_at(off - 1, 2), ut::UsageError);          // overlaps a's first byte
  EXPECT_THROW((void)h->allocate_at((1 << 16) - 10, 11), ut::UsageError);  // past the end
  EXPECT_THROW((void)h->allocate_at(0, 0), ut::UsageError);
  auto before = h->allocate_at(0, off, "before");  // exactly the gap in front of a
  auto after = h->allocate(16);                      // first fit lands behind a
  EXPECT_GE(after.offset(), off + bytes);
  before = {};
  a = {};
  after = {};
  EXPECT_EQ(h->stats().free_blocks, 1u);  // released ranges coalesce as allocate()'s do
  EXPECT_EQ(h->used(), 0u);
}

TEST_F(Heaps, BufferKeepsHeapAlive) {
  ut::Buffer b;
  {
    auto h = dev->make_heap({.size = 4096, .label = "scoped"});
    b = h->allocate(128);
  }
  EXPECT_EQ(b.heap().label(), "scoped");
  EXPECT_EQ(b.heap().used(), 128u);
}

TEST_F(Heaps, SharedStorageIsHostVisible) {
  auto b = dev->make_buffer(4096, ut::StorageMode::shared, "s");
  auto s = b.span<uint32_t>();
  ASSERT_EQ(s.size(), 1024u);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint32_t>(i * 7);
  EXPECT_EQ(s[1023], 1023u * 7);
}

}  // namespace
