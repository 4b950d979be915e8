// Internal to bench/cuda: raw-CUDA counterparts, kernels, clock calibration, and the QoS / overlap phases.
#pragma once

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cudaTypedefs.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/cuda/check.h"
#include "bench/stats.h"
#include "timeline/device.h"

namespace ut::bench::cudab {

inline CUdeviceptr dptr(const void* p) { return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p)); }
// Throws ut::BackendError naming the call (the backend's checker, so errors read the same everywhere).
inline void check(cudaError_t e, const char* what) { cuda::detail::check_result(e, what); }
inline void check(CUresult r, const char* what) { cuda::detail::check_result(r, what); }

using bench::Dist;
using bench::dist;
using bench::to_json;

// Kernel constants of the bench kernels registered under backend "cuda".
struct StampArgs {
  uint32_t index;  // stamps[index] = %globaltimer
};
struct SpinArgs {
  uint64_t ns;  // each block spins this long
  uint32_t blocks, threads;
};
struct TickArgs {
  uint32_t slot;  // cudaEvent pair recorded around the launch
  uint64_t ns;
};
void register_bench_kernels();  // "ut_bench.stamp", "ut_bench.spin", "ut_bench.tick"; idempotent

void launch_stamp(cudaStream_t s, uint64_t* out);
void launch_spin(cudaStream_t s, uint64_t ns, unsigned blocks, unsigned threads);
int spin_blocks_per_sm(unsigned threads);

// Host-clock <-> globaltimer offset at a host time.
struct Calibration {
  uint64_t host_ns = 0;
  int64_t offset_ns = 0;  // host = gpu + offset (plus the fastest one-way delivery)
};
double host_minus_gpu_us(uint64_t host_ns, uint64_t gpu_ns, const Calibration& a, const Calibration& b);

// Raw CUDA objects for the baselines: two plain streams, pinned words and stamps, driver entry points.
class Raw {
 public:
  explicit Raw(int device_index);
  ~Raw();
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  cudaStream_t stream(int i) const { return streams_[static_cast<std::size_t>(i)]; }
  uint64_t* word(int i) const { return words_ + 8 * i; }   // 64-byte apart, pinned + mapped (UVA address)
  uint64_t* stamp(int i) const { return stamps_ + 8 * i; }
  Calibration calibrate();

  // The backend's driver entry points (loaded once per process through the runtime, never linked).
  const cuda::detail::DriverApi& api = cuda::detail::driver_api();
  int device_index;

 private:
  std::vector<cudaStream_t> streams_;
  uint64_t* words_ = nullptr;
  uint64_t* stamps_ = nullptr;
};

nlohmann::json qos(Device& dev, Raw& raw, int samples);
nlohmann::json overlap(Device& dev, bool quick);
void print_summary(const nlohmann::json& j);
// Vulkan -> CUDA -> Vulkan round trip through shared timeline semaphores (interop_bench.cpp; interop builds only).
nlohmann::json cross_api_round_trip(Device& cuda, Raw& raw, int iters);

}  // namespace ut::bench::cudab
