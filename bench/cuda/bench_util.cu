// Bench kernels, raw-CUDA baselines, clock calibration, and the QoS and copy/compute-overlap phases.
#include "bench/cuda/bench_util.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <deque>
#include <stdexcept>
#include <thread>

#include "backends/cuda/device.h"
#include "timeline/clock.h"
#include "timeline/kernel.h"

namespace ut::bench::cudab {


// ---- kernels -------------------------------------------------------------------------------------------------------
namespace {

__device__ __forceinline__ uint64_t gtimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void stamp_kernel(uint64_t* out) {
  *reinterpret_cast<volatile uint64_t*>(out) = gtimer();
  __threadfence_system();
}

__global__ void spin_kernel(uint64_t ns) {
  const uint64_t t0 = gtimer();
  while (gtimer() - t0 < ns) {
  }
}

__global__ void clock_writer_kernel(uint64_t* w, uint64_t ns) {
  const uint64_t t0 = gtimer();
  for (uint64_t t = t0; t - t0 < ns; t = gtimer()) {
    *reinterpret_cast<volatile uint64_t*>(w) = t;
    __threadfence_system();
  }
}

std::vector<std::pair<cudaEvent_t, cudaEvent_t>>& tick_events() {
  static std::vector<std::pair<cudaEvent_t, cudaEvent_t>> v;
  return v;
}

}  // namespace

void launch_stamp(cudaStream_t s, uint64_t* out) {
  stamp_kernel<<<1, 1, 0, s>>>(out);
  check(cudaGetLastError(), "stamp_kernel launch");
}

void launch_spin(cudaStream_t s, uint64_t ns, unsigned blocks, unsigned threads) {
  spin_kernel<<<blocks, threads, 0, s>>>(ns);
  check(cudaGetLastError(), "spin_kernel launch");
}

int spin_blocks_per_sm(unsigned threads) {
  int n = 0;
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, spin_kernel, static_cast<int>(threads), 0),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  return std::max(1, n);
}

void register_bench_kernels() {
  kernels().add("ut_bench.stamp", "cuda", [](const DispatchContext& c) {
    launch_stamp(static_cast<cudaStream_t>(c.native_queue), c.buffer<uint64_t>(0) + c.constants<StampArgs>().index);
  });
  kernels().add("ut_bench.spin", "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<SpinArgs>();
    launch_spin(static_cast<cudaStream_t>(c.native_queue), a.ns, a.blocks, a.threads);
  });
  kernels().add("ut_bench.tick", "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<TickArgs>();
    auto s = static_cast<cudaStream_t>(c.native_queue);
    auto& ev = tick_events().at(a.slot);
    check(cudaEventRecord(ev.first, s), "cudaEventRecord");
    launch_spin(s, a.ns, 1, 32);
    check(cudaEventRecord(ev.second, s), "cudaEventRecord");
  });
}

// ---- raw baselines and calibration ---------------------------------------------------------------------------------
Raw::Raw(int index) : device_index(index) {
  check(cudaSetDevice(index), "cudaSetDevice");
  if (!api.write64 || !api.wait64) throw std::runtime_error("cuStreamWriteValue64/cuStreamWaitValue64 unavailable");
  int least = 0, greatest = 0;
  check(cudaDeviceGetStreamPriorityRange(&least, &greatest), "cudaDeviceGetStreamPriorityRange");
  for (int i = 0; i < 2; ++i) {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, (least + greatest) / 2), "cudaStreamCreateWithPriority");
    streams_.push_back(s);
  }
  void* p = nullptr;
  check(cudaHostAlloc(&p, 4096, cudaHostAllocMapped), "cudaHostAlloc");
  words_ = static_cast<uint64_t*>(p);
  check(cudaHostAlloc(&p, 4096, cudaHostAllocMapped), "cudaHostAlloc");
  stamps_ = static_cast<uint64_t*>(p);
  std::fill(words_, words_ + 512, 0);
  std::fill(stamps_, stamps_ + 512, 0);
}

Raw::~Raw() {
  for (auto s : streams_) {
    (void)cudaStreamSynchronize(s);
    (void)cudaStreamDestroy(s);
  }
  (void)cudaFreeHost(words_);
  (void)cudaFreeHost(stamps_);
}

Calibration Raw::calibrate() {
  uint64_t* w = word(7);
  std::atomic_ref<uint64_t>(*w).store(0);
  clock_writer_kernel<<<1, 1, 0, stream(1)>>>(w, 3'000'000);
  check(cudaGetLastError(), "clock_writer_kernel launch");
  while (std::atomic_ref<uint64_t>(*w).load(std::memory_order_acquire) == 0) {
  }
  int64_t best = INT64_MAX;
  const uint64_t start = now_ns();
  uint64_t th = start;
  while (th - start < 2'000'000) {
    const uint64_t tg = std::atomic_ref<uint64_t>(*w).load(std::memory_order_acquire);
    th = now_ns();
    best = std::min(best, static_cast<int64_t>(th) - static_cast<int64_t>(tg));
  }
  check(cudaStreamSynchronize(stream(1)), "cudaStreamSynchronize");
  return {start + 1'000'000, best};
}

double host_minus_gpu_us(uint64_t host_ns, uint64_t gpu_ns, const Calibration& a, const Calibration& b) {
  double off = static_cast<double>(a.offset_ns);
  if (b.host_ns != a.host_ns) {
    off += static_cast<double>(b.offset_ns - a.offset_ns) * (static_cast<double>(host_ns) - static_cast<double>(a.host_ns)) /
           (static_cast<double>(b.host_ns) - static_cast<double>(a.host_ns));
  }
  return (static_cast<double>(host_ns) - static_cast<double>(gpu_ns) - off) / 1e3;
}

// ---- (4) QoS: a ~2 us kernel on the render queue under a saturating load -------------------------------------------
namespace {

constexpr uint64_t kTickNs = 2'000;
constexpr uint64_t kLoadBlockNs = 500'000;
constexpr unsigned kLoadThreads = 128;
constexpr unsigned kLoadWaves = 20;  // one load launch lasts ~10 ms

double elapsed_us(const std::pair<cudaEvent_t, cudaEvent_t>& ev) {
  float ms = 0;
  check(cudaEventElapsedTime(&ms, ev.first, ev.second), "cudaEventElapsedTime");
  return static_cast<double>(ms) * 1e3;
}

// Samples the tick latency on `q` while `keep_loaded` (if set) keeps two load launches queued.
std::vector<double> sample_queue(Queue& q, int samples, const std::function<void()>& keep_loaded) {
  std::vector<double> us;
  for (int s = 0; s < samples + 10; ++s) {
    if (keep_loaded) keep_loaded();
    auto cb = q.make_command_buffer("tick");
    cb.dispatch("ut_bench.tick", Grid{1}, DispatchArgs::make({}, TickArgs{static_cast<uint32_t>(s), kTickNs}));
    cb.commit();
    cb.wait_until_completed();
    if (s >= 10) us.push_back(elapsed_us(tick_events().at(static_cast<std::size_t>(s))));
  }
  return us;
}

nlohmann::json green(Raw& raw, int samples, unsigned bps, const Dist& idle) {
  auto& a = raw.api;
  if (!a.has_green_contexts()) {
    return {{"skipped", "green-context entry points missing (driver older than CUDA 12.5)"}};
  }
  CUdevice dev = raw.device_index;
  CUdevResource all{}, part{}, rest{};
  check(a.device_get_resource(dev, &all, CU_DEV_RESOURCE_TYPE_SM), "cuDeviceGetDevResource");
  unsigned groups = 1;
  check(a.sm_split_by_count(&part, &groups, &all, &rest, 0, 8), "cuDevSmResourceSplitByCount");
  CUdevResourceDesc d_part{}, d_rest{};
  check(a.resource_generate_desc(&d_part, &part, 1), "cuDevResourceGenerateDesc");
  check(a.resource_generate_desc(&d_rest, &rest, 1), "cuDevResourceGenerateDesc");
  CUgreenCtx g_part = nullptr, g_rest = nullptr;
  check(a.green_ctx_create(&g_part, d_part, dev, CU_GREEN_CTX_DEFAULT_STREAM), "cuGreenCtxCreate");
  check(a.green_ctx_create(&g_rest, d_rest, dev, CU_GREEN_CTX_DEFAULT_STREAM), "cuGreenCtxCreate");
  int least = 0, greatest = 0;
  check(cudaDeviceGetStreamPriorityRange(&least, &greatest), "cudaDeviceGetStreamPriorityRange");
  CUstream s_tick = nullptr, s_load = nullptr;
  check(a.green_ctx_stream_create(&s_tick, g_part, CU_STREAM_NON_BLOCKING, greatest), "cuGreenCtxStreamCreate");
  check(a.green_ctx_stream_create(&s_load, g_rest, CU_STREAM_NON_BLOCKING, least), "cuGreenCtxStreamCreate");
  auto measure = [&](bool loaded) {
    std::deque<cudaEvent_t> pending;
    std::vector<double> us;
    for (int s = 0; s < samples + 10; ++s) {
      while (loaded && (pending.size() < 2 || cudaEventQuery(pending.front()) == cudaSuccess)) {
        if (!pending.empty() && cudaEventQuery(pending.front()) == cudaSuccess) {
          (void)cudaEventDestroy(pending.front());
          pending.pop_front();
          continue;
        }
        launch_spin(s_load, kLoadBlockNs, rest.sm.smCount * bps * kLoadWaves, kLoadThreads);
        cudaEvent_t e = nullptr;
        check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
        check(cudaEventRecord(e, s_load), "cudaEventRecord");
        pending.push_back(e);
      }
      auto& ev = tick_events().at(static_cast<std::size_t>(s));
      check(cudaEventRecord(ev.first, s_tick), "cudaEventRecord");
      launch_spin(s_tick, kTickNs, 1, 32);
      check(cudaEventRecord(ev.second, s_tick), "cudaEventRecord");
      check(cudaStreamSynchronize(s_tick), "cudaStreamSynchronize");
      if (s >= 10) us.push_back(elapsed_us(ev));
    }
    check(cudaStreamSynchronize(s_load), "cudaStreamSynchronize");
    for (auto e : pending) (void)cudaEventDestroy(e);
    return us;
  };
  nlohmann::json j;
  try {
    const Dist gi = dist(measure(false)), gl = dist(measure(true));
    j = {{"sms_reserved", part.sm.smCount},
         {"sms_for_load", rest.sm.smCount},
         {"idle", to_json(gi)},
         {"loaded", to_json(gl)},
         {"ratio_p50_to_idle", gl.p50 / idle.p50},
         {"ratio_p99_to_idle", gl.p99 / idle.p99},
         {"ratio_p50_to_green_idle", gl.p50 / gi.p50}};
  } catch (...) {
    (void)cudaStreamSynchronize(s_tick);
    (void)cudaStreamSynchronize(s_load);
    (void)cudaStreamDestroy(s_tick);
    (void)cudaStreamDestroy(s_load);
    (void)a.green_ctx_destroy(g_part);
    (void)a.green_ctx_destroy(g_rest);
    throw;
  }
  (void)cudaStreamDestroy(s_tick);
  (void)cudaStreamDestroy(s_load);
  (void)a.green_ctx_destroy(g_part);
  (void)a.green_ctx_destroy(g_rest);
  return j;
}

}  // namespace

nlohmann::json qos(Device& dev, Raw& raw, int samples) {
  auto& ev = tick_events();
  while (ev.size() < static_cast<std::size_t>(samples + 10)) {
    cudaEvent_t a = nullptr, b = nullptr;
    check(cudaEventCreate(&a), "cudaEventCreate");
    check(cudaEventCreate(&b), "cudaEventCreate");
    ev.emplace_back(a, b);
  }
  const unsigned sms = dev.caps().compute_units;
  const unsigned bps = static_cast<unsigned>(spin_blocks_per_sm(kLoadThreads));
  auto render_high = dev.make_queue({.kind = QueueKind::render, .label = "bench.render.high"});
  auto render_equal = dev.make_queue({.kind = QueueKind::render, .priority = QueuePriority::low, .label = "bench.render.equal"});
  auto load_q = dev.make_queue({.kind = QueueKind::compute, .priority = QueuePriority::low, .label = "bench.load"});
  std::deque<CommandBuffer> loads;
  auto keep_loaded = [&] {
    while (!loads.empty() && loads.front().status() == CommandBufferStatus::completed) loads.pop_front();
    while (loads.size() < 2) {
      auto cb = load_q->make_command_buffer("load");
      cb.dispatch("ut_bench.spin", Grid{1}, DispatchArgs::make({}, SpinArgs{kLoadBlockNs, sms * bps * kLoadWaves, kLoadThreads}));
      cb.commit();
      loads.push_back(cb);
    }
  };
  auto settle = [&] {
    keep_loaded();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the load owns every SM before sampling
  };
  const Dist idle = dist(sample_queue(*render_high, samples, {}));
  settle();
  const Dist equal = dist(sample_queue(*render_equal, samples, keep_loaded));
  const Dist high = dist(sample_queue(*render_high, samples, keep_loaded));
  load_q->wait_idle();
  loads.clear();
  nlohmann::json j = {
      {"tick_kernel_ns", kTickNs},
      {"load_block_us", kLoadBlockNs / 1000},
      {"load_blocks_per_launch", sms * bps * kLoadWaves},
      {"idle", to_json(idle)},
      {"loaded_equal_priority", to_json(equal)},
      {"loaded_high_priority", to_json(high)},
      {"ratio_p50_equal_to_idle", equal.p50 / idle.p50},
      {"ratio_p99_equal_to_idle", equal.p99 / idle.p99},
      {"ratio_p50_high_to_idle", high.p50 / idle.p50},
      {"ratio_p99_high_to_idle", high.p99 / idle.p99},
      {"native_priorities", {{"render_high", render_high->native_priority()}, {"render_equal", render_equal->native_priority()},
                             {"load", load_q->native_priority()}}},
      {"method", "cudaEvent pair around a 1-block 2 us spin kernel on the render queue's stream (record -> kernel "
                 "end); load: 0.5 ms spin blocks filling every SM, two launches kept queued"}};
  try {
    j["green_context"] = green(raw, samples, bps, idle);
  } catch (const std::exception& ex) {
    j["green_context"] = {{"error", ex.what()}};
  }
  return j;
}

// ---- (5) copy/compute overlap ----------------------------------------------------------------------------------------
nlohmann::json overlap(Device& dev, bool quick) {
  const std::size_t bytes = (quick ? 64u : 256u) << 20;
  auto src = dev.make_buffer(bytes, StorageMode::shared, "bench.src");
  auto dst = dev.make_buffer(bytes, StorageMode::device, "bench.dst");
  auto back = dev.make_buffer(1 << 20, StorageMode::shared, "bench.back");
  auto* p = src.span<uint32_t>().data();
  for (std::size_t i = 0; i < bytes / 4; ++i) p[i] = static_cast<uint32_t>(i * 2654435761u);
  auto tq = dev.make_queue({.kind = QueueKind::transfer, .label = "bench.transfer"});
  auto cq = dev.make_queue({.kind = QueueKind::compute, .label = "bench.compute"});
  const unsigned grid = dev.caps().compute_units * static_cast<unsigned>(spin_blocks_per_sm(kLoadThreads));
  auto wall_ms = [](auto&& fn) {
    const uint64_t t0 = now_ns();
    fn();
    return static_cast<double>(now_ns() - t0) / 1e6;
  };
  auto copy_once = [&] {
    auto cb = tq->make_command_buffer("copy");
    cb.copy(src, 0, dst, 0, bytes).commit();
    cb.wait_until_completed();
  };
  copy_once();  // warm
  std::vector<double> c;
  for (int i = 0; i < 3; ++i) c.push_back(wall_ms(copy_once));
  const double copy_ms = dist(c).p50;
  const uint64_t spin_ns = static_cast<uint64_t>(copy_ms * 1e6);
  const DispatchArgs spin = DispatchArgs::make({}, SpinArgs{spin_ns, grid, kLoadThreads});
  std::vector<double> ser, con;
  for (int r = 0; r < 5; ++r) {
    ser.push_back(wall_ms([&] {
      auto cb = cq->make_command_buffer("serial");
      cb.copy(src, 0, dst, 0, bytes).dispatch("ut_bench.spin", Grid{1}, spin).commit();
      cb.wait_until_completed();
    }));
    con.push_back(wall_ms([&] {
      auto a = tq->make_command_buffer("copy");
      a.copy(src, 0, dst, 0, bytes).commit();
      auto b = cq->make_command_buffer("compute");
      b.dispatch("ut_bench.spin", Grid{1}, spin).commit();
      a.wait_until_completed();
      b.wait_until_completed();
    }));
  }
  // The bytes arrived: the last MiB, copied back.
  auto cb = tq->make_command_buffer("verify");
  cb.copy(dst, bytes - back.size(), back, 0, back.size()).commit();
  cb.wait_until_completed();
  bool ok = true;
  const std::size_t first = (bytes - back.size()) / 4;
  for (std::size_t i = 0; i < back.size() / 4; ++i) ok = ok && back.span<uint32_t>()[i] == p[first + i];
  const double s = dist(ser).p50, k = dist(con).p50;
  return {{"bytes", bytes},
          {"copy_alone", to_json(dist(c), "ms")},
          {"serialized", to_json(dist(ser), "ms")},
          {"concurrent", to_json(dist(con), "ms")},
          {"copy_alone_ms", copy_ms},
          {"copy_gb_per_s", static_cast<double>(bytes) / copy_ms / 1e6},
          {"compute_ms", copy_ms},
          {"serialized_ms", s},
          {"concurrent_ms", k},
          {"ratio_serialized_to_concurrent", s / k},
          {"data_verified", ok},
          {"method", "pinned->device copy on the transfer queue and an all-SM spin kernel of the same length on the "
                     "compute queue, committed together, vs both in one buffer on one queue; host wall time, median of 5"}};
}

void print_summary(const nlohmann::json& j) {
  auto num = [&](const nlohmann::json& o, const char* a, const char* b) -> double {
    if (!o.contains(a) || !o[a].is_object() || !o[a].contains(b) || !o[a][b].is_number()) return -1;
    return o[a][b].get<double>();
  };
  std::printf("CUDA timeline figures on %s\n", j.value("card", "?").c_str());
  const auto& g = j["gpu_to_gpu_event"];
  std::printf("  %-52s %8.2f / %8.2f us (raw %.2f / %.2f)\n", "GPU->GPU event, other stream (p50/p99)",
              num(g, "shared_event", "p50"), num(g, "shared_event", "p99"), num(g, "raw_stream_memops", "p50"),
              num(g, "raw_stream_memops", "p99"));
  const auto& h = j["gpu_to_host"];
  std::printf("  %-52s %8.2f / %8.2f us (wait wake %.2f, raw spin %.2f)\n", "GPU->host notify listener (p50/p99)",
              num(h, "notify_listener", "p50"), num(h, "notify_listener", "p99"), num(h, "host_wait_wakeup", "p50"),
              num(h, "raw_host_spin_on_word", "p50"));
  const auto& r = j["host_to_gpu"];
  std::printf("  %-52s %8.2f / %8.2f us (raw %.2f)\n", "host->GPU wait release (p50/p99)", num(r, "shared_event", "p50"),
              num(r, "shared_event", "p99"), num(r, "raw_host_store", "p50"));
  const auto& q = j["qos"];
  for (const char* k : {"idle", "loaded_equal_priority", "loaded_high_priority"}) {
    std::printf("  QoS 2us render kernel, %-29s %8.2f / %8.2f us\n", k, num(q, k, "p50"), num(q, k, "p99"));
  }
  if (q.contains("green_context") && q["green_context"].contains("loaded")) {
    std::printf("  QoS 2us render kernel, %-29s %8.2f / %8.2f us\n", "green ctx (8 SMs), loaded",
                num(q["green_context"], "loaded", "p50"), num(q["green_context"], "loaded", "p99"));
  }
  const auto& o = j["copy_compute_overlap"];
  if (o.contains("ratio_serialized_to_concurrent")) {
    std::printf("  %-52s %8.2f x (%.2f ms vs %.2f ms)\n", "copy/compute overlap (serialized / concurrent)",
                o["ratio_serialized_to_concurrent"].get<double>(), o["serialized_ms"].get<double>(),
                o["concurrent_ms"].get<double>());
  }
}

}  // namespace ut::bench::cudab
