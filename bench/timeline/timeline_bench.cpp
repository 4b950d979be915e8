// `ut bench timeline`: the core's own costs, measured and saved (never pass/fail).
//   - host signal -> blocked host thread wake-up latency
//   - host signal -> blocked queue wait release latency, and queue -> queue event latency
//   - command-buffer encode+commit overhead and end-to-end throughput
//   - ring-buffer throughput (one producer, one consumer thread)
// GPU figures (CUDA builds with a GPU) come from bench/cuda and are added to the same JSON.
#include "bench/timeline/timeline_bench.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "bench/stats.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/host.h"
#include "timeline/ring_buffer.h"
#ifdef UT_HAVE_CUDA
#include "bench/cuda/timeline_bench.h"
#endif

namespace ut::bench {
namespace {

using namespace std::chrono_literals;

// Signal -> a host thread blocked in SharedEvent::wait wakes up.
Dist host_wake_latency(Device& dev, int iters) {
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
  return dist(std::move(us));
}

// Host signal -> a queue blocked on wait() runs its next command.
Dist queue_release_latency(Device& dev, int iters) {
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
  return dist(std::move(us));
}

// Queue A signals, queue B (blocked on the wait) starts its next command.
Dist queue_to_queue_latency(Device& dev, int iters) {
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
  return dist(std::move(us));
}

struct Submit {
  Dist encode_commit_us;
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
  return {dist(std::move(us)), static_cast<double>(iters) / secs};
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

void print_dist(const char* name, const Dist& d) {
  std::printf("  %-48s p50 %8.1f us   p99 %8.1f us   (n=%zu)\n", name, d.p50, d.p99, d.n);
}

}  // namespace

int run_timeline_bench(const TimelineBenchOptions& o) {
  auto dev = Device::create({.backend = o.backend.empty() ? "cpu" : o.backend});
  const int iters = o.quick ? 200 : 2000;
  nlohmann::json j;
  j["suite"] = "timeline";
  const HostInfo host = host_info();
  j["machine"] = {{"cpu", host.cpu_name}, {"cores", host.cores}};
  j["backend"] = dev->caps().backend;
  j["device"] = dev->caps().name;
  j["quick"] = o.quick;

  std::printf("ut bench timeline — backend %s on %s\n", dev->caps().backend.c_str(), dev->caps().name.c_str());
  const Dist wake = host_wake_latency(*dev, iters);
  print_dist("host signal -> blocked host thread wakes", wake);
  const Dist release = queue_release_latency(*dev, iters);
  print_dist("host signal -> blocked queue runs next command", release);
  const Dist q2q = queue_to_queue_latency(*dev, iters);
  print_dist("queue A signal -> queue B runs next command", q2q);
  const Submit sub = submit_overhead(*dev, iters * 10);
  print_dist("encode + commit one command buffer", sub.encode_commit_us);
  std::printf("  %-48s %10.0f buffers/s\n", "end-to-end throughput (one host task each)", sub.buffers_per_s);
  const double ring = ring_throughput(o.quick ? 1'000'000 : 20'000'000);
  std::printf("  %-48s %10.1f M items/s\n", "ring buffer SPSC throughput (u64)", ring / 1e6);

  j["host_signal_to_thread_wake"] = to_json(wake, "us");
  j["host_signal_to_queue_release"] = to_json(release, "us");
  j["queue_to_queue_event"] = to_json(q2q, "us");
  j["command_buffer_encode_commit"] = to_json(sub.encode_commit_us, "us");
  j["command_buffers_per_s"] = sub.buffers_per_s;
  j["ring_buffer_items_per_s"] = ring;

#ifdef UT_HAVE_CUDA
  for (const auto& b : Device::backends()) {
    if (b.name != "cuda") continue;
    if (!b.available) {
      std::printf("GPU figures skipped: %s\n", b.reason.c_str());
      j["cuda"] = {{"skipped", b.reason}};
      break;
    }
    CudaBenchOptions co;
    co.quick = o.quick;
    j["cuda"] = cuda_timeline_bench(co);
  }
#else
  j["cuda"] = {{"skipped", "this build has no CUDA backend"}};
#endif

  const std::string path = o.json_path.empty() ? "ut-bench-timeline.json" : o.json_path;
  std::ofstream f(path);
  if (!f) throw Error("cannot write '" + path + "'");
  f << j.dump(2) << '\n';
  std::printf("saved %s\n", path.c_str());
  return 0;
}

}  // namespace ut::bench
