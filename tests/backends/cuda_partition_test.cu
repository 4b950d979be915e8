// The SM partition (DeviceDesc::reserve_sms, green contexts): kernels of reserved and work queues run on disjoint
// SMs, and a stream that other code creates through the runtime on a thread bound to the work partition (what
// llama.cpp's CUDA backend does on the ML lane's threads) lands in that partition too. Placement is read from
// the SM id each block runs on (%smid), not inferred from timing.
#include <cuda.h>
#include <cuda_runtime_api.h>

#include <set>
#include <thread>
#include <vector>

#include "tests/backends/cuda_fixture.h"

#define UT_EXPECT_CUDA(call)                                                      \
  do {                                                                            \
    const cudaError_t e_ = (call);                                                \
    EXPECT_EQ(e_, cudaSuccess) << #call << ": " << cudaGetErrorString(e_);        \
  } while (0)

namespace {

__global__ void record_smid(unsigned* out) {
  if (threadIdx.x == 0) {
    unsigned id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    out[blockIdx.x] = id;
  }
  // Hold the SM a little, so the scheduler spreads the blocks over every SM it may use.
  const long long t0 = clock64();
  while (clock64() - t0 < 20000) {
  }
}

// Runs many blocks on `stream` and returns the SM ids they ran on.
std::set<unsigned> sms_used(cudaStream_t stream, unsigned blocks) {
  unsigned* d = nullptr;
  UT_EXPECT_CUDA(cudaMallocAsync(&d, blocks * sizeof(unsigned), stream));
  record_smid<<<blocks, 64, 0, stream>>>(d);
  std::vector<unsigned> h(blocks);
  UT_EXPECT_CUDA(cudaMemcpyAsync(h.data(), d, blocks * sizeof(unsigned), cudaMemcpyDeviceToHost, stream));
  UT_EXPECT_CUDA(cudaFreeAsync(d, stream));
  UT_EXPECT_CUDA(cudaStreamSynchronize(stream));
  return {h.begin(), h.end()};
}

class CudaPartition : public ut::test::CudaTest {
 protected:
  ut::DeviceDesc desc() override { return {.reserve_sms = 8}; }
};

TEST_F(CudaPartition, ReservedAndWorkQueuesRunOnDisjointSms) {
  const auto& p = dev->caps().partition;
  if (!p.active) UT_SKIP_NO_GPU("no SM partition on this device: " + p.mode);
  EXPECT_GE(p.reserved_sms, 8u);
  EXPECT_EQ(p.reserved_sms + p.work_sms, dev->caps().compute_units);
  auto render = dev->make_queue({.kind = ut::QueueKind::render, .partition = ut::SmPartition::reserved});
  auto ml = dev->make_queue({.kind = ut::QueueKind::compute, .partition = ut::SmPartition::work});
  auto whole = dev->make_queue({.kind = ut::QueueKind::compute});
  EXPECT_EQ(render->partition(), ut::SmPartition::reserved);
  const unsigned blocks = dev->caps().compute_units * 8;
  const auto r = sms_used(static_cast<cudaStream_t>(ut::cuda::native_stream(*render)), blocks);
  const auto w = sms_used(static_cast<cudaStream_t>(ut::cuda::native_stream(*ml)), blocks);
  const auto a = sms_used(static_cast<cudaStream_t>(ut::cuda::native_stream(*whole)), blocks);
  EXPECT_LE(r.size(), p.reserved_sms);
  EXPECT_LE(w.size(), p.work_sms);
  EXPECT_GT(w.size(), p.work_sms / 2) << "work kernels should spread over the work SMs";
  for (unsigned sm : r) EXPECT_EQ(w.count(sm), 0u) << "SM " << sm << " ran reserved and work blocks";
  EXPECT_GT(a.size(), w.size()) << "a queue without a partition uses the whole device";
}

TEST_F(CudaPartition, RuntimeStreamsOfABoundThreadLandInThePartition) {
  const auto& p = dev->caps().partition;
  if (!p.active) UT_SKIP_NO_GPU("no SM partition on this device: " + p.mode);
  auto render = dev->make_queue({.kind = ut::QueueKind::render, .partition = ut::SmPartition::reserved});
  const unsigned blocks = dev->caps().compute_units * 8;
  const auto reserved = sms_used(static_cast<cudaStream_t>(ut::cuda::native_stream(*render)), blocks);
  std::set<unsigned> bound;
  bool in_green_ctx = false;
  std::thread t([&] {
    // What a library does on the ML lane's thread after the engine bound it: plain runtime calls.
    ASSERT_TRUE(dev->bind_current_thread(ut::SmPartition::work));
    cudaStream_t s = nullptr;
    UT_EXPECT_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    bound = sms_used(s, blocks);
    in_green_ctx = ut::cuda::stream_in_partition(s);
    UT_EXPECT_CUDA(cudaStreamDestroy(s));
  });
  t.join();
  EXPECT_TRUE(in_green_ctx) << "the runtime stream belongs to a green context";
  EXPECT_LE(bound.size(), p.work_sms);
  for (unsigned sm : reserved) EXPECT_EQ(bound.count(sm), 0u) << "SM " << sm << " is reserved";
}

TEST(CudaPartitionOff, DevicesWithoutReservationSayThePartitionIsOff) {
  UT_SKIP_WITHOUT_CUDA();
  auto dev = ut::cuda::make_device({});
  EXPECT_FALSE(dev->caps().partition.active);
  EXPECT_FALSE(dev->bind_current_thread(ut::SmPartition::work));
  auto q = dev->make_queue({.kind = ut::QueueKind::compute, .partition = ut::SmPartition::work});
  EXPECT_EQ(q->partition(), ut::SmPartition::any);
}

}  // namespace
