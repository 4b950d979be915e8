// `ut bench timeline`: the core's own costs, measured and saved (never pass/fail).
//   - host signal -> blocked host thread wake-up latency
//   - host signal -> blocked queue wait release latency, and queue -> queue event latency
//   - command-buffer encode+commit overhead and end-to-end throughput
//   - ring-buffer throughput (one producer, one consumer thread)
// GPU figures (CUDA builds with a GPU) come from bench/cuda and are added to the same report.
// Every sample goes into the report (bench/report.h); the console shows p50/p99.
#include "bench/timeline/timeline_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "bench/report.h"
#include "bench/stats.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/ring_buffer.h"
#ifdef UT_HAVE_CUDA
#include "bench/cuda/cuda_report.h"
#include "bench/cuda/timeline_bench.h"
#endif

namespace ut::bench {
namespace {

using namespace std::chrono_literals;

// Signal -> a host thread blocked in SharedEvent::wait wakes up.
std::vector<double> host_wake_latency(Device& dev, int iters) {
  auto e = dev.make_event("bench.wake");
  std::atomic<uint64_t> t_signal{0};
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(iters));
  auto ready = dev.make_event("bench.ready");
  std::thread waiter([&] {
    for (int i = 1; i <= iters; ++i) {
      ready->signal(static_cast<uint64_t>(i));
      e->wait(static_cast<uint64_t>(i));
      us.push_back(static_cast<double>(now_ns() - t_signal.load()) / 1e3);
    }
  });
  for (int i = 1; i <= iters; ++i) {
    ready->wait(static_cast<uint64_t>(i));
    std::this_thread::sleep_for(50us);  // let the waiter block: we measure the blocked path, not the fast path
    t_signal = now_ns();
    e->signal(static_cast<uint64_t>(i));
  }
  waiter.join();
  return us;
}

// Host signal -> a queue blocked on wait() runs its next command.
std::vector<double> queue_release_latency(Device& dev, int iters) {
  auto q = dev.make_queue({.kind = QueueKind::compute, .label = "bench.q"});
  auto e = dev.make_event("bench.gate");
  std::vector<double> us(static_cast<std::size_t>(iters));
  std::atomic<uint64_t> t_signal{0};
  for (int i = 1; i <= iters; ++i) {
    auto cb = q->make_command_buffer();
    cb.wait(e, static_cast<uint64_t>(i))
        .host_task([&us, &t_signal, i] { us[static_cast<std::size_t>(i - 1)] = static_cast<double>(now_ns() - t_signal.load()) / 1e3; })
        .commit();
    std::this_thread::sleep_for(50us);
    t_signal = now_ns();
    e->signal(static_cast<uint64_t>(i));
    cb.wait_until_completed();
  }
  return us;
}

// Queue A signals, queue B (blocked on the wait) starts its next command.
std::vector<double> queue_to_queue_latency(Device& dev, int iters) {
  auto qa = dev.make_queue({.kind = QueueKind::compute, .label = "bench.a"});
  auto qb = dev.make_queue({.kind = QueueKind::render, .label = "bench.b"});
  auto e = dev.make_event("bench.x");
  std::vector<double> us(static_cast<std::size_t>(iters));
  std::vector<uint64_t> t_sig(static_cast<std::size_t>(iters));
  for (int i = 1; i <= iters; ++i) {
    const auto k = static_cast<std::size_t>(i - 1);
    auto b = qb->make_command_buffer();
    b.wait(e, static_cast<uint64_t>(i)).host_task([&, k] { us[k] = static_cast<double>(now_ns() - t_sig[k]) / 1e3; }).commit();
    std::this_thread::sleep_for(50us);
    auto a = qa->make_command_buffer();
    a.host_task([&, k] { t_sig[k] = now_ns(); }).signal(e, static_cast<uint64_t>(i)).commit();
    b.wait_until_completed();
  }
  return us;
}

struct Submit {
  std::vector<double> encode_commit_us;
  double buffers_per_s = 0;
};

Submit submit_overhead(Device& dev, int iters) {
  auto q = dev.make_queue({.kind = QueueKind::compute, .label = "bench.submit"});
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(iters));
  const uint64_t t0 = now_ns();
  for (int i = 0; i < iters; ++i) {
    const uint64_t a = now_ns();
    auto cb = q->make_command_buffer("s");
    cb.host_task([] {}).commit();
    us.push_back(static_cast<double>(now_ns() - a) / 1e3);
  }
  q->wait_idle();
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  return {std::move(us), static_cast<double>(iters) / secs};
}

double ring_throughput(uint64_t items) {
  RingBuffer<uint64_t> r(4096);
  const uint64_t t0 = now_ns();
  std::thread producer([&] {
    for (uint64_t i = 0; i < items;) {
      if (r.try_push(i)) ++i;
    }
    r.close();
  });
  uint64_t got = 0, sum = 0;
  while (auto v = r.pop_wait(10s)) {
    sum += *v;
    ++got;
  }
  producer.join();
  if (got != items || sum != items * (items - 1) / 2) throw Error("ring buffer lost or reordered items");
  return static_cast<double>(items) / (static_cast<double>(now_ns() - t0) / 1e9);
}

// Prints the distribution and records every sample under `case_name`.
void measured(Report& r, const char* case_name, const char* name, const std::vector<double>& us) {
  const Dist d = dist(us);
  std::printf("  %-48s p50 %8.1f us   p99 %8.1f us   (n=%zu)\n", name, d.p50, d.p99, d.n);
  r.add(case_name, "ours", "latency_us", "us", us);
}

// The GPU figures of bench/cuda where this build and machine have them; a note says why not otherwise.
void gpu_figures(Report& r, bool quick) {
#ifdef UT_HAVE_CUDA
  for (const auto& b : Device::backends()) {
    if (b.name != "cuda") continue;
    if (!b.available) {
      std::printf("GPU figures skipped: %s\n", b.reason.c_str());
      r.add_note("CUDA section skipped: " + b.reason);
      return;
    }
    CudaBenchOptions co;
    co.quick = quick;
    add_cuda_figures(r, cuda_timeline_bench(co));
  }
#else
  (void)quick;
  r.add_note("CUDA section skipped: this build has no CUDA backend");
#endif
}

}  // namespace

int run_timeline_bench(const TimelineBenchOptions& o) {
  auto dev = Device::create({.backend = o.backend.empty() ? "cpu" : o.backend});
  const int iters = o.quick ? 200 : 2000;
  const uint64_t ring_items = o.quick ? 1'000'000 : 20'000'000;
  Report r("timeline");
  r.set_device(dev->caps());
  r.config() = {{"quick", o.quick},
                {"host_backend", dev->caps().backend},
                {"iterations", iters},
                {"submit_iterations", iters * 10},
                {"ring_items", ring_items},
                {"ring_capacity", 4096}};

  std::printf("ut bench timeline — backend %s on %s\n", dev->caps().backend.c_str(), dev->caps().name.c_str());
  measured(r, "host_signal_to_thread_wake", "host signal -> blocked host thread wakes", host_wake_latency(*dev, iters));
  measured(r, "host_signal_to_queue_release", "host signal -> blocked queue runs next command",
           queue_release_latency(*dev, iters));
  measured(r, "queue_to_queue_event", "queue A signal -> queue B runs next command",
           queue_to_queue_latency(*dev, iters));
  const Submit sub = submit_overhead(*dev, iters * 10);
  measured(r, "command_buffer_encode_commit", "encode + commit one command buffer", sub.encode_commit_us);
  std::printf("  %-48s %10.0f buffers/s\n", "end-to-end throughput (one host task each)", sub.buffers_per_s);
  r.add("command_buffers_end_to_end", "ours", "command_buffers_per_s", "1/s", sub.buffers_per_s);
  const double ring = ring_throughput(ring_items);
  std::printf("  %-48s %10.1f M items/s\n", "ring buffer SPSC throughput (u64)", ring / 1e6);
  r.add("ring_buffer_one_producer_one_consumer", "ours", "items_per_s", "1/s", ring);

  gpu_figures(r, o.quick);
  const std::string path = o.json_path.empty() ? "ut-bench-timeline.json" : o.json_path;
  r.write(path);
  std::printf("saved %s\n", path.c_str());
  return 0;
}

}  // namespace ut::bench
