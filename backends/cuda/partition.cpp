#include "backends/cuda/partition.h"

#include <cuda_runtime_api.h>

#include "backends/cuda/check.h"
#include "timeline/error.h"

namespace ut::cuda::detail {

SmPartitions::SmPartitions(int device_index, unsigned reserve_sms) : device_(device_index) {
  const DriverApi& a = driver_api();
  if (!a.has_green_contexts())
    throw BackendError("green contexts are unavailable: the driver lacks their entry points (CUDA 12.5+ needed)");
  if (reserve_sms == 0) throw UsageError("[SmPartitions] reserve_sms must be > 0");
  CUdevice dev = device_index;
  CUdevResource all{}, reserved{}, rest{};
  UT_CUDA_CHECK(a.device_get_resource(dev, &all, CU_DEV_RESOURCE_TYPE_SM));
  if (reserve_sms >= all.sm.smCount)
    throw UsageError("[SmPartitions] cannot reserve " + std::to_string(reserve_sms) + " of " +
                     std::to_string(all.sm.smCount) + " SMs");
  unsigned groups = 1;
  // One group of at least reserve_sms SMs (rounded up to the hardware's granularity); the rest is the work side.
  UT_CUDA_CHECK(a.sm_split_by_count(&reserved, &groups, &all, &rest, 0, reserve_sms));
  if (groups != 1 || rest.sm.smCount == 0)
    throw BackendError("cuDevSmResourceSplitByCount left no SMs for the work partition");
  reserved_sms_ = reserved.sm.smCount;
  work_sms_ = rest.sm.smCount;
  UT_CUDA_CHECK(a.resource_generate_desc(&reserved_desc_, &reserved, 1));
  UT_CUDA_CHECK(a.resource_generate_desc(&work_desc_, &rest, 1));
  UT_CUDA_CHECK(a.green_ctx_create(&reserved_, reserved_desc_, dev, CU_GREEN_CTX_DEFAULT_STREAM));
  try {
    UT_CUDA_CHECK(a.green_ctx_create(&work_, work_desc_, dev, CU_GREEN_CTX_DEFAULT_STREAM));
  } catch (...) {
    (void)a.green_ctx_destroy(reserved_);
    throw;
  }
}

SmPartitions::~SmPartitions() {
  const DriverApi& a = driver_api();
  for (CUgreenCtx g : thread_contexts_) (void)a.green_ctx_destroy(g);
  (void)a.green_ctx_destroy(work_);
  (void)a.green_ctx_destroy(reserved_);
}

CUgreenCtx SmPartitions::shared_context(SmPartition p) const {
  if (p == SmPartition::any) throw UsageError("[SmPartitions] partition 'any' has no green context");
  return p == SmPartition::reserved ? reserved_ : work_;
}

CUstream SmPartitions::make_stream(SmPartition p, int priority) {
  CUstream s = nullptr;
  UT_CUDA_CHECK(driver_api().green_ctx_stream_create(&s, shared_context(p), CU_STREAM_NON_BLOCKING, priority));
  return s;
}

void SmPartitions::bind_current_thread(SmPartition p) {
  const DriverApi& a = driver_api();
  if (p == SmPartition::any) {
    // Back to the whole device: the primary context, as the runtime makes it current.
    UT_CUDA_CHECK(a.ctx_set_current(nullptr));
    UT_CUDA_CHECK(cudaSetDevice(device_));
    return;
  }
  CUgreenCtx g = nullptr;
  CUdevice dev = device_;
  UT_CUDA_CHECK(a.green_ctx_create(&g, p == SmPartition::reserved ? reserved_desc_ : work_desc_, dev,
                                   CU_GREEN_CTX_DEFAULT_STREAM));
  CUcontext ctx = nullptr;
  try {
    UT_CUDA_CHECK(a.ctx_from_green_ctx(&ctx, g));
    UT_CUDA_CHECK(a.ctx_set_current(ctx));
  } catch (...) {
    (void)a.green_ctx_destroy(g);
    throw;
  }
  std::lock_guard lock(mutex_);
  thread_contexts_.push_back(g);
}

}  // namespace ut::cuda::detail
