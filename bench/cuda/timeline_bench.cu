// GPU measurements for `ut bench timeline` (see timeline_bench.h). Every figure that has a raw-CUDA counterpart
// is measured against it in the same run, interleaved, so that the ratio is meaningful.
//
// Clocks: GPU-side times come from %globaltimer (ns). One-way host<->GPU latencies need the offset between
// globaltimer and the host's steady clock: a kernel keeps writing globaltimer into pinned memory while the host
// reads it; min(host_now - gpu_value) is the offset plus the fastest PCIe delivery. It is taken before and after
// each phase and interpolated (the two clocks drift by a few ppm). GPU->host figures are therefore slightly low
// and host->GPU figures slightly high, by that fastest delivery (well under a microsecond); their sum is exact.
#include "bench/cuda/timeline_bench.h"

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "backends/cuda/device.h"
#include "bench/cuda/bench_util.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/kernel.h"

namespace ut::bench {
namespace {

using namespace std::chrono_literals;
using cudab::check;
using cudab::Dist;

// ---- (1) GPU -> GPU across two streams ----------------------------------------------------------------------------
nlohmann::json gpu_to_gpu(Device& dev, cudab::Raw& raw, int iters) {
  auto qa = dev.make_queue({.kind = QueueKind::compute, .label = "bench.A"});
  auto qb = dev.make_queue({.kind = QueueKind::compute, .label = "bench.B"});
  auto stamps = dev.make_buffer(sizeof(uint64_t) * 4, StorageMode::shared, "bench.stamps");
  uint64_t* st = stamps.span<uint64_t>().data();
  std::vector<double> ours, raws;
  auto e = dev.make_event("bench.E");
  cudaStream_t sa = raw.stream(0), sb = raw.stream(1);
  uint64_t* word = raw.word(0);
  const int warm = 20;
  for (int i = 1; i <= iters + warm; ++i) {
    // Ours: A (spin, stamp globaltimer, signal) is committed first, so that B's wait goes to the GPU at once
    // (a wait is enqueued after its producer); A's 100 us spin makes B park on the GPU before the signal fires.
    auto a = qa->make_command_buffer("A");
    a.dispatch("ut_bench.spin", Grid{1}, DispatchArgs::make({}, cudab::SpinArgs{100'000, 1, 32}))
        .dispatch("ut_bench.stamp", Grid{1}, DispatchArgs::make({stamps}, cudab::StampArgs{0}))
        .signal(e, static_cast<uint64_t>(i));
    a.commit();
    auto b = qb->make_command_buffer("B");
    b.wait(e, static_cast<uint64_t>(i)).dispatch("ut_bench.stamp", Grid{1}, DispatchArgs::make({stamps}, cudab::StampArgs{1}));
    b.commit();
    b.wait_until_completed();
    a.wait_until_completed();
    if (i > warm) ours.push_back(static_cast<double>(st[1] - st[0]) / 1e3);
    // Raw: the same shape with cuStreamWriteValue64 / cuStreamWaitValue64 on two plain streams.
    cudab::launch_spin(sa, 100'000, 1, 32);
    cudab::launch_stamp(sa, raw.stamp(0));
    check(raw.api.write64(sa, cudab::dptr(word), static_cast<uint64_t>(i), 0), "cuStreamWriteValue64");
    check(raw.api.wait64(sb, cudab::dptr(word), static_cast<uint64_t>(i), CU_STREAM_WAIT_VALUE_GEQ), "cuStreamWaitValue64");
    cudab::launch_stamp(sb, raw.stamp(1));
    check(cudaStreamSynchronize(sb), "cudaStreamSynchronize");
    check(cudaStreamSynchronize(sa), "cudaStreamSynchronize");
    if (i > warm) raws.push_back(static_cast<double>(*raw.stamp(1) - *raw.stamp(0)) / 1e3);
  }
  const Dist o = cudab::dist(ours), r = cudab::dist(raws);
  return {{"shared_event", cudab::to_json(o)},
          {"raw_stream_memops", cudab::to_json(r)},
          {"ratio_p50", o.p50 / r.p50},
          {"ratio_p99", o.p99 / r.p99},
          {"method", "A: spin 100us, stamp globaltimer, signal; B (another stream, already waiting): wait, stamp. "
                     "Latency = B stamp - A stamp, on the GPU clock. Raw: the same with cuStreamWriteValue64/"
                     "cuStreamWaitValue64 on two plain streams, interleaved with ours."}};
}

// ---- (2) GPU -> host and (3) host -> GPU -------------------------------------------------------------------------
nlohmann::json gpu_to_host(Device& dev, cudab::Raw& raw, int iters) {
  auto q = dev.make_queue({.kind = QueueKind::compute, .label = "bench.notify"});
  auto stamps = dev.make_buffer(sizeof(uint64_t) * 4, StorageMode::shared, "bench.stamps");
  uint64_t* st = stamps.span<uint64_t>().data();
  auto e = dev.make_event("bench.notify");
  cudab::Calibration cal0 = raw.calibrate();
  std::vector<double> notify, wake, spin;
  std::vector<uint64_t> gpu_t, t_notify, t_wake, gpu_raw, t_raw;
  std::atomic<uint64_t> wake_at{0};
  const int warm = 10;
  for (int i = 1; i <= iters + warm; ++i) {
    const uint64_t v = static_cast<uint64_t>(i);
    auto done = dev.make_event();
    std::atomic<uint64_t> notified{0};
    e->notify(v, [&, done](uint64_t) {
      notified = now_ns();
      done->signal(1);
    });
    auto ready = dev.make_event();
    std::thread waiter([&] {
      ready->signal(1);
      e->wait(v);
      wake_at = now_ns();
    });
    ready->wait(1);  // the GPU spins 200 us below: the waiter is blocked well before the signal
    auto cb = q->make_command_buffer("notify");
    cb.dispatch("ut_bench.spin", Grid{1}, DispatchArgs::make({}, cudab::SpinArgs{200'000, 1, 32}))
        .dispatch("ut_bench.stamp", Grid{1}, DispatchArgs::make({stamps}, cudab::StampArgs{0}))
        .signal(e, v);
    cb.commit();
    done->wait(1);
    waiter.join();
    cb.wait_until_completed();
    // Raw: the host spins on the word the GPU writes (a measurement-only busy loop).
    cudaStream_t s = raw.stream(0);
    uint64_t* word = raw.word(1);
    cudab::launch_spin(s, 200'000, 1, 32);
    cudab::launch_stamp(s, raw.stamp(2));
    check(raw.api.write64(s, cudab::dptr(word), v, 0), "cuStreamWriteValue64");
    while (std::atomic_ref<uint64_t>(*word).load(std::memory_order_acquire) < v) {
    }
    const uint64_t t_spin = now_ns();
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    if (i > warm) {
      gpu_t.push_back(st[0]);
      t_notify.push_back(notified.load());
      t_wake.push_back(wake_at.load());
      gpu_raw.push_back(*raw.stamp(2));
      t_raw.push_back(t_spin);
    }
  }
  cudab::Calibration cal1 = raw.calibrate();
  for (std::size_t k = 0; k < gpu_t.size(); ++k) {
    notify.push_back(cudab::host_minus_gpu_us(t_notify[k], gpu_t[k], cal0, cal1));
    wake.push_back(cudab::host_minus_gpu_us(t_wake[k], gpu_t[k], cal0, cal1));
    spin.push_back(cudab::host_minus_gpu_us(t_raw[k], gpu_raw[k], cal0, cal1));
  }
  const Dist n = cudab::dist(notify), w = cudab::dist(wake), r = cudab::dist(spin);
  return {{"notify_listener", cudab::to_json(n)},
          {"host_wait_wakeup", cudab::to_json(w)},
          {"raw_host_spin_on_word", cudab::to_json(r)},
          {"notify_minus_raw_p50_us", n.p50 - r.p50},
          {"clock_offset_drift_us", static_cast<double>(cal1.offset_ns - cal0.offset_ns) / 1e3},
          {"method", "GPU stamps globaltimer then signals; host time of the notify listener / of a thread blocked "
                     "in SharedEvent::wait, minus the stamp mapped to the host clock (calibrated). Raw: a host "
                     "busy-loop on a word written by cuStreamWriteValue64."}};
}

nlohmann::json host_to_gpu(Device& dev, cudab::Raw& raw, int iters) {
  auto q = dev.make_queue({.kind = QueueKind::compute, .label = "bench.release"});
  auto stamps = dev.make_buffer(sizeof(uint64_t) * 4, StorageMode::shared, "bench.stamps");
  uint64_t* st = stamps.span<uint64_t>().data();
  auto g = dev.make_event("bench.gate");
  cudab::Calibration cal0 = raw.calibrate();
  std::vector<uint64_t> t_sig, gpu_t, t_sig_raw, gpu_raw;
  const int warm = 10;
  for (int i = 1; i <= iters + warm; ++i) {
    const uint64_t v = static_cast<uint64_t>(i);
    auto cb = q->make_command_buffer("gated");
    cb.wait(g, v).dispatch("ut_bench.stamp", Grid{1}, DispatchArgs::make({stamps}, cudab::StampArgs{0}));
    cb.commit();
    std::this_thread::sleep_for(200us);  // the GPU is parked on the wait
    const uint64_t t0 = now_ns();
    g->signal(v);
    cb.wait_until_completed();
    // Raw: cuStreamWaitValue64 on a pinned word, released by a plain host store.
    cudaStream_t s = raw.stream(0);
    uint64_t* word = raw.word(2);
    check(raw.api.wait64(s, cudab::dptr(word), v, CU_STREAM_WAIT_VALUE_GEQ), "cuStreamWaitValue64");
    cudab::launch_stamp(s, raw.stamp(3));
    std::this_thread::sleep_for(200us);
    const uint64_t t1 = now_ns();
    std::atomic_ref<uint64_t>(*word).store(v, std::memory_order_release);
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    if (i > warm) {
      t_sig.push_back(t0);
      gpu_t.push_back(st[0]);
      t_sig_raw.push_back(t1);
      gpu_raw.push_back(*raw.stamp(3));
    }
  }
  cudab::Calibration cal1 = raw.calibrate();
  std::vector<double> ours, raws;
  for (std::size_t k = 0; k < gpu_t.size(); ++k) {
    ours.push_back(-cudab::host_minus_gpu_us(t_sig[k], gpu_t[k], cal0, cal1));
    raws.push_back(-cudab::host_minus_gpu_us(t_sig_raw[k], gpu_raw[k], cal0, cal1));
  }
  const Dist o = cudab::dist(ours), r = cudab::dist(raws);
  return {{"shared_event", cudab::to_json(o)},
          {"raw_host_store", cudab::to_json(r)},
          {"ratio_p50", o.p50 / r.p50},
          {"method", "host SharedEvent::signal at t0 releases a queue waiting on it (the CUDA backend parks such a "
                     "buffer on the host and resumes it from the completion thread); a kernel after the wait stamps "
                     "globaltimer (mapped to the host clock). Raw: cuStreamWaitValue64 released by a host store "
                     "(not deadlock-safe in general: see backends/cuda/device.h)."}};
}

}  // namespace

nlohmann::json cuda_timeline_bench(const CudaBenchOptions& options) {
  cudab::register_bench_kernels();
  const int iters = options.iterations > 0 ? options.iterations : (options.quick ? 200 : 1000);
  auto dev = ut::cuda::make_device({.device_index = options.device_index});
  cudab::Raw raw(options.device_index);
  const auto& caps = dev->caps();
  nlohmann::json j;
  j["card"] = caps.name;
  j["sm_count"] = caps.compute_units;
  j["driver"] = caps.driver;
  j["memory_total"] = caps.memory_total;
  j["priority_range"] = {caps.native_priority_low, caps.native_priority_high};
  j["gpu_side_events"] = caps.notes.empty() ? "" : caps.notes.front();
  j["iterations"] = iters;
  j["quick"] = options.quick;
  auto phase = [&](const char* name, auto&& fn) {
    try {
      j[name] = fn();
    } catch (const std::exception& ex) {
      j[name] = {{"error", ex.what()}};
      std::fprintf(stderr, "bench %s failed: %s\n", name, ex.what());
    }
  };
  phase("gpu_to_gpu_event", [&] { return gpu_to_gpu(*dev, raw, iters); });
#ifdef UT_BENCH_INTEROP
  phase("cross_api_event", [&] { return cudab::cross_api_round_trip(*dev, raw, iters); });
#endif
  phase("gpu_to_host", [&] { return gpu_to_host(*dev, raw, iters); });
  phase("host_to_gpu", [&] { return host_to_gpu(*dev, raw, iters); });
  phase("qos", [&] { return cudab::qos(*dev, raw, options.quick ? 100 : 300); });
  phase("copy_compute_overlap", [&] { return cudab::overlap(*dev, options.quick); });
  if (auto s = ut::cuda::nvml_stats(options.device_index); s.available) {
    j["nvml"] = {{"gpu_utilization_percent", s.gpu_utilization_percent.value_or(0)},
                 {"memory_used", s.memory_used.value_or(0)},
                 {"temperature_c", s.temperature_c.value_or(0)},
                 {"power_mw", s.power_mw.value_or(0)}};
  } else {
    j["nvml"] = {{"skipped", s.reason}};
  }
  if (options.print) cudab::print_summary(j);
  return j;
}

}  // namespace ut::bench
