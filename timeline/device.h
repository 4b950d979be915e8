// Device: one backend's view of a processor, and the factory for queues, events and heaps.
//
//   auto dev = ut::Device::create();                 // UT_BACKEND=cpu|cuda, or the best available
//   auto dev = ut::Device::create({.backend = "cpu", .validation = true});
//   for (auto& b : ut::Device::backends()) std::cout << b.name << (b.available ? "" : ": " + b.reason);
//   const ut::DeviceCaps& caps = dev->caps();         // capabilities are data
//   ut::DeviceUtilization u = dev->utilization();     // live GPU figures where the backend reads them
//   auto q = dev->make_queue({.kind = ut::QueueKind::render});
//   auto e = dev->make_event("E_frame");
//   auto h = dev->make_heap({.size = 1 << 20});
//   dev->trace().write_chrome_json("timeline.json");
//
// Contract: a Device outlives nothing it made on purpose — queues, events and heaps hold what they need, but
// the Device must outlive its queues (a queue's destructor drains into the device's trace). Thread-safe.
// There is no global device: whoever needs one owns it (the Engine does).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "timeline/heap.h"
#include "timeline/queue.h"
#include "timeline/shared_event.h"
#include "timeline/trace.h"

namespace ut {

class Validator;

struct DeviceCaps {
  std::string backend;                  // "cpu", "cuda"
  std::string name;                     // "NVIDIA H200", "x86_64 CPU (2 cores)"
  bool is_gpu = false;
  bool zero_copy_shared_heaps = false;  // shared heaps are read by the device without a copy
  bool gpu_side_events = false;         // event waits/signals execute on the device (64-bit stream memory ops)
  bool host_signal_wakes_device = true; // a host signal releases device-side waits with no host thread
  int priority_levels = 1;              // distinct queue priorities the backend honours
  int native_priority_high = 0, native_priority_low = 0;
  std::size_t memory_total = 0, memory_free = 0;  // bytes; device memory for GPUs, RAM for the CPU
  unsigned compute_units = 0;           // SMs, or CPU cores
  unsigned cpu_cores = 0;
  std::string driver;                   // driver / runtime versions where known
  std::vector<std::string> notes;       // optional features and why they are off
  // The SM partition (DeviceDesc::reserve_sms): active with green contexts on CUDA; otherwise `mode` says why
  // not (and what stands in for it: stream priorities).
  struct Partition {
    bool active = false;
    unsigned reserved_sms = 0, work_sms = 0;
    std::string mode = "off";  // "green contexts", "off", or "stream priorities (<why no partition>)"
  } partition;
};

// Live figures of a device (GPU utilisation, memory, temperature, power) where the backend can read them
// (NVML for CUDA); every field is empty where unknown (the CPU backend reports none: see host_info()).
struct DeviceUtilization {
  bool available = false;
  std::string reason;  // why not available ("no NVML", "not a GPU", ...)
  std::optional<unsigned> gpu_percent, memory_busy_percent;
  std::optional<uint64_t> memory_used, memory_total;  // bytes
  std::optional<unsigned> temperature_c, power_mw;
};

struct DeviceDesc {
  std::string backend;                  // empty: $UT_BACKEND, else the best available
  bool validation = false;              // also enabled by UT_VALIDATION=1
  // Validation: how long a queue may wait for a value that no committed command buffer will signal
  // before the wait fails (the host may still signal it within this time).
  std::chrono::milliseconds unsatisfiable_wait_grace{2000};
  std::size_t trace_capacity = 1 << 16; // command-buffer records kept (oldest dropped first)
  int device_index = 0;                 // which GPU
  // SMs kept for render and latency-critical queues (SmPartition::reserved); the rest run `work` queues and
  // threads bound with bind_current_thread(work). 0: no partition. Rounded to the hardware's granularity.
  unsigned reserve_sms = 0;
};

struct BackendInfo {
  std::string name;
  bool available = false;
  std::string reason;  // why not available
};

class Device : public std::enable_shared_from_this<Device> {
 public:
  // Defined by the backend registry (backends/registry.cpp), so that timeline/ names no backend.
  static std::shared_ptr<Device> create(DeviceDesc desc = {});
  static std::vector<BackendInfo> backends();

  explicit Device(const DeviceDesc& desc);
  virtual ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  virtual const DeviceCaps& caps() const = 0;
  virtual QueuePtr make_queue(QueueDesc desc) = 0;
  virtual EventPtr make_event(std::string label = {}, uint64_t initial_value = 0) = 0;
  virtual HeapPtr make_heap(HeapDesc desc) = 0;
  // Current memory figures (refreshes memory_free for GPUs).
  virtual DeviceCaps refresh_caps() { return caps(); }
  // Makes work that the calling thread launches through the vendor runtime from now on — including streams
  // that libraries such as llama.cpp create on this thread — run in partition `p`. Returns false (and does
  // nothing) where the device has no active partition. Call it on the thread before the library creates its
  // streams; the binding lasts for the thread's life.
  virtual bool bind_current_thread(SmPartition /*p*/) { return false; }
  // Live utilisation (refreshable stats call); the default says the backend reads none.
  virtual DeviceUtilization utilization() const { return {.reason = caps().backend + " backend reports no utilisation"}; }

  // A buffer in a heap of its own.
  Buffer make_buffer(std::size_t bytes, StorageMode mode = StorageMode::shared, std::string label = {});

  const std::string& backend_name() const { return caps().backend; }
  Trace& trace() noexcept { return trace_; }
  const Trace& trace() const noexcept { return trace_; }
  Validator* validator() noexcept { return validator_.get(); }

 protected:
  Trace trace_;
  std::unique_ptr<Validator> validator_;
};

using DevicePtr = std::shared_ptr<Device>;

// Backend registry entry; backends/registry.cpp lists the built ones.
struct BackendFactory {
  std::string name;
  std::function<BackendInfo()> probe;
  std::function<DevicePtr(const DeviceDesc&)> create;
};

}  // namespace ut
