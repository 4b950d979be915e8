// The backend's own kernels: checked signals and the fallback for missing 64-bit stream memory operations.
// Each is one thread; they touch pinned, mapped host words through their device addresses.
#include "backends/cuda/internal.h"

namespace ut::cuda::detail {
namespace {

__device__ bool checks_pass(const SignalChecks& c) {
  if (c.status != nullptr && *reinterpret_cast<const volatile unsigned long long*>(c.status) != 0) return false;
  for (unsigned i = 0; i < c.n; ++i) {
    const unsigned long long e = *reinterpret_cast<const volatile unsigned long long*>(c.error_words[i]);
    if (e != 0 && c.values[i] >= e) return false;  // the value this buffer waited for was signalled by a failure
  }
  return true;
}

__global__ void checked_signal_kernel(unsigned long long* word, unsigned long long value, SignalChecks c,
                                      unsigned long long* status) {
  if (checks_pass(c)) {
    __threadfence_system();  // earlier work's writes become visible before the value
    *reinterpret_cast<volatile unsigned long long*>(word) = value;
    __threadfence_system();
  } else if (status != nullptr) {
    *reinterpret_cast<volatile unsigned long long*>(status) = 1;
  }
}

__global__ void fold_checks_kernel(unsigned long long* status, SignalChecks c) {
  if (!checks_pass(c)) *reinterpret_cast<volatile unsigned long long*>(status) = 1;
}

__global__ void wait_geq_kernel(const unsigned long long* word, unsigned long long value) {
  // Polls a host word: back off so the PCIe reads stay cheap.
  while (*reinterpret_cast<const volatile unsigned long long*>(word) < value) __nanosleep(1000);
  __threadfence_system();
}

}  // namespace

cudaError_t launch_checked_signal(cudaStream_t s, unsigned long long* word, unsigned long long value,
                                  const SignalChecks& checks) {
  checked_signal_kernel<<<1, 1, 0, s>>>(word, value, checks, const_cast<unsigned long long*>(checks.status));
  return cudaGetLastError();
}

cudaError_t launch_fold_checks(cudaStream_t s, unsigned long long* status, const SignalChecks& checks) {
  fold_checks_kernel<<<1, 1, 0, s>>>(status, checks);
  return cudaGetLastError();
}

cudaError_t launch_wait_geq(cudaStream_t s, const unsigned long long* word, unsigned long long value) {
  wait_geq_kernel<<<1, 1, 0, s>>>(word, value);
  return cudaGetLastError();
}

}  // namespace ut::cuda::detail
