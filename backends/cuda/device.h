// CUDA backend: prioritized streams, 64-bit GPU-side events in pinned mapped memory, zero-copy and device heaps,
// the copy engine, opt-in CUDA-graph replay, and device statistics (cudaMemGetInfo, NVML loaded at run time).
//
//   if (auto info = ut::cuda::probe(); !info.available) std::cerr << info.reason;  // "no CUDA driver", ...
//   auto dev = ut::Device::create({.backend = "cuda"});      // or ut::cuda::make_device({})
//   auto render = dev->make_queue({.kind = ut::QueueKind::render});   // highest stream priority
//   auto e = dev->make_event("E_frame");                    // 64-bit word in pinned, mapped host memory
//   auto heap = dev->make_heap({.size = 64 << 20, .mode = ut::StorageMode::shared});  // zero-copy
//   auto cb = render->make_command_buffer("tick");
//   cb.wait(e_data, 3).dispatch("draw", ut::Grid{n}, args).signal(e, 1);  // waits/signals run on the GPU
//   cb.commit();
//   ut::cuda::replay_as_graph(*render, "tick");             // later "tick" buffers: captured once, replayed
//   if (auto s = ut::cuda::nvml_stats(); s.available) std::cout << *s.gpu_utilization_percent;
//
// Execution model (contracts the conformance suite relies on, and what differs from the CPU backend)
// - A queue is a non-blocking stream with a priority from cudaDeviceGetStreamPriorityRange (high -> greatest,
//   normal -> middle, low -> least; render defaults to high, transfer to low). Host callbacks (start/notify/
//   completion) go to a second "callback" stream forked with an event, so the work stream never stalls on them.
// - signal: cuStreamWriteValue64 on the event's pinned word, then a callback wakes host waiters; notify listeners
//   run on the device's completion thread (never on CUDA's callback thread, so they may call CUDA). A signal that
//   follows a host task or a GPU-side wait in the same buffer is written by a one-thread "checked signal" kernel
//   that skips the write if the buffer has failed so far (host task threw, or a waited value carries an error);
//   the completion thread then signals it failed, in stream order, so dependants fail instead of hanging.
//   Signals are plain stores on the GPU: a backwards signal is rejected at encode time (value < current value).
// - wait: cuStreamWaitValue64(GEQ) on the word -- but only once the producer is already in a stream of this
//   device (a signal of that value was encoded): streams share a few hardware queues, and a wait submitted before
//   its producer can block the very hardware queue the producer lands in (the deadlock NVIDIA's cuStreamWaitValue
//   documentation warns about). Until then the buffer (and the queue behind it) parks on the host; it resumes on
//   the completion thread when a CUDA queue encodes the signal, or when the value is reached (host signal, CPU
//   queue, failure), in which case no GPU wait is needed at all. Events of other backends are handled that way.
// - Fallback without 64-bit stream memory ops (or with Options::kernel_events): one-thread kernels store / poll
//   the word (__nanosleep back-off). Never a blocking host callback: CUDA runs callbacks on one thread, so a
//   callback blocked on a value that another callback must produce would deadlock.
// - host_task runs in cudaLaunchHostFunc: it must not call CUDA, and should be short (it holds CUDA's callback
//   thread). dispatch calls the kernel registered for backend "cuda" with DispatchContext{native_queue = stream,
//   host = false}. copy is cudaMemcpyAsync(cudaMemcpyDefault) (the copy engine between pinned and device memory).
// - Completion: a callback at the end of each buffer hands it to the device's completion thread, which checks the
//   stream for asynchronous faults, resolves the buffer's status and calls finish() (handlers may call CUDA).
// - After a failure inside a running buffer, later GPU commands of that buffer still execute (a stream cannot skip
//   them) but later host tasks are skipped and later signals carry the error, as on the CPU backend.
// - A GPU fault (sticky error: illegal address, trap) makes the device lost: every in-flight buffer fails with
//   "device lost: <error>" naming its kernels (dependants fail with the upstream error), later commits fail at
//   once. When every object of the lost device is released, the context is reset (cudaDeviceReset); on the
//   driver tested (580.159, H200) the device then stays unavailable to this process (cudaErrorDevicesUnavailable),
//   so the next make_device() throws BackendError saying so: restart the process to use the GPU again.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "timeline/device.h"

namespace ut::cuda {

// available=false with a reason ("no CUDA driver ...", "no CUDA device", the cudaError text) instead of failing.
BackendInfo probe();

struct Options {
  // Use the kernel fallback for GPU-side signal/wait even where 64-bit stream memory ops exist (for testing the
  // fallback). Also set by UT_CUDA_KERNEL_EVENTS=1.
  bool kernel_events = false;
};

DevicePtr make_device(const DeviceDesc& desc);
DevicePtr make_device_with(const DeviceDesc& desc, const Options& options);

// True once a sticky GPU error made this (CUDA) device unusable; reason() says which error. Throws UsageError
// for devices of other backends.
bool device_lost(const Device& device);
std::string device_lost_reason(const Device& device);  // empty while healthy

// The cudaStream_t behind a CUDA queue (for interop and measurements). Throws UsageError for other queues.
void* native_stream(const Queue& queue);

// True when a stream (cudaStream_t) belongs to a green context, i.e. runs inside an SM partition: a queue of a
// partition, or a stream created by any code on a thread bound with Device::bind_current_thread.
bool stream_in_partition(void* stream);

// CUDA graphs, opt-in per queue and command-buffer label: the runs of dispatch/copy commands of every buffer with
// this label are captured into CUDA graphs on first commit and replayed by later commits whose commands have the
// same signature (kernel names, grids, buffer addresses, constants, copy ranges); a different signature is
// re-captured. Signals, waits and host tasks between the runs execute as usual, so event values may change per
// tick. Throws UsageError for non-CUDA queues.
void replay_as_graph(Queue& queue, const std::string& label);
struct GraphStats {
  uint64_t captures = 0;  // graphs captured (first use or signature change)
  uint64_t replays = 0;   // graph launches that reused a capture
};
GraphStats graph_stats(const Queue& queue);

// ---- external semaphores and memory (interop with Vulkan on the same card: backends/interop/cuda_vulkan.h) -------
// The card's UUID (cudaDeviceProp::uuid; Vulkan's VkPhysicalDeviceIDProperties::deviceUUID names the same card).
std::array<uint8_t, 16> device_uuid(const Device& device);

// A timeline semaphore another API owns, and that API's rules (see ut::vulkan::reserve_semaphore_signal): the
// semaphore only receives increasing values, and a GPU wait goes into a stream only after its producer.
struct ExternalTimeline {
  int fd = -1;  // opaque fd of the timeline semaphore; CUDA takes it over on success
  std::function<bool(uint64_t)> reserve_signal;         // may a CUDA stream signal this value?
  std::function<void(uint64_t)> signal_submitted;       // a CUDA stream has the signal of this value now
  std::function<bool(uint64_t)> signal_is_submitted;    // a GPU signal of this value or more is in some queue
  std::function<void(uint64_t, std::function<void()>)> when_signal_submitted;  // call back once it is
};
// From now on this device's queues signal and wait `event` (an event of another backend) on the GPU:
// - wait(event, v): cudaWaitExternalSemaphoresAsync once a GPU signal of v is submitted (by either API); before,
//   the buffer parks on the host as for any foreign event, and resumes when the signal is submitted.
// - signal(event, v): cudaSignalExternalSemaphoresAsync when v is above every value promised to the semaphore and
//   nothing fallible (a host task, a wait that may carry an error) precedes it in the buffer; the event's word is
//   raised when the stream reaches it, as for every foreign event.
// Importing the same event again does nothing. Throws BackendError if CUDA refuses the handle.
void import_timeline(Device& device, const SharedEvent& event, ExternalTimeline timeline);

// Memory another API allocated (opaque fd), mapped into this device's address space as a device-storage heap:
// its buffers are the same bytes as the owner's buffers at the same offsets (Heap::allocate_at places them).
struct ExternalMemory {
  int fd = -1;                    // CUDA takes it over on success
  std::size_t size = 0;           // bytes the heap covers (from offset 0)
  std::size_t allocation_size = 0;  // the whole allocation, as the owner reports it
  bool dedicated = false;         // a dedicated allocation (Vulkan: VkMemoryDedicatedAllocateInfo)
  std::shared_ptr<void> keep;     // the owner's memory: kept alive as long as the imported heap
  std::string label;
};
HeapPtr import_memory(Device& device, ExternalMemory memory);

// NVML (libnvidia-ml.so.1, loaded at run time): values that NVML did not give stay empty.
struct NvmlStats {
  bool available = false;
  std::string reason;  // why not available
  std::optional<unsigned> gpu_utilization_percent, memory_utilization_percent;
  std::optional<uint64_t> memory_used, memory_total;  // bytes
  std::optional<unsigned> temperature_c;
  std::optional<unsigned> power_mw;
};
NvmlStats nvml_stats(int device_index = 0);

}  // namespace ut::cuda
