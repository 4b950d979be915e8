#include "backends/cpu/device.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <thread>

#include "backends/cpu/queue.h"
#include "timeline/error.h"
#include "timeline/host.h"

namespace ut::cpu {

// Thin forwards to the timeline's host facts (other backends' capabilities use them too).
unsigned host_cores() { return host_info().cores; }
std::size_t host_memory_total() { return host_info().memory_total; }
std::size_t host_memory_available() { return host_info().memory_available; }
std::string host_cpu_name() { return host_info().cpu_name; }

namespace {

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(const DeviceDesc& desc) : Device(desc) {
    caps_.backend = "cpu";
    caps_.name = host_cpu_name() + " (" + std::to_string(host_cores()) + " cores)";
    caps_.is_gpu = false;
    caps_.zero_copy_shared_heaps = true;  // one address space
    caps_.gpu_side_events = false;
    caps_.host_signal_wakes_device = true;
    caps_.priority_levels = 3;
    caps_.compute_units = host_cores();
    caps_.cpu_cores = host_cores();
    caps_.memory_total = host_memory_total();
    caps_.memory_free = host_memory_available();
    caps_.driver = "host";
    caps_.notes.push_back("queue priority is a thread nice hint: low-priority workers run at nice +5; "
                          "high priority needs CAP_SYS_NICE and is skipped without it");
    if (validator()) caps_.notes.push_back("validation on");
  }

  const DeviceCaps& caps() const override { return caps_; }

  DeviceCaps refresh_caps() override {
    DeviceCaps c = caps_;
    c.memory_free = host_memory_available();
    return c;
  }

  QueuePtr make_queue(QueueDesc desc) override { return std::make_shared<CpuQueue>(*this, std::move(desc)); }

  EventPtr make_event(std::string label, uint64_t initial_value) override {
    // Own cache line: events are hammered by several threads.
    auto word = std::shared_ptr<uint64_t>(new (std::align_val_t(64)) uint64_t(0),
                                          [](uint64_t* p) { ::operator delete(p, std::align_val_t(64)); });
    EventStorage st{word.get(), 0, word};
    return std::make_shared<SharedEvent>(std::move(st), std::move(label), initial_value);
  }

  HeapPtr make_heap(HeapDesc desc) override {
    if (desc.size == 0) throw UsageError("[Device::make_heap] heap '" + desc.label + "' has size 0");
    const std::size_t bytes = (desc.size + 4095) & ~std::size_t{4095};
    void* p = std::aligned_alloc(4096, bytes);
    if (p == nullptr) {
      throw OutOfMemoryError("[Device::make_heap] cannot allocate " + std::to_string(bytes) + " bytes for heap '" +
                             desc.label + "'");
    }
    HeapMemory mem{p, reinterpret_cast<uintptr_t>(p), desc.size, std::shared_ptr<void>(p, [](void* q) { std::free(q); })};
    return std::make_shared<Heap>(std::move(mem), desc.mode, desc.label.empty() ? "heap" : desc.label);
  }

 private:
  DeviceCaps caps_;
};

}  // namespace

BackendInfo probe() { return {"cpu", true, {}}; }

DevicePtr make_device(const DeviceDesc& desc) { return std::make_shared<CpuDevice>(desc); }

}  // namespace ut::cpu
