// Internal to the CUDA backend: the one checking macro for vendor calls, and the driver-API entry points the
// backend uses (fetched through the runtime at run time, so that nothing links against libcuda.so).
//
//   UT_CUDA_CHECK(cudaMalloc(&p, n));        // throws BackendError "cudaMalloc(&p, n) failed: cudaErrorMemoryAllocation: ..."
//   UT_CUDA_CHECK(api.write64(s, a, v, 0));  // driver calls too: "api.write64(s, a, v, 0) failed: CUDA_ERROR_..."
#pragma once

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cudaTypedefs.h>

#include <string>

namespace ut::cuda::detail {

// Throws ut::BackendError("<call> failed: <cudaGetErrorName>: <cudaGetErrorString>").
[[noreturn]] void throw_cuda_error(cudaError_t e, const char* call);
[[noreturn]] void throw_cu_error(CUresult r, const char* call);
std::string error_text(cudaError_t e);  // "cudaErrorIllegalAddress: an illegal memory access was encountered"
std::string error_text(CUresult r);

// True for errors that leave the context unusable (the "sticky" errors after a GPU fault).
bool is_sticky(cudaError_t e) noexcept;

// Driver entry points; null where this driver lacks them.
struct DriverApi {
  PFN_cuStreamWriteValue64_v11070 write64 = nullptr;
  PFN_cuStreamWaitValue64_v11070 wait64 = nullptr;
  PFN_cuDeviceGetAttribute_v2000 device_attribute = nullptr;
  PFN_cuGetErrorName_v6000 error_name = nullptr;
  PFN_cuGetErrorString_v6000 error_string = nullptr;
  // Green contexts (CUDA 12.4+ drivers).
  PFN_cuDeviceGetDevResource_v12040 device_get_resource = nullptr;
  PFN_cuDevSmResourceSplitByCount_v12040 sm_split_by_count = nullptr;
  PFN_cuDevResourceGenerateDesc_v12040 resource_generate_desc = nullptr;
  PFN_cuGreenCtxCreate_v12040 green_ctx_create = nullptr;
  PFN_cuGreenCtxDestroy_v12040 green_ctx_destroy = nullptr;
  PFN_cuGreenCtxStreamCreate_v12050 green_ctx_stream_create = nullptr;
  PFN_cuCtxFromGreenCtx_v12040 ctx_from_green_ctx = nullptr;
  PFN_cuCtxSetCurrent_v4000 ctx_set_current = nullptr;
  PFN_cuStreamGetGreenCtx_v12040 stream_get_green_ctx = nullptr;

  bool has_green_contexts() const noexcept {
    return device_get_resource && sm_split_by_count && resource_generate_desc && green_ctx_create &&
           green_ctx_destroy && green_ctx_stream_create && ctx_from_green_ctx && ctx_set_current;
  }
};

inline void check_result(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw_cuda_error(e, call);
}
inline void check_result(CUresult r, const char* call) {
  if (r != CUDA_SUCCESS) throw_cu_error(r, call);
}

// Loaded once per process (thread-safe); valid only after the runtime found a driver.
const DriverApi& driver_api();

}  // namespace ut::cuda::detail

// One macro for runtime (cudaError_t) and driver (CUresult) calls; the overload picks the error text.
#define UT_CUDA_CHECK(call) ::ut::cuda::detail::check_result((call), #call)
