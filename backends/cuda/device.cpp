// CUDA device: probe, capabilities, queues with stream priorities, and the public helpers of device.h.
#include "backends/cuda/device.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "backends/cuda/internal.h"
#include "timeline/error.h"

namespace ut::cuda {
namespace detail {

namespace {

std::string version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

CudaDevice::CudaDevice(const DeviceDesc& desc, const Options& options) : Device(desc), index_(desc.device_index) {
  recover_if_lost(index_);
  UT_CUDA_CHECK(cudaSetDevice(index_));
  UT_CUDA_CHECK(cudaFree(nullptr));  // create the primary context now, not inside the first command
  cudaDeviceProp prop{};
  UT_CUDA_CHECK(cudaGetDeviceProperties(&prop, index_));
  int least = 0, greatest = 0;
  UT_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  std::size_t free_bytes = 0, total_bytes = 0;
  UT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  int driver = 0, runtime = 0;
  UT_CUDA_CHECK(cudaDriverGetVersion(&driver));
  UT_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));

  const DriverApi& api = driver_api();
  int can64 = 0;
  if (api.device_attribute) {
    CUdevice dev = index_;
    if (api.device_attribute(&can64, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS, dev) != CUDA_SUCCESS) can64 = 0;
  }
  const bool forced = options.kernel_events || env_flag("UT_CUDA_KERNEL_EVENTS");
  memops_ = can64 != 0 && api.write64 != nullptr && api.wait64 != nullptr && !forced;

  caps_.backend = "cuda";
  caps_.name = prop.name;
  caps_.is_gpu = true;
  caps_.zero_copy_shared_heaps = prop.canMapHostMemory != 0;
  caps_.gpu_side_events = true;  // memory ops, or the kernel fallback: either way the GPU signals and waits
  // A host-signalled value releases a parked buffer through the completion thread (see CudaQueue::encode_wait).
  caps_.host_signal_wakes_device = false;
  caps_.priority_levels = least - greatest + 1;
  caps_.native_priority_high = greatest;
  caps_.native_priority_low = least;
  caps_.memory_total = total_bytes;
  caps_.memory_free = free_bytes;
  caps_.compute_units = static_cast<unsigned>(prop.multiProcessorCount);
  caps_.cpu_cores = std::max(1u, std::thread::hardware_concurrency());
  caps_.driver = "CUDA driver " + version_text(driver) + ", runtime " + version_text(runtime) +
                 ", compute capability " + std::to_string(prop.major) + "." + std::to_string(prop.minor);
  if (memops_) {
    caps_.notes.push_back("GPU-side events: 64-bit stream memory ops (cuStreamWriteValue64/cuStreamWaitValue64)");
  } else {
    caps_.notes.push_back(std::string("GPU-side events: kernel fallback (one-thread store/poll kernels); ") +
                          (forced ? "forced by UT_CUDA_KERNEL_EVENTS / Options::kernel_events"
                                  : "CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS is 0 or the entry points are missing"));
  }
  caps_.notes.push_back("stream priorities " + std::to_string(least) + " (low) .. " + std::to_string(greatest) +
                        " (high): they pick the next block, never preempt a running one");
  caps_.notes.push_back(api.has_green_contexts() ? "green contexts (SM partitions) available in the driver"
                                                 : "green contexts unavailable (driver older than 12.5)");
  {
    const NvmlStats n = nvml_stats(index_);
    caps_.notes.push_back(n.available ? "NVML: available" : "NVML: " + n.reason);
  }
  caps_.notes.push_back("a GPU-side wait is enqueued only after its producer (deadlock-free with shared hardware "
                        "queues); waits on host/CPU-signalled values park on the host and resume via the completion "
                        "thread");
  if (validator()) caps_.notes.push_back("validation on");

  if (desc.reserve_sms > 0) {
    try {
      partitions_ = std::make_unique<SmPartitions>(index_, desc.reserve_sms);
      caps_.partition = {.active = true, .reserved_sms = partitions_->reserved_sms(),
                         .work_sms = partitions_->work_sms(), .mode = "green contexts"};
    } catch (const Error& e) {  // an old driver, or a count the GPU cannot split: say so, keep priorities
      caps_.partition.mode = std::string("stream priorities (no SM partition: ") + e.what() + ")";
    }
  }
  caps_.notes.push_back("SM partition: " + (caps_.partition.active
                                                ? std::to_string(caps_.partition.reserved_sms) + " SMs reserved, " +
                                                      std::to_string(caps_.partition.work_sms) + " for work (green contexts)"
                                                : caps_.partition.mode));

  pool_ = std::make_shared<PinnedPool>(index_);
  reaper_ = std::make_shared<Reaper>(index_);
  cudaStream_t probe = nullptr;
  UT_CUDA_CHECK(cudaStreamCreateWithFlags(&probe, cudaStreamNonBlocking));
  probe_.reset(probe);
  cudaEvent_t probe_event = nullptr;
  UT_CUDA_CHECK(cudaEventCreateWithFlags(&probe_event, cudaEventDisableTiming));
  probe_event_.reset(probe_event);
  worker_ = std::make_unique<Worker>(index_, [this] { watchdog_tick(); });
  encoder_ = std::make_unique<Worker>(index_, [] {});
}

CudaDevice::~CudaDevice() {
  // Queues are gone (they drain on destruction), so nothing is in flight unless the device was lost.
  // Each runs what was posted and joins; the other's later posts to a stopped one are dropped.
  encoder_->stop();
  worker_->stop();
  encoder_.reset();
  worker_.reset();
  probe_event_.reset();
  probe_.reset();
  drop_external_timelines(/*all=*/true);
  pool_.reset();
  reaper_.reset();  // runs the frees still queued
  if (lost() && native_allocs() == 0) {
    // Tear the poisoned context down now rather than at process exit (where the runtime's own teardown of a
    // context with stuck streams is not something to rely on).
    (void)cudaSetDevice(index_);
    (void)cudaDeviceReset();
  }
}

void CudaDevice::make_current() const {
  // cudaSetDevice would make the primary context current and undo a partition binding (bind_current_thread).
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == index_) return;
  UT_CUDA_CHECK(cudaSetDevice(index_));
}

bool CudaDevice::bind_current_thread(SmPartition p) {
  if (!partitions_) return false;
  partitions_->bind_current_thread(p);
  return true;
}

DeviceCaps CudaDevice::refresh_caps() {
  DeviceCaps c = caps_;
  if (lost()) return c;
  make_current();
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
    c.memory_free = free_bytes;
    c.memory_total = total_bytes;
  } else {
    (void)cudaGetLastError();
  }
  return c;
}

DeviceUtilization CudaDevice::utilization() const {
  const NvmlStats n = nvml_stats(index_);
  return {.available = n.available, .reason = n.reason, .gpu_percent = n.gpu_utilization_percent,
          .memory_busy_percent = n.memory_utilization_percent, .memory_used = n.memory_used,
          .memory_total = n.memory_total, .temperature_c = n.temperature_c, .power_mw = n.power_mw};
}

QueuePtr CudaDevice::make_queue(QueueDesc desc) {
  if (lost()) throw BackendError("[Device::make_queue] device lost: " + lost_reason());
  // Resolve the default priority the way the core does, to choose the stream priority.
  QueuePriority p = desc.priority.value_or(desc.kind == QueueKind::render     ? QueuePriority::high
                                           : desc.kind == QueueKind::transfer ? QueuePriority::low
                                                                              : QueuePriority::normal);
  const int native = p == QueuePriority::high  ? caps_.native_priority_high
                     : p == QueuePriority::low ? caps_.native_priority_low
                                               : (caps_.native_priority_high + caps_.native_priority_low) / 2;
  if (desc.partition != SmPartition::any && !partitions_) desc.partition = SmPartition::any;  // caps say why
  return std::make_shared<CudaQueue>(*this, std::move(desc), native);
}

CudaDevice& as_cuda(const Device& d, const char* fn) {
  auto* c = dynamic_cast<const CudaDevice*>(&d);
  if (c == nullptr) throw UsageError(std::string("[cuda::") + fn + "] device '" + d.caps().name + "' is not a CUDA device");
  return const_cast<CudaDevice&>(*c);
}

CudaQueue& as_cuda(const Queue& q, const char* fn) {
  auto* c = dynamic_cast<const CudaQueue*>(&q);
  if (c == nullptr) throw UsageError(std::string("[cuda::") + fn + "] queue '" + q.label() + "' is not a CUDA queue");
  return const_cast<CudaQueue&>(*c);
}

}  // namespace detail

// ---- public API ----------------------------------------------------------------------------------------------
BackendInfo probe() {
  // Cached: the answer does not change while the process runs, and probing initializes the runtime.
  static const BackendInfo info = [] {
    BackendInfo b{"cuda", false, {}};
    int driver = 0;
    (void)cudaDriverGetVersion(&driver);
    if (driver == 0) {
      b.reason = "no CUDA driver (libcuda.so.1 was not found; this machine has no NVIDIA driver)";
      return b;
    }
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
      (void)cudaGetLastError();
      b.reason = "no CUDA device";
      return b;
    }
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      b.reason = "cudaGetDeviceCount failed: " + detail::error_text(e);
      return b;
    }
    b.available = true;
    return b;
  }();
  return info;
}

DevicePtr make_device(const DeviceDesc& desc) { return make_device_with(desc, Options{}); }

DevicePtr make_device_with(const DeviceDesc& desc, const Options& options) {
  const BackendInfo info = probe();
  if (!info.available) throw BackendError("[cuda::make_device] CUDA is not available: " + info.reason);
  int count = 0;
  UT_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (desc.device_index < 0 || desc.device_index >= count) {
    throw UsageError("[cuda::make_device] device_index " + std::to_string(desc.device_index) + " is out of range (" +
                     std::to_string(count) + " CUDA devices)");
  }
  return std::make_shared<detail::CudaDevice>(desc, options);
}

bool device_lost(const Device& device) { return detail::as_cuda(device, "device_lost").lost(); }

std::string device_lost_reason(const Device& device) { return detail::as_cuda(device, "device_lost_reason").lost_reason(); }

bool stream_in_partition(void* stream) {
  const auto& a = detail::driver_api();
  if (!a.stream_get_green_ctx) return false;
  CUgreenCtx g = nullptr;
  return a.stream_get_green_ctx(static_cast<CUstream>(stream), &g) == CUDA_SUCCESS && g != nullptr;
}

void* native_stream(const Queue& queue) { return detail::as_cuda(queue, "native_stream").stream(); }

void replay_as_graph(Queue& queue, const std::string& label) {
  detail::as_cuda(queue, "replay_as_graph").enable_graph(label);
}

GraphStats graph_stats(const Queue& queue) { return detail::as_cuda(queue, "graph_stats").graph_stats(); }

}  // namespace ut::cuda
