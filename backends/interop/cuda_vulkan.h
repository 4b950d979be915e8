// Render, ML and data on one card: Vulkan events and heaps shared with the CUDA device of the same GPU, so that CUDA
// streams and Vulkan queues signal and wait the same 64-bit timeline semaphores on the GPU, and CUDA kernels write
// the bytes the renderer reads, with no host round trip and no copy.
//
//   auto vk = ut::Device::create({.backend = "vulkan"});
//   auto cu = ut::Device::create({.backend = "cuda"});
//   if (auto why = ut::interop::probe(*cu, *vk); !why.available) std::cerr << why.reason;  // another card, no fd export
//   auto e_data = vk->make_event("E_data");               // a timeline VkSemaphore, exported
//   ut::interop::share_event(*cu, *e_data);               // CUDA streams now signal/wait it on the GPU
//   auto chart = vk->make_heap({.size = 1 << 20, .mode = ut::StorageMode::device});
//   auto cu_chart = ut::interop::import_heap(*cu, *chart);  // the same memory, in CUDA's address space
//   ut::Buffer bars = chart->allocate(4096);
//   ut::Buffer cu_bars = ut::interop::alias(*cu_chart, bars);  // the same bytes, CUDA's address
//   cuda_q->make_command_buffer("agg").dispatch("groupby", grid, {.buffers = {cu_bars}}).signal(e_data, n).commit();
//   render_q->make_command_buffer("frame").wait(e_data, n).dispatch("draw_bars", grid, {.buffers = {bars}}).commit();
//
// Rules (what the conformance tests in tests/backends/interop_test.cpp check on a GPU)
// - Only events and heaps made by the Vulkan device are shared; CUDA's own events stay in pinned host memory,
//   which Vulkan queues resolve on the host, as they do for every foreign event.
// - A CUDA wait on a shared event goes to the GPU (cudaWaitExternalSemaphoresAsync) once a GPU signal of the value
//   is submitted by either API; a CUDA signal goes to the GPU when nothing fallible precedes it in its buffer.
//   Otherwise both fall back to the host path, so a failed producer still fails its dependants.
// - The imported heap keeps the Vulkan heap alive; place CUDA buffers with alias() (same offset), never allocate():
//   the two heaps' placement bookkeeping is separate.
// - On a Mac the same program runs on MoltenVK + Metal, where the Vulkan objects are MTLSharedEvent and MTLHeap and
//   no second API is needed.
#pragma once

#include <string>

#include "timeline/device.h"
#include "timeline/heap.h"
#include "timeline/shared_event.h"

namespace ut::interop {

// available: both devices are the same GPU (UUIDs match) and the Vulkan device exports timeline semaphores and
// memory as opaque fds. Otherwise the reason.
BackendInfo probe(const Device& cuda, const Device& vulkan);

// Imports the Vulkan event's semaphore into the CUDA device (once; again is a no-op). Throws UsageError for
// events of other backends or devices that cannot share, BackendError when CUDA refuses the handle.
void share_event(Device& cuda, const SharedEvent& vulkan_event);

// A CUDA device-storage heap over the Vulkan heap's memory (which it keeps alive).
HeapPtr import_heap(Device& cuda, const Heap& vulkan_heap);

// The buffer of `imported` that is the same bytes as `vulkan_buffer` (a buffer of the heap it was imported from).
Buffer alias(Heap& imported, const Buffer& vulkan_buffer);

}  // namespace ut::interop
