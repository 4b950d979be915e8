// Vulkan and CUDA on one card (backends/interop/cuda_vulkan.h): a CUDA kernel writes a Vulkan heap's memory and
// signals a Vulkan timeline semaphore that a Vulkan queue waits on, and back; ordering over many alternations with
// every buffer committed up front (waits park until the other API submits the producer); timeouts; a failed
// producer on either side fails its dependants instead of releasing them. Runs where a CUDA device and a Vulkan
// device are the same GPU (the GPU machine, NVIDIA's Vulkan driver); elsewhere every case skips with the reason.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <vector>

#include "backends/cuda/device.h"
#include "backends/interop/cuda_vulkan.h"
#include "backends/vulkan/device.h"
#include "tests/backends/semaphore_counter.h"
#include "tests/common/skip.h"
#include "tests/timeline/test_kernels.h"
#include "timeline/error.h"

using namespace std::chrono_literals;
using ut::test::AddArgs;
using ut::test::FillArgs;

namespace {

class Interop : public ::testing::Test {
 protected:
  void SetUp() override {
    ut::test::register_test_kernels();
    const ut::BackendInfo c = ut::cuda::probe();
    if (!c.available) UT_SKIP_NO_GPU("no usable CUDA device here: " + c.reason);
    const ut::BackendInfo v = ut::vulkan::probe();
    if (!v.available) UT_SKIP_NO_GPU("no usable Vulkan device here: " + v.reason);
    cu = ut::cuda::make_device({});
    vk = ut::vulkan::make_device({});
    const ut::BackendInfo both = ut::interop::probe(*cu, *vk);
    if (!both.available) UT_SKIP_NO_GPU("CUDA and Vulkan cannot share this GPU: " + both.reason);
    cq = cu->make_queue({.kind = ut::QueueKind::compute, .label = "cuda"});
    vq = vk->make_queue({.kind = ut::QueueKind::render, .label = "vulkan"});
  }
  void TearDown() override {
    cq.reset();
    vq.reset();
  }

  uint64_t semaphore_value(const ut::EventPtr& e) { return ut::test::semaphore_counter(*vk, e); }

  ut::DevicePtr cu, vk;
  ut::QueuePtr cq, vq;
  std::mt19937 rng{std::random_device{}()};
};

TEST_F(Interop, CudaKernelWritesVulkanMemoryAndReleasesAVulkanQueueOnTheGpu) {
  const uint32_t n = 100000 + rng() % 1000;
  auto heap = vk->make_heap({.size = 4 << 20, .mode = ut::StorageMode::device, .label = "chart"});
  auto readback = vk->make_heap({.size = 4 << 20, .mode = ut::StorageMode::shared, .label = "readback"});
  ut::Buffer pad = heap->allocate(4096);  // the aliased buffer is not at offset 0
  ut::Buffer bars = heap->allocate(n * 4, 256, "bars");
  ut::Buffer rb = readback->allocate(n * 4);
  auto cu_heap = ut::interop::import_heap(*cu, *heap);
  ut::Buffer cu_bars = ut::interop::alias(*cu_heap, bars);
  EXPECT_EQ(cu_bars.offset(), bars.offset());
  auto e = vk->make_event("E_data");
  auto done = vk->make_event("E_done");
  ut::interop::share_event(*cu, *e);

  // The consumer first: its wait parks until CUDA submits the producer, then waits on the GPU.
  vq->make_command_buffer("draw").wait(e, 1).copy(bars, 0, rb, 0, n * 4).signal(done, 1).commit();
  const FillArgs args{static_cast<uint32_t>(rng()), 1 + static_cast<uint32_t>(rng() % 7)};
  cq->make_command_buffer("aggregate")
      .dispatch("ut_test.fill", ut::Grid{n}, ut::DispatchArgs::make({cu_bars}, args))
      .signal(e, 1)
      .commit();
  ASSERT_TRUE(done->wait(1, 20s));
  EXPECT_EQ(semaphore_value(e), 1u) << "CUDA's signal did not reach the Vulkan semaphore on the GPU";
  const auto out = rb.span<uint32_t>();
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(out[i], args.value + i * args.stride) << i;
}

TEST_F(Interop, VulkanKernelWritesAndACudaStreamWaitsForItOnTheGpu) {
  const uint32_t n = 50000 + rng() % 1000;
  auto heap = vk->make_heap({.size = 1 << 20, .mode = ut::StorageMode::device, .label = "tokens"});
  ut::Buffer src = heap->allocate(n * 4);
  auto cu_heap = ut::interop::import_heap(*cu, *heap);
  ut::Buffer cu_src = ut::interop::alias(*cu_heap, src);
  auto out_heap = cu->make_heap({.size = 1 << 20, .mode = ut::StorageMode::shared});
  ut::Buffer out = out_heap->allocate(n * 4);
  auto e = vk->make_event("E_embed");
  auto done = cu->make_event("E_rag");
  ut::interop::share_event(*cu, *e);
  const FillArgs fill{static_cast<uint32_t>(rng() % 100000), 3};
  const AddArgs add{1 + static_cast<uint32_t>(rng() % 1000)};
  vq->make_command_buffer("embed").dispatch("ut_test.fill", ut::Grid{n}, ut::DispatchArgs::make({src}, fill)).signal(e, 1).commit();
  cq->make_command_buffer("search")
      .wait(e, 1)
      .dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({cu_src, out}, add))
      .signal(done, 1)
      .commit();
  ASSERT_TRUE(done->wait(1, 20s));
  const auto v = out.span<uint32_t>();
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(v[i], fill.value + i * fill.stride + add.k) << i;
}

TEST_F(Interop, ManyAlternationsKeepTheirOrderWithEveryBufferCommittedUpFront) {
  // Each step reads what the other API wrote in the step before: a wait released early reads a stale value and
  // the final count comes out short.
  const uint32_t n = 4096, rounds = 40;
  auto heap = vk->make_heap({.size = 1 << 20, .mode = ut::StorageMode::device});
  ut::Buffer a = heap->allocate(n * 4), b = heap->allocate(n * 4);
  auto cu_heap = ut::interop::import_heap(*cu, *heap);
  ut::Buffer ca = ut::interop::alias(*cu_heap, a), cb = ut::interop::alias(*cu_heap, b);
  auto readback = vk->make_heap({.size = 1 << 20, .mode = ut::StorageMode::shared});
  ut::Buffer rb = readback->allocate(n * 4);
  auto e = vk->make_event("E_pingpong");
  ut::interop::share_event(*cu, *e);
  const uint32_t start = rng() % 1000;
  vq->make_command_buffer("init").dispatch("ut_test.fill", ut::Grid{n}, ut::DispatchArgs::make({a}, FillArgs{start, 0})).signal(e, 1).commit();
  // Commit order alternates randomly between the APIs, so some waits are submitted before their producers.
  std::vector<std::pair<bool, uint32_t>> order;  // (cuda?, round)
  uint32_t next_cuda = 1, next_vk = 1;
  while (next_cuda <= rounds || next_vk <= rounds) {
    const bool pick_cuda = next_vk > rounds || (next_cuda <= rounds && rng() % 2 == 0);
    order.emplace_back(pick_cuda, pick_cuda ? next_cuda++ : next_vk++);
  }
  for (auto [is_cuda, r] : order) {
    // CUDA: value 2r-1 -> a..b (+1), signals 2r; Vulkan: waits 2r, b..a (+1), signals 2r+1.
    if (is_cuda) {
      cq->make_command_buffer("cuda step").wait(e, 2 * r - 1)
          .dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({ca, cb}, AddArgs{1})).signal(e, 2 * r).commit();
    } else {
      vq->make_command_buffer("vulkan step").wait(e, 2 * r)
          .dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({b, a}, AddArgs{1})).signal(e, 2 * r + 1).commit();
    }
  }
  auto done = vk->make_event("E_done");
  vq->make_command_buffer("read").wait(e, 2 * rounds + 1).copy(a, 0, rb, 0, n * 4).signal(done, 1).commit();
  ASSERT_TRUE(done->wait(1, 60s)) << "stuck at " << e->signaled_value();
  const auto v = rb.span<uint32_t>();
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(v[i], start + 2 * rounds) << i;
  EXPECT_EQ(semaphore_value(e), 2u * rounds + 1);
}

TEST_F(Interop, AWaitTimesOutUntilTheValueComesAndAHostSignalReleasesIt) {
  auto e = vk->make_event("E_never");
  ut::interop::share_event(*cu, *e);
  auto done = cu->make_event("E_after");
  cq->make_command_buffer("waiter").wait(e, 5).signal(done, 1).commit();
  EXPECT_FALSE(done->wait(1, 200ms));
  EXPECT_FALSE(e->wait(5, 10ms));
  e->signal(5);  // the host raises it: no GPU signal of it exists, the parked buffer resumes on the host
  EXPECT_TRUE(done->wait(1, 20s));
}

TEST_F(Interop, AFailedVulkanProducerFailsTheCudaConsumer) {
  auto e = vk->make_event("E_embed");
  ut::interop::share_event(*cu, *e);
  auto done = cu->make_event("E_rag");
  auto heap = cu->make_heap({.size = 1 << 16, .mode = ut::StorageMode::shared});
  ut::Buffer out = heap->allocate(1024 * 4);
  std::fill(out.span<uint32_t>().begin(), out.span<uint32_t>().end(), 7u);
  cq->make_command_buffer("consumer").wait(e, 1)
      .dispatch("ut_test.fill", ut::Grid{1024}, ut::DispatchArgs::make({out}, FillArgs{1, 1})).signal(done, 1).commit();
  vq->make_command_buffer("producer").host_task([] { throw std::runtime_error("embedder crashed"); }).signal(e, 1).commit();
  try {
    (void)done->wait(1, 20s);
    ADD_FAILURE() << "the consumer's signal was raised without the producer's error";
  } catch (const std::exception& ex) {
    EXPECT_NE(std::string(ex.what()).find("embedder crashed"), std::string::npos) << ex.what();
  }
}

TEST_F(Interop, AFailedCudaProducerFailsTheVulkanConsumerAndLeavesTheSemaphoreAlone) {
  auto e = vk->make_event("E_data");
  ut::interop::share_event(*cu, *e);
  auto done = vk->make_event("E_frame");
  vq->make_command_buffer("frame").wait(e, 1).signal(done, 1).commit();
  cq->make_command_buffer("aggregate").host_task([] { throw std::runtime_error("kernel input invalid"); }).signal(e, 1).commit();
  try {
    (void)done->wait(1, 20s);
    ADD_FAILURE() << "the frame's signal was raised without the producer's error";
  } catch (const std::exception& ex) {
    EXPECT_NE(std::string(ex.what()).find("kernel input invalid"), std::string::npos) << ex.what();
  }
  EXPECT_EQ(semaphore_value(e), 0u) << "a failed buffer's signal must not release GPU waiters";
}

TEST_F(Interop, OnlyVulkanObjectsOfTheSameCardAreShared) {
  auto cuda_event = cu->make_event("E_cuda");
  EXPECT_THROW(ut::interop::share_event(*cu, *cuda_event), ut::UsageError);
  auto cuda_heap = cu->make_heap({.size = 4096, .mode = ut::StorageMode::device});
  EXPECT_THROW((void)ut::interop::import_heap(*cu, *cuda_heap), ut::UsageError);
  auto heap = vk->make_heap({.size = 1 << 16, .mode = ut::StorageMode::device});
  auto other = vk->make_heap({.size = 1 << 16, .mode = ut::StorageMode::device});
  auto imported = ut::interop::import_heap(*cu, *heap);
  ut::Buffer b = other->allocate(256);
  EXPECT_THROW((void)ut::interop::alias(*imported, b), ut::UsageError);
  ut::Buffer ok = heap->allocate(256);
  ut::Buffer same = ut::interop::alias(*imported, ok);
  EXPECT_THROW((void)ut::interop::alias(*imported, ok), ut::UsageError) << "the bytes are placed already";
}

}  // namespace
