// Vendor-call checking, driver entry points, and process-wide context health (loss and recovery).
#include "backends/cuda/check.h"

#include <atomic>
#include <map>
#include <mutex>

#include "backends/cuda/internal.h"
#include "timeline/error.h"

namespace ut::cuda::detail {

std::string error_text(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

std::string error_text(CUresult r) {
  const DriverApi& api = driver_api();
  const char* name = nullptr;
  const char* text = nullptr;
  if (api.error_name) api.error_name(r, &name);
  if (api.error_string) api.error_string(r, &text);
  return std::string(name ? name : ("CUresult " + std::to_string(static_cast<int>(r))).c_str()) + ": " +
         (text ? text : "unknown driver error");
}

void throw_cuda_error(cudaError_t e, const char* call) {
  throw BackendError(std::string(call) + " failed: " + error_text(e));
}

void throw_cu_error(CUresult r, const char* call) {
  throw BackendError(std::string(call) + " failed: " + error_text(r));
}

bool is_sticky(cudaError_t e) noexcept {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
    case cudaErrorUnknown:
      return true;
    default:
      return false;
  }
}

namespace {

template <class Fn>
void load(const char* symbol, unsigned version, Fn& out) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult status{};
  if (cudaGetDriverEntryPointByVersion(symbol, &fn, version, cudaEnableDefault, &status) == cudaSuccess &&
      status == cudaDriverEntryPointSuccess) {
    out = reinterpret_cast<Fn>(fn);
  } else {
    (void)cudaGetLastError();  // a missing symbol is not an error of the caller
  }
}

}  // namespace

const DriverApi& driver_api() {
  static const DriverApi api = [] {
    DriverApi a;
    load("cuStreamWriteValue64", 12000, a.write64);
    load("cuStreamWaitValue64", 12000, a.wait64);
    load("cuDeviceGetAttribute", 2000, a.device_attribute);
    load("cuGetErrorName", 6000, a.error_name);
    load("cuGetErrorString", 6000, a.error_string);
    load("cuDeviceGetDevResource", 12040, a.device_get_resource);
    load("cuDevSmResourceSplitByCount", 12040, a.sm_split_by_count);
    load("cuDevResourceGenerateDesc", 12040, a.resource_generate_desc);
    load("cuGreenCtxCreate", 12040, a.green_ctx_create);
    load("cuGreenCtxDestroy", 12040, a.green_ctx_destroy);
    load("cuGreenCtxStreamCreate", 12050, a.green_ctx_stream_create);
    load("cuCtxFromGreenCtx", 12040, a.ctx_from_green_ctx);
    load("cuCtxSetCurrent", 4000, a.ctx_set_current);
    load("cuStreamGetGreenCtx", 12040, a.stream_get_green_ctx);
    return a;
  }();
  return api;
}

// ---- context health ------------------------------------------------------------------------------------------
namespace {
std::atomic<long> g_native_allocs{0};
std::mutex g_health_mutex;
std::map<int, std::string> g_lost;  // device index -> reason
}  // namespace

void native_alloc_added() noexcept { g_native_allocs.fetch_add(1, std::memory_order_relaxed); }
void native_alloc_removed() noexcept { g_native_allocs.fetch_sub(1, std::memory_order_relaxed); }
long native_allocs() noexcept { return g_native_allocs.load(); }

void note_device_lost(int index, const std::string& reason) {
  std::lock_guard lock(g_health_mutex);
  g_lost.emplace(index, reason);
}

void recover_if_lost(int index) {
  std::lock_guard lock(g_health_mutex);
  auto it = g_lost.find(index);
  if (it == g_lost.end()) return;
  const long live = g_native_allocs.load();
  if (live > 0) {
    throw BackendError("[cuda::make_device] device " + std::to_string(index) + " is lost (" + it->second + "); " +
                       std::to_string(live) +
                       " CUDA allocations of the lost context are still alive: release every queue, event, heap "
                       "and buffer of the lost device (or restart the process) to recover");
  }
  // Nothing refers to the old context any more: destroy it; the next call creates a fresh primary context.
  // After a sticky fault the runtime may refuse even to select the device: that is the same "restart" answer.
  cudaError_t e = cudaSetDevice(index);
  if (e == cudaSuccess) {
    (void)cudaDeviceReset();
    (void)cudaGetLastError();
    e = cudaFree(nullptr);  // creates the new context
  }
  if (e != cudaSuccess) {
    throw BackendError("[cuda::make_device] device " + std::to_string(index) + " is lost (" + it->second +
                       ") and cudaDeviceReset did not recover it: " + error_text(e) + "; restart the process");
  }
  g_lost.erase(it);
}

std::string describe_error(const std::exception_ptr& e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace ut::cuda::detail
