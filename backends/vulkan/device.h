// Vulkan backend: queues on graphics / compute / transfer VkQueues, SharedEvents backed by timeline semaphores,
// heaps of VkDeviceMemory (host-visible or device-local), copies and SPIR-V compute dispatches. On lavapipe (CI)
// and on GPU drivers; on a Mac, MoltenVK maps exactly these objects onto MTLSharedEvent and MTLHeap.
//
//   if (auto info = ut::vulkan::probe(); !info.available) std::cerr << info.reason;  // "no Vulkan loader", ...
//   auto dev = ut::Device::create({.backend = "vulkan"});    // never picked by "auto" (few Vulkan kernels yet)
//   auto q = dev->make_queue({.kind = ut::QueueKind::render});           // a graphics-family VkQueue
//   auto e = dev->make_event("E_frame");                                 // a timeline VkSemaphore + host word
//   auto heap = dev->make_heap({.size = 1 << 20, .mode = ut::StorageMode::device});  // DEVICE_LOCAL memory
//   ut::vulkan::add_kernel("scale", {scale_spv, sizeof(scale_spv)}, 256); // SPIR-V from cmake/UtVulkan.cmake
//   q->make_command_buffer("tick").wait(e_data, 3).dispatch("scale", ut::Grid{n}, args).signal(e, 1).commit();
//   VkSemaphore s = ut::vulkan::native_semaphore(*e).semaphore;         // for interop (exportable where caps say)
//
// Execution model (what the conformance suite relies on, and what differs from the other backends)
// - A queue is a worker thread that turns command buffers into batches (vkQueueSubmit) on one VkQueue: render ->
//   a graphics family, compute and host -> a compute family (a compute-only one where it exists), transfer -> a
//   transfer-only family where it exists (it cannot dispatch). Queue priorities pick VkQueues created with
//   priorities 1.0 / 0.5 / 0.0 where the family has enough queues; timeline queues share VkQueues (lavapipe has
//   one), so submissions are serialized per VkQueue. Each queue has a private timeline semaphore ("progress"):
//   every batch waits for the previous one and signals the next value, so one queue's batches run in order.
// - GPU commands (dispatch, copy) are recorded with a full barrier between them. A signal of a Vulkan event ends
//   the batch with a semaphore signal operation; the completion thread raises the event's host word once the batch
//   is done (listeners run there). Where the queue has no GPU work in flight, the worker signals directly: the
//   host word, then vkSignalSemaphore while no GPU signal of the semaphore is pending.
// - A wait on a Vulkan event becomes a GPU-side semaphore wait, but only once a signal of that value is already
//   submitted (or the value is reached, then no wait at all): a batch never waits for work submitted after it, so
//   one shared, in-order VkQueue cannot deadlock. Until then the worker parks on the host (the validator sees it,
//   as on the CPU backend) and resumes when the value is reached (host signal, another backend, a failure) or a
//   signal of it is submitted. Events of other backends are always resolved on the host that way.
// - host_task: the worker submits what is recorded, waits for the queue's GPU work (vkWaitSemaphores), then runs
//   the task on its own thread. dispatch calls the kernel registered for backend "vulkan" with
//   DispatchContext{native_queue = a recorder, host = false}; add_kernel() registers SPIR-V with the standard
//   binding (see below). copy is vkCmdCopyBuffer between buffers of Vulkan heaps of this device.
// - Failures: a command that throws while the worker records or runs it fails the buffer; later commands are
//   skipped and later signals are raised with the error at once (SharedEvent::signal_failed), so dependants fail.
//   Signals are checked for going backwards when the worker reaches them (ValidationError). GPU execution itself
//   cannot report a failed kernel: a real GPU fault is VK_ERROR_DEVICE_LOST, after which every buffer in flight
//   and every later one fails with BackendError("device lost").
// - Memory: shared heaps are HOST_VISIBLE | HOST_COHERENT (cached where offered), mapped for their lifetime;
//   device heaps are DEVICE_LOCAL and never mapped (contents() throws even where the memory is host-visible, as on
//   lavapipe). Buffer::device_address() is the VkBuffer's device address (bufferDeviceAddress) or the offset.
// - Interop (later: CUDA imports of the semaphores and heaps): where the device has VK_KHR_external_semaphore_fd /
//   VK_KHR_external_memory_fd, semaphores and heaps are created exportable (caps().notes say so) and
//   export_semaphore_fd() / export_memory_fd() hand out file descriptors.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "timeline/device.h"
#include "timeline/kernel.h"

namespace ut::vulkan {

// available=false with a reason ("no Vulkan loader ...", "no Vulkan device ...") instead of failing.
BackendInfo probe();

struct Options {
  // Enable VK_LAYER_KHRONOS_validation where it is installed (also UT_VULKAN_VALIDATION=1; =sync adds
  // synchronization validation). Messages are kept: validation_messages().
  bool api_validation = false;
  bool sync_validation = false;
};

DevicePtr make_device(const DeviceDesc& desc);
DevicePtr make_device_with(const DeviceDesc& desc, const Options& options);

// Warnings and errors the validation layer reported for this device (empty when the layer is off).
std::vector<std::string> validation_messages(const Device& device);

// ---- compute kernels -------------------------------------------------------------------------------------------
// SPIR-V words of a compute shader: glslangValidator --vn output (cmake/UtVulkan.cmake), {name, sizeof(name)}.
struct Spirv {
  const uint32_t* words = nullptr;
  std::size_t bytes = 0;
};

// Registers `name` for backend "vulkan". Dispatching it binds DispatchArgs::buffers to bindings 0..n-1 of set 0
// (storage buffers), pushes {grid.x, grid.y, grid.z, count} as a uvec4 at offset 0 followed by
// DispatchArgs::constants at offset 16, and launches ceil(count / local_size_x) work groups (spread over x and y
// where x would exceed the device limit). The shader's linear index is
//   gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x
// and it returns when that index >= count. Returns false if the name was already registered for "vulkan".
bool add_kernel(const std::string& name, Spirv spirv, uint32_t local_size_x);

// For kernel functions with their own launch shape: inside a KernelFn registered for "vulkan", records `spirv`
// with the buffers of `c.args` bound as above and `push` as the whole push-constant block.
void record_dispatch(const DispatchContext& c, Spirv spirv, std::array<uint32_t, 3> groups,
                     std::span<const std::byte> push);

// ---- native handles (interop, measurements) ----------------------------------------------------------------------
// Each throws UsageError for objects of other backends.
struct NativeDevice {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  PFN_vkGetInstanceProcAddr get_instance_proc_addr = nullptr;  // the loader's, for the handles above
  uint32_t api_version = 0;
  std::array<uint8_t, VK_UUID_SIZE> device_uuid{};  // matches cudaDeviceProp::uuid on NVIDIA
  bool external_memory_fd = false;     // heaps are exportable
  bool external_semaphore_fd = false;  // event semaphores are exportable
};
NativeDevice native_device(const Device& device);

struct NativeQueue {
  VkQueue queue = VK_NULL_HANDLE;  // shared with other timeline queues: submit only through the backend
  uint32_t family = 0, index = 0;
  VkSemaphore progress = VK_NULL_HANDLE;  // the queue's private timeline semaphore
};
NativeQueue native_queue(const Queue& queue);

struct NativeSemaphore {
  VkSemaphore semaphore = VK_NULL_HANDLE;  // VK_SEMAPHORE_TYPE_TIMELINE
  bool exportable = false;                 // created with VkExportSemaphoreCreateInfo (opaque fd)
};
NativeSemaphore native_semaphore(const SharedEvent& event);

struct NativeMemory {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;  // covers the whole heap
  VkDeviceSize size = 0, allocation_size = 0;
  bool exportable = false;  // allocated with VkExportMemoryAllocateInfo (opaque fd)
  bool dedicated = false;   // a dedicated allocation (the importer must say so too)
  bool host_visible = false;
};
NativeMemory native_memory(const Heap& heap);

// A new opaque file descriptor for the event's semaphore / the heap's memory; the caller owns it (an importer such
// as cudaImportExternalSemaphore takes it over). Throws UsageError where the object is not exportable.
int export_semaphore_fd(const SharedEvent& event);
int export_memory_fd(const Heap& heap);

// For an importer whose own GPU queues signal and wait the event's semaphore (CUDA, backends/interop): the rules
// every user of the semaphore keeps, so that it only ever receives increasing values and no GPU wait is submitted
// before its producer. Each throws UsageError for events of other backends.
// - reserve_semaphore_signal: true if `value` is above every value promised to the semaphore so far; it is then
//   promised to the caller, who must submit a GPU signal of exactly `value` and report it with semaphore_signal_
//   submitted. False: the caller raises the event's word only (as a Vulkan queue does for such a value).
// - semaphore_signal_submitted: a GPU signal of `value` is in a queue; GPU waits for it may now be submitted.
// - when_semaphore_signal_submitted: calls fn (on the submitting thread, or at once) once a GPU signal of `value`
//   or more is submitted. fn must be short and must not submit work itself.
bool reserve_semaphore_signal(const SharedEvent& event, uint64_t value);
void semaphore_signal_submitted(SharedEvent& event, uint64_t value);
bool semaphore_signal_is_submitted(const SharedEvent& event, uint64_t value);
void when_semaphore_signal_submitted(const SharedEvent& event, uint64_t value, std::function<void()> fn);

}  // namespace ut::vulkan
