// CPU vs CUDA for the aggregation kernels (data.agg_init / data.agg_rows), without DuckDB: random columns go
// through both backends' kernels and the group tables must agree (integers exactly; double sums within
// 1e-9 relative + 1e-12 * count * max|v|). Then kernel throughput at large sizes, with the column upload.
// Built where the CUDA backend is; exits 77 (ctest: skipped) with the reason when no GPU is present.
// Standalone on purpose (only timeline/heap.cpp and kernel.cpp besides the kernels), so it also builds with a
// bare nvcc on a GPU machine:
//   nvcc -std=c++20 -O2 -arch=sm_90 -I. -DUT_DATA_HAVE_CUDA tests/data/agg_kernel_cuda_check.cu \
//     workloads/data/cuda/agg_kernel.cu workloads/data/agg_kernel_cpu.cpp timeline/kernel.cpp timeline/heap.cpp
//   ./a.out [--bench] [--json FILE]
#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "timeline/heap.h"
#include "timeline/kernel.h"
#include "workloads/data/agg_kernel.h"

namespace {

using namespace ut;
using namespace ut::data;
using ull = unsigned long long;

#define CHECK(call)                                                                                   \
  do {                                                                                                \
    cudaError_t e_ = (call);                                                                          \
    if (e_ != cudaSuccess) {                                                                          \
      std::fprintf(stderr, "%s failed: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                                   \
    }                                                                                                 \
  } while (0)

Buffer host_buffer(std::size_t bytes) {
  void* p = nullptr;
  CHECK(cudaMallocHost(&p, bytes + 256));  // pinned, like the CUDA backend's shared heaps
  auto heap = std::make_shared<Heap>(HeapMemory{p, reinterpret_cast<uint64_t>(p), bytes + 256,
                                                std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); })},
                                     StorageMode::shared, "host");
  return heap->allocate(bytes, 256);
}

Buffer device_buffer(std::size_t bytes) {
  void* p = nullptr;
  CHECK(cudaMalloc(&p, bytes + 256));
  auto heap = std::make_shared<Heap>(HeapMemory{nullptr, reinterpret_cast<uint64_t>(p), bytes + 256,
                                                std::shared_ptr<void>(p, [](void* q) { cudaFree(q); })},
                                     StorageMode::device, "device");
  return heap->allocate(bytes, 256);
}

struct Case {
  uint64_t rows, groups;
  bool hash;
  double null_rate;
  bool big_values;  // int64 values near 2^62: sums need the 128-bit accumulator
};

struct Inputs {
  AggConstants k;
  std::vector<Buffer> host;  // keys, key_valid, table, overflow, (values, valid) x 2
};

Inputs make_inputs(const Case& c, std::mt19937_64& rng) {
  Inputs in;
  AggConstants& k = in.k;
  k.rows = c.rows;
  k.n_columns = 2;
  k.column_kind[0] = static_cast<uint32_t>(ValueKind::i64);
  k.column_kind[1] = static_cast<uint32_t>(ValueKind::f64);
  const AggOp ops[] = {AggOp::count_star, AggOp::count, AggOp::sum, AggOp::min, AggOp::max,
                       AggOp::sum,        AggOp::min,   AggOp::max};
  const uint32_t cols[] = {0, 0, 0, 0, 0, 1, 1, 1};
  k.n_aggs = 8;
  for (int a = 0; a < 8; ++a) {
    k.op[a] = static_cast<uint32_t>(ops[a]);
    k.column[a] = cols[a];
  }
  k.mode = static_cast<uint32_t>(c.hash ? TableMode::hash : TableMode::dense);
  k.capacity = c.hash ? std::max<uint64_t>(16, std::bit_ceil(2 * c.groups)) : c.groups;
  k.key_base = c.hash ? 0 : -5;
  in.host = {host_buffer(c.rows * 8), host_buffer(c.rows), host_buffer(k.table_words() * 8), host_buffer(8),
             host_buffer(c.rows * 8), host_buffer(c.rows), host_buffer(c.rows * 8), host_buffer(c.rows)};
  auto* keys = static_cast<int64_t*>(in.host[0].contents());
  auto* kv = static_cast<uint8_t*>(in.host[1].contents());
  auto* v0 = static_cast<int64_t*>(in.host[4].contents());
  auto* m0 = static_cast<uint8_t*>(in.host[5].contents());
  auto* v1 = static_cast<double*>(in.host[6].contents());
  auto* m1 = static_cast<uint8_t*>(in.host[7].contents());
  std::uniform_real_distribution<double> u(0, 1);
  for (uint64_t i = 0; i < c.rows; ++i) {
    const uint64_t g = static_cast<uint64_t>(std::pow(u(rng), 2.0) * static_cast<double>(c.groups));  // skewed
    keys[i] = c.hash ? (i % 97 == 0 ? kEmptyKey : static_cast<int64_t>(g * 1000000007ull) - 77) : k.key_base + static_cast<int64_t>(g);
    kv[i] = u(rng) >= c.null_rate;
    v0[i] = c.big_values ? (static_cast<int64_t>(rng() >> 2) * (rng() % 2 ? 1 : -1)) : static_cast<int64_t>(rng() % 2000001) - 1000000;
    m0[i] = u(rng) >= c.null_rate;
    v1[i] = u(rng) * 2000 - 1000;
    m1[i] = u(rng) >= c.null_rate;
  }
  return in;
}

// `passes` aggregation dispatches into one table (as partitioned scans do): every group counts `passes` times.
void run_cpu(const Inputs& in, int passes = 1) {
  DispatchArgs args = DispatchArgs::make(in.host, in.k);
  DispatchContext ctx;
  ctx.args = &args;
  ctx.grid = Grid{in.k.slots()};
  ctx.end = in.k.slots();
  (*kernels().find(kAggInitKernel, "cpu"))(ctx);
  ctx.grid = Grid{in.k.rows};
  ctx.end = in.k.rows;
  for (int p = 0; p < passes; ++p) (*kernels().find(kAggRowsKernel, "cpu"))(ctx);
}

// Uploads the inputs, runs init + rows on `stream`, downloads the table. Returns {upload ms, kernel ms}.
std::pair<double, double> run_cuda(const Inputs& in, std::vector<ull>& table, ull& overflow, cudaStream_t stream,
                                   int passes = 1) {
  std::vector<Buffer> dev;
  for (const Buffer& b : in.host) dev.push_back(device_buffer(b.size()));
  cudaEvent_t e0, e1, e2;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  CHECK(cudaEventCreate(&e2));
  CHECK(cudaEventRecord(e0, stream));
  for (std::size_t i = 0; i < dev.size(); ++i)
    if (i != 2 && i != 3)
      CHECK(cudaMemcpyAsync(reinterpret_cast<void*>(dev[i].device_address()), in.host[i].contents(), in.host[i].size(),
                            cudaMemcpyHostToDevice, stream));
  CHECK(cudaEventRecord(e1, stream));
  DispatchArgs args = DispatchArgs::make(dev, in.k);
  DispatchContext ctx;
  ctx.args = &args;
  ctx.host = false;
  ctx.native_queue = stream;
  ctx.grid = Grid{in.k.slots()};
  ctx.end = in.k.slots();
  (*kernels().find(kAggInitKernel, "cuda"))(ctx);
  ctx.grid = Grid{in.k.rows};
  ctx.end = in.k.rows;
  for (int p = 0; p < passes; ++p) (*kernels().find(kAggRowsKernel, "cuda"))(ctx);
  CHECK(cudaGetLastError());
  CHECK(cudaEventRecord(e2, stream));
  table.resize(in.k.table_words());
  CHECK(cudaMemcpyAsync(table.data(), reinterpret_cast<void*>(dev[2].device_address()), table.size() * 8,
                        cudaMemcpyDeviceToHost, stream));
  CHECK(cudaMemcpyAsync(&overflow, reinterpret_cast<void*>(dev[3].device_address()), 8, cudaMemcpyDeviceToHost, stream));
  CHECK(cudaStreamSynchronize(stream));
  float up = 0, kern = 0;
  CHECK(cudaEventElapsedTime(&up, e0, e1));
  CHECK(cudaEventElapsedTime(&kern, e1, e2));
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaEventDestroy(e2);
  return {up, kern};
}

using Groups = std::map<int64_t, std::vector<ull>>;  // key (NULL as INT64_MAX sentinel) -> slot words

Groups groups_of(const AggConstants& k, const ull* t) {
  Groups g;
  for (uint64_t s = 0; s < k.slots(); ++s) {
    const ull* slot = t + k.word(0, s);
    if (slot[1] == 0) continue;
    int64_t key = s == k.capacity + 1 ? INT64_MAX
                  : static_cast<TableMode>(k.mode) == TableMode::dense ? k.key_base + static_cast<int64_t>(s)
                  : s == k.capacity ? kEmptyKey : static_cast<int64_t>(slot[0]);
    g[key] = std::vector<ull>(slot + 1, slot + k.words_per_slot());
  }
  return g;
}

std::string compare(const AggConstants& k, const Groups& cpu, const Groups& gpu) {
  if (cpu.size() != gpu.size()) return "group counts differ: cpu " + std::to_string(cpu.size()) + ", cuda " + std::to_string(gpu.size());
  for (const auto& [key, a] : cpu) {
    auto it = gpu.find(key);
    if (it == gpu.end()) return "group " + std::to_string(key) + " missing on cuda";
    const auto& b = it->second;
    for (std::size_t w = 0; w < a.size(); ++w) {
      const std::size_t agg = w == 0 ? 99 : (w - 1) / 3;
      const bool f64_sum = agg < 8 && k.column_kind[k.column[agg]] == 1 && k.op[agg] == static_cast<uint32_t>(AggOp::sum) && (w - 1) % 3 == 1;
      if (f64_sum) {
        double x, y;
        std::memcpy(&x, &a[w], 8);
        std::memcpy(&y, &b[w], 8);
        const double cnt = static_cast<double>(a[w - 1]);
        if (std::abs(x - y) > 1e-9 * (std::abs(x) + 1) + 1e-12 * cnt * 1000)
          return "group " + std::to_string(key) + " double sum: cpu " + std::to_string(x) + ", cuda " + std::to_string(y);
      } else if (a[w] != b[w]) {
        return "group " + std::to_string(key) + " word " + std::to_string(w + 1) + ": cpu " + std::to_string(a[w]) +
               ", cuda " + std::to_string(b[w]);
      }
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  bool bench = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--bench") bench = true;
    else if (std::string(argv[i]) == "--json" && i + 1 < argc) json_path = argv[++i];
  }
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    // ctest counts exit status 77 as skipped; UT_REQUIRE_GPU=1 (the GPU check) makes it a failure.
    const char* required = std::getenv("UT_REQUIRE_GPU");
    const bool fail = required && *required && std::string(required) != "0";
    std::printf("%s: no CUDA device here (%s)\n", fail ? "FAILED: UT_REQUIRE_GPU=1, but" : "SKIP",
                cudaGetErrorString(cudaGetDeviceCount(&n)));
    return fail ? 1 : 77;
  }
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  register_agg_kernels();
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  const uint64_t seed = std::getenv("UT_TEST_SEED") ? std::strtoull(std::getenv("UT_TEST_SEED"), nullptr, 10) : std::random_device{}();
  std::mt19937_64 rng(seed);
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  int failures = 0, cases = 0;
  const Case checks[] = {
      {1, 1, false, 0, false},        {1000, 3, false, 0.1, false},   {100000, 7, false, 0.3, true},
      {200000, 300, false, 0, false}, {200000, 5000, false, 0.05, true}, {300000, 40000, true, 0.1, false},
      {300000, 200000, true, 0, true}, {50000, 1, false, 1.0, false},  {500000, 1000, true, 0.5, false},
  };
  for (int round = 0; round < 4; ++round) {
    for (const Case& c : checks) {
      Inputs in = make_inputs(c, rng);
      const int passes = 1 + round % 2;
      run_cpu(in, passes);
      std::vector<ull> gt;
      ull overflow = 0;
      run_cuda(in, gt, overflow, stream, passes);
      const auto* ct = static_cast<const ull*>(in.host[2].contents());
      const std::string diff = overflow != 0 ? "cuda overflowed " + std::to_string(overflow) + " rows"
                                             : compare(in.k, groups_of(in.k, ct), groups_of(in.k, gt.data()));
      ++cases;
      if (!diff.empty()) {
        ++failures;
        std::printf("FAIL rows %llu groups %llu %s: %s\n", static_cast<unsigned long long>(c.rows),
                    static_cast<unsigned long long>(c.groups), c.hash ? "hash" : "dense", diff.c_str());
      }
    }
  }
  std::printf("cpu vs cuda: %d cases, %d failures\n", cases, failures);
  std::string json = "{\"device\": \"" + std::string(prop.name) + "\", \"checks\": " + std::to_string(cases) +
                     ", \"failures\": " + std::to_string(failures) + ", \"bench\": [";
  if (bench) {
    std::printf("%10s %9s %6s %10s %10s %10s %12s\n", "rows", "groups", "mode", "upload ms", "kernel ms", "cpu ms", "Mrows/s gpu");
    bool first = true;
    for (uint64_t rows : {10'000'000ull, 100'000'000ull}) {
      for (uint64_t groups : {10ull, 1000ull, 100'000ull, 1'000'000ull}) {
        const Case c{rows, groups, groups > (1u << 20) / 2, 0.05, false};
        Inputs in = make_inputs(c, rng);
        std::vector<ull> gt;
        ull overflow = 0;
        run_cuda(in, gt, overflow, stream);  // warm-up
        const auto [up, kern] = run_cuda(in, gt, overflow, stream);
        double cpu_ms = -1;
        if (rows <= 10'000'000ull) {
          const auto t0 = std::chrono::steady_clock::now();
          run_cpu(in);
          cpu_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        }
        std::printf("%10llu %9llu %6s %10.2f %10.2f %10.1f %12.0f\n", static_cast<unsigned long long>(rows),
                    static_cast<unsigned long long>(groups), c.hash ? "hash" : "dense", up, kern, cpu_ms,
                    static_cast<double>(rows) / (kern * 1e3));
        json += std::string(first ? "" : ", ") + "{\"rows\": " + std::to_string(rows) + ", \"groups\": " + std::to_string(groups) +
                ", \"mode\": \"" + (c.hash ? "hash" : "dense") + "\", \"upload_ms\": " + std::to_string(up) +
                ", \"kernel_ms\": " + std::to_string(kern) + ", \"cpu_kernel_ms\": " + std::to_string(cpu_ms) + "}";
        first = false;
      }
    }
  }
  json += "]}\n";
  if (!json_path.empty()) std::ofstream(json_path) << json;
  return failures == 0 ? 0 : 1;
}
