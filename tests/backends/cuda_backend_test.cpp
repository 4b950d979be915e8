// CUDA backend: capabilities, priorities, zero-copy, copy/compute overlap, graphs, stats, heaps, fallbacks.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/backends/cuda_fixture.h"
#include "timeline/clock.h"
#include "timeline/validator.h"

using namespace std::chrono_literals;
using ut::test::AddArgs;
using ut::test::FillArgs;

namespace {

class CudaBackend : public ut::test::CudaTest {};

TEST(CudaProbe, ReportsAvailabilityWithAReason) {
  // Runs everywhere (CI has no GPU): probing must never crash and must explain a "no".
  const ut::BackendInfo info = ut::cuda::probe();
  EXPECT_EQ(info.name, "cuda");
  if (!info.available) {
    EXPECT_FALSE(info.reason.empty());
    std::printf("cuda backend unavailable here: %s\n", info.reason.c_str());
    EXPECT_THROW(ut::cuda::make_device({}), ut::BackendError);
  }
  bool listed = false;
  for (const auto& b : ut::Device::backends()) listed = listed || b.name == "cuda";
  EXPECT_TRUE(listed);
}

TEST_F(CudaBackend, CapsDescribeTheCard) {
  const auto& c = dev->caps();
  EXPECT_EQ(c.backend, "cuda");
  EXPECT_TRUE(c.is_gpu);
  EXPECT_FALSE(c.name.empty());
  EXPECT_GT(c.compute_units, 0u);
  EXPECT_GT(c.memory_total, 0u);
  EXPECT_GT(c.memory_free, 0u);
  EXPECT_TRUE(c.zero_copy_shared_heaps);
  EXPECT_TRUE(c.gpu_side_events);
  EXPECT_LE(c.native_priority_high, c.native_priority_low);
  EXPECT_NE(c.driver.find("CUDA driver"), std::string::npos) << c.driver;
  for (auto& n : c.notes) std::printf("  note: %s\n", n.c_str());
  const auto fresh = dev->refresh_caps();
  EXPECT_GT(fresh.memory_free, 0u);
  EXPECT_LE(fresh.memory_free, fresh.memory_total);
}

TEST_F(CudaBackend, QueuePrioritiesFollowKinds) {
  auto render = dev->make_queue({.kind = ut::QueueKind::render});
  auto compute = dev->make_queue({.kind = ut::QueueKind::compute});
  auto transfer = dev->make_queue({.kind = ut::QueueKind::transfer});
  const auto& c = dev->caps();
  // CUDA: a lower number is a higher priority.
  EXPECT_EQ(render->native_priority(), c.native_priority_high);
  EXPECT_EQ(transfer->native_priority(), c.native_priority_low);
  EXPECT_LE(render->native_priority(), compute->native_priority());
  EXPECT_LE(compute->native_priority(), transfer->native_priority());
  EXPECT_EQ(render->stats().native_priority, render->native_priority());
  EXPECT_NE(ut::cuda::native_stream(*render), nullptr);
}

TEST_F(CudaBackend, MemoryAndNvmlStats) {
  const auto s = ut::cuda::nvml_stats(0);
  if (s.available) {
    ASSERT_TRUE(s.memory_total.has_value());
    EXPECT_GT(*s.memory_total, 0u);
    EXPECT_TRUE(s.gpu_utilization_percent.has_value());
    std::printf("  NVML: util %u%%, memory used %llu of %llu bytes\n", s.gpu_utilization_percent.value_or(0),
                static_cast<unsigned long long>(s.memory_used.value_or(0)),
                static_cast<unsigned long long>(*s.memory_total));
  } else {
    EXPECT_FALSE(s.reason.empty());
    std::printf("  NVML absent: %s\n", s.reason.c_str());
  }
  // A device heap shows up in cudaMemGetInfo.
  const auto before = dev->refresh_caps().memory_free;
  auto heap = dev->make_heap({.size = 256u << 20, .mode = ut::StorageMode::device, .label = "big"});
  const auto after = dev->refresh_caps().memory_free;
  EXPECT_LT(after, before);
}

TEST_F(CudaBackend, ZeroCopyKernelReadsHostWrittenSharedHeap) {
  const std::size_t n = 1 << 20;
  auto heap = dev->make_heap({.size = 2 * n * 4 + 4096, .mode = ut::StorageMode::shared, .label = "zc"});
  auto in = heap->allocate(n * 4, 256, "in");
  auto out = heap->allocate(n * 4, 256, "out");
  ASSERT_NE(heap->memory().host, nullptr);
  EXPECT_EQ(in.contents(), static_cast<std::byte*>(heap->memory().host) + in.offset());
  std::vector<uint32_t> src(n);
  for (auto& v : src) v = static_cast<uint32_t>(rng());
  std::memcpy(in.contents(), src.data(), n * 4);                       // the host writes in place
  std::fill(out.span<uint32_t>().begin(), out.span<uint32_t>().end(), 0xDEADBEEFu);  // poison
  const uint32_t k = static_cast<uint32_t>(rng() % 1000) + 1;
  auto q = dev->make_queue({});
  auto cb = q->make_command_buffer("zero-copy");
  cb.dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({in, out}, AddArgs{k}));  // no copy command
  cb.commit();
  ASSERT_TRUE(cb.wait_until_completed(30s));
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out.span<uint32_t>()[i], src[i] + k) << i;
}

TEST_F(CudaBackend, CopyEngineOverlapsComputeCorrectly) {
  // A pipeline of chunks: H2D on transfer, add on compute, D2H on a second transfer queue, all chained by events,
  // so copies of chunk i+1 overlap the kernel of chunk i. Every output element is checked.
  const std::size_t chunks = 16, n = 1 << 20, bytes = n * 4;
  auto host_in = dev->make_buffer(chunks * bytes, ut::StorageMode::shared, "host_in");
  auto host_out = dev->make_buffer(chunks * bytes, ut::StorageMode::shared, "host_out");
  for (auto& v : host_in.span<uint32_t>()) v = static_cast<uint32_t>(rng());
  std::fill(host_out.span<uint32_t>().begin(), host_out.span<uint32_t>().end(), 0xDEADBEEFu);
  auto up = dev->make_queue({.kind = ut::QueueKind::transfer, .label = "up"});
  auto down = dev->make_queue({.kind = ut::QueueKind::transfer, .label = "down"});
  auto comp = dev->make_queue({.kind = ut::QueueKind::compute, .label = "comp"});
  auto e_up = dev->make_event("E_up"), e_comp = dev->make_event("E_comp");
  const uint32_t k = 7;
  // Kernels need whole buffers: one device buffer per chunk, in one heap each for in and out.
  auto in_heap = dev->make_heap({.size = chunks * bytes, .mode = ut::StorageMode::device});
  auto out_heap = dev->make_heap({.size = chunks * bytes, .mode = ut::StorageMode::device});
  std::vector<ut::Buffer> din, dout;
  for (std::size_t c = 0; c < chunks; ++c) {
    din.push_back(in_heap->allocate(bytes));
    dout.push_back(out_heap->allocate(bytes));
  }
  std::vector<ut::CommandBuffer> last;
  for (std::size_t c = 0; c < chunks; ++c) {
    const uint64_t v = c + 1;
    auto a = up->make_command_buffer("h2d");
    a.copy(host_in, c * bytes, din[c], 0, bytes).signal(e_up, v).commit();
    auto b = comp->make_command_buffer("add");
    b.wait(e_up, v).dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({din[c], dout[c]}, AddArgs{k}))
        .signal(e_comp, v).commit();
    auto d = down->make_command_buffer("d2h");
    d.wait(e_comp, v).copy(dout[c], 0, host_out, c * bytes, bytes).commit();
    last.push_back(d);
  }
  for (auto& d : last) ASSERT_TRUE(d.wait_until_completed(60s));
  const auto* in = host_in.span<uint32_t>().data();
  const auto* out = host_out.span<uint32_t>().data();
  for (std::size_t i = 0; i < chunks * n; ++i) ASSERT_EQ(out[i], in[i] + k) << i;
  // The copy engine ran alongside compute: with 16 chunks, some upload overlaps some kernel in the trace. Each
  // upload (4 MiB) takes far longer than its chunk's kernel, so the kernel of chunk i runs while the upload of
  // chunk i+1 does, unless the two queues were serialised.
  int overlaps = 0;
  auto recs = dev->trace().snapshot();
  for (auto& x : recs)
    for (auto& y : recs)
      if (x.queue_label == "up" && y.queue_label == "comp" && x.start_ns < y.end_ns && y.start_ns < x.end_ns)
        ++overlaps;
  std::printf("  copy/compute overlaps in the trace: %d\n", overlaps);
  EXPECT_GT(overlaps, 0) << "no upload overlapped a kernel: the transfer and compute queues ran one after the other";
}

TEST_F(CudaBackend, GraphReplaysARepeatedCommandBuffer) {
  const std::size_t n = 1 << 16;
  auto in = dev->make_buffer(n * 4, ut::StorageMode::shared, "in");
  auto mid = dev->make_buffer(n * 4, ut::StorageMode::device, "mid");
  auto out = dev->make_buffer(n * 4, ut::StorageMode::shared, "out");
  auto q = dev->make_queue({.kind = ut::QueueKind::render, .label = "Q_render"});
  auto tick = dev->make_event("E_tick");
  ut::cuda::replay_as_graph(*q, "tick");
  auto run = [&](uint64_t t, uint32_t k) {
    for (auto& v : in.span<uint32_t>()) v = static_cast<uint32_t>(rng());  // new contents every tick
    std::fill(out.span<uint32_t>().begin(), out.span<uint32_t>().end(), 0xDEADBEEFu);
    auto cb = q->make_command_buffer("tick");
    cb.dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({in, mid}, AddArgs{k}))
        .dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({mid, out}, AddArgs{1}))
        .signal(tick, t);  // the event value changes every tick: signals stay outside the graph
    cb.commit();
    ASSERT_TRUE(cb.wait_until_completed(30s));
    EXPECT_EQ(tick->signaled_value(), t);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out.span<uint32_t>()[i], in.span<uint32_t>()[i] + k + 1) << "tick " << t << " i " << i;
  };
  for (uint64_t t = 1; t <= 50; ++t) run(t, 5);
  auto s = ut::cuda::graph_stats(*q);
  EXPECT_EQ(s.captures, 1u);
  EXPECT_EQ(s.replays, 49u);
  run(51, 9);  // different constants: a new capture, still correct
  s = ut::cuda::graph_stats(*q);
  EXPECT_EQ(s.captures, 2u);
  // Other labels are not captured.
  auto other = q->make_command_buffer("other");
  other.dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({in, out}, AddArgs{1})).commit();
  ASSERT_TRUE(other.wait_until_completed(30s));
  EXPECT_EQ(ut::cuda::graph_stats(*q).captures, 2u);
}

TEST_F(CudaBackend, NotifyListenerMayCommitCudaWork) {
  // Listeners of GPU-signalled events run on the completion thread, so they may call CUDA.
  auto q1 = dev->make_queue({.label = "q1"});
  auto q2 = dev->make_queue({.label = "q2"});
  auto e = dev->make_event("E_stage1"), done = dev->make_event("E_stage2");
  auto buf = dev->make_buffer(4096 * 4, ut::StorageMode::shared, "buf");
  e->notify(1, [&](uint64_t) {
    auto cb = q2->make_command_buffer("stage2");
    cb.dispatch("ut_test.fill", ut::Grid{4096}, ut::DispatchArgs::make({buf}, FillArgs{11, 2})).signal(done, 1).commit();
  });
  auto cb = q1->make_command_buffer("stage1");
  cb.signal(e, 1).commit();
  ASSERT_TRUE(done->wait(1, 30s));
  for (std::size_t i = 0; i < 4096; ++i) ASSERT_EQ(buf.span<uint32_t>()[i], 11 + 2 * i);
}

TEST_F(CudaBackend, DeviceHeapBeyondFreeMemoryIsAClearOutOfMemory) {
  const auto total = dev->caps().memory_total;
  try {
    dev->make_heap({.size = total * 2, .mode = ut::StorageMode::device, .label = "too_big"});
    FAIL() << "expected OutOfMemoryError";
  } catch (const ut::OutOfMemoryError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("too_big"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaMemGetInfo"), std::string::npos) << msg;
  }
  auto d = dev->make_buffer(64, ut::StorageMode::device, "private");
  EXPECT_THROW((void)d.contents(), ut::UsageError);
  EXPECT_FALSE(ut::cuda::device_lost(*dev));
}

TEST_F(CudaBackend, HostMemoryOfAnotherBackendIsRejectedBeforeTheGpuSeesIt) {
  auto cpu = ut::Device::create({.backend = "cpu"});
  auto foreign = cpu->make_buffer(1024 * 4, ut::StorageMode::shared, "cpu_buf");
  auto q = dev->make_queue({});
  auto cb = q->make_command_buffer("bad");
  cb.dispatch("ut_test.fill", ut::Grid{1024}, ut::DispatchArgs::make({foreign}, FillArgs{1, 1})).commit();
  try {
    cb.wait_until_completed();
    FAIL() << "expected CommandError";
  } catch (const ut::CommandError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot address"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ut::cuda::device_lost(*dev));
}

class CudaKernelEvents : public ut::test::CudaTest {
 protected:
  ut::cuda::Options options() override { return {.kernel_events = true}; }
};

TEST_F(CudaKernelEvents, FallbackKeepsCrossStreamAndHostSemantics) {
  bool noted = false;
  for (auto& n : dev->caps().notes) noted = noted || n.find("kernel fallback") != std::string::npos;
  EXPECT_TRUE(noted);
  const std::size_t n = 1 << 16;
  auto a = dev->make_buffer(n * 4, ut::StorageMode::device, "a");
  auto out = dev->make_buffer(n * 4, ut::StorageMode::shared, "out");
  auto q1 = dev->make_queue({.label = "q1"}), q2 = dev->make_queue({.label = "q2"});
  auto gate = dev->make_event("gate"), e = dev->make_event("E"), f = dev->make_event("F");
  auto c2 = q2->make_command_buffer("consumer");
  c2.wait(e, 1).dispatch("ut_test.add_u32", ut::Grid{n}, ut::DispatchArgs::make({a, out}, AddArgs{3})).signal(f, 1).commit();
  auto c1 = q1->make_command_buffer("producer");
  c1.wait(gate, 1).dispatch("ut_test.fill", ut::Grid{n}, ut::DispatchArgs::make({a}, FillArgs{100, 1})).signal(e, 1).commit();
  EXPECT_FALSE(c2.wait_until_completed(50ms));
  gate->signal(1);  // host signal releases a GPU-side (kernel) wait
  ASSERT_TRUE(f->wait(1, 30s));
  ASSERT_TRUE(c2.wait_until_completed(30s));
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out.span<uint32_t>()[i], 100 + i + 3) << i;
}

class CudaValidation : public ut::test::CudaTest {
 protected:
  ut::DeviceDesc desc() override { return {.validation = true, .unsatisfiable_wait_grace = std::chrono::milliseconds(300)}; }
};

TEST_F(CudaValidation, CycleAndUnsatisfiableWaitFailInsteadOfHanging) {
  auto q1 = dev->make_queue({.label = "q1"}), q2 = dev->make_queue({.label = "q2"});
  auto e1 = dev->make_event("E1"), e2 = dev->make_event("E2"), never = dev->make_event("E_never");
  auto a = q1->make_command_buffer("a");
  a.wait(e2, 1).signal(e1, 1).commit();
  auto b = q2->make_command_buffer("b");
  b.wait(e1, 1).signal(e2, 1).commit();
  EXPECT_THROW(b.wait_until_completed(30s), ut::ValidationError);  // a timeout would return false instead
  EXPECT_ANY_THROW(a.wait_until_completed(30s));
  auto q3 = dev->make_queue({.label = "q3"});
  auto c = q3->make_command_buffer("c");
  c.wait(never, 1).commit();
  EXPECT_THROW(c.wait_until_completed(30s), ut::ValidationError);
  EXPECT_FALSE(dev->validator()->findings().empty());
}

}  // namespace
