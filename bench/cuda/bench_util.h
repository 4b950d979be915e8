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

#include "bench/stats.h"
#include "timeline/device.h"

namespace ut::bench::cudab {

inline CUdeviceptr dptr(const void* p) { return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p)); }
void check(cudaError_t e, const char* what);  // throws std::runtime_error naming the call
void check(CUresult r, const char* what);

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

  struct Api {
    PFN_cuStreamWriteValue64_v11070 write64 = nullptr;
    PFN_cuStreamWaitValue64_v11070 wait64 = nullptr;
    PFN_cuDeviceGetDevResource_v12040 get_resource = nullptr;
    PFN_cuDevSmResourceSplitByCount_v12040 split = nullptr;
    PFN_cuDevResourceGenerateDesc_v12040 gen_desc = nullptr;
    PFN_cuGreenCtxCreate_v12040 green_create = nullptr;
    PFN_cuGreenCtxDestroy_v12040 green_destroy = nullptr;
    PFN_cuGreenCtxStreamCreate_v12050 green_stream = nullptr;
  } api;
  int device_index;

 private:
  std::vector<cudaStream_t> streams_;
  uint64_t* words_ = nullptr;
  uint64_t* stamps_ = nullptr;
};

nlohmann::json qos(Device& dev, Raw& raw, int samples);
nlohmann::json overlap(Device& dev, bool quick);
void print_summary(const nlohmann::json& j);

}  // namespace ut::bench::cudab
