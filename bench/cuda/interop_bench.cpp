// Cross-API event latency on one GPU, for `ut bench timeline`: a CUDA stream signals a Vulkan timeline semaphore
// that a Vulkan queue waits on; the Vulkan queue signals a second one back; the CUDA stream waits for it. Round trip
// on the GPU clock (%globaltimer stamps before the first signal and after the last wait), against the same round
// trip with raw cuStreamWriteValue64 / cuStreamWaitValue64 on two plain streams, interleaved in the same run.
#include <cstdio>
#include <vector>

#include "backends/cuda/device.h"
#include "backends/interop/cuda_vulkan.h"
#include "backends/vulkan/device.h"
#include "bench/cuda/bench_util.h"
#include "bench/cuda/timeline_bench.h"

namespace ut::bench::cudab {

nlohmann::json cross_api_round_trip(Device& cuda, Raw& raw, int iters) {
  const BackendInfo v = ut::vulkan::probe();
  if (!v.available) return {{"skipped", "no Vulkan device: " + v.reason}};
  auto vk = ut::vulkan::make_device({});
  if (const BackendInfo both = ut::interop::probe(cuda, *vk); !both.available) return {{"skipped", both.reason}};
  auto cq = cuda.make_queue({.kind = QueueKind::compute, .label = "bench.cuda"});
  auto vq = vk->make_queue({.kind = QueueKind::render, .label = "bench.vulkan"});
  auto there = vk->make_event("bench.E_to_vulkan"), back = vk->make_event("bench.E_back");
  ut::interop::share_event(cuda, *there);
  ut::interop::share_event(cuda, *back);
  auto stamps = cuda.make_buffer(sizeof(uint64_t) * 4, StorageMode::shared, "bench.stamps");
  uint64_t* st = stamps.span<uint64_t>().data();
  cudaStream_t sa = raw.stream(0), sb = raw.stream(1);
  uint64_t *w0 = raw.word(2), *w1 = raw.word(3);
  std::vector<double> ours, raws;
  const int warm = 20;
  for (int i = 1; i <= iters + warm; ++i) {
    const auto n = static_cast<uint64_t>(i);
    // The Vulkan side first: it parks until CUDA submits the signal, then waits on the GPU. CUDA's 200 us spin
    // leaves time for every wait of the chain to be on the GPU before the first stamp.
    vq->make_command_buffer("bounce").wait(there, n).signal(back, n).commit();
    auto a = cq->make_command_buffer("round trip");
    a.dispatch("ut_bench.spin", Grid{1}, DispatchArgs::make({}, SpinArgs{200'000, 1, 32}))
        .dispatch("ut_bench.stamp", Grid{1}, DispatchArgs::make({stamps}, StampArgs{0}))
        .signal(there, n)
        .wait(back, n)
        .dispatch("ut_bench.stamp", Grid{1}, DispatchArgs::make({stamps}, StampArgs{1}));
    a.commit();
    a.wait_until_completed();
    if (i > warm) ours.push_back(static_cast<double>(st[1] - st[0]) / 1e3);
    // Raw: stream A spins, stamps, writes w0 and waits for w1; stream B waits for w0 and writes w1.
    launch_spin(sa, 200'000, 1, 32);
    launch_stamp(sa, raw.stamp(0));
    check(raw.api.write64(sa, dptr(w0), n, 0), "cuStreamWriteValue64");
    check(raw.api.wait64(sb, dptr(w0), n, CU_STREAM_WAIT_VALUE_GEQ), "cuStreamWaitValue64");
    check(raw.api.write64(sb, dptr(w1), n, 0), "cuStreamWriteValue64");
    check(raw.api.wait64(sa, dptr(w1), n, CU_STREAM_WAIT_VALUE_GEQ), "cuStreamWaitValue64");
    launch_stamp(sa, raw.stamp(1));
    check(cudaStreamSynchronize(sa), "cudaStreamSynchronize");
    if (i > warm) raws.push_back(static_cast<double>(*raw.stamp(1) - *raw.stamp(0)) / 1e3);
  }
  const Dist o = dist(ours), r = dist(raws);
  return {{"vulkan_device", vk->caps().name},
          {"shared_semaphores", to_json(o)},
          {"raw_stream_memops", to_json(r)},
          {"ratio_p50", o.p50 / r.p50},
          {"ratio_p99", o.p99 / r.p99},
          {"method", "CUDA stream: spin 200us, stamp globaltimer, signal a Vulkan timeline semaphore (imported), wait "
                     "for a second one, stamp. Vulkan queue: wait for the first, signal the second (GPU-side "
                     "semaphore operations). Latency = round trip between the stamps. Raw: the same round trip with "
                     "cuStreamWriteValue64/cuStreamWaitValue64 between two plain streams, interleaved with ours."}};
}

}  // namespace ut::bench::cudab
