// NVML, loaded at run time (libnvidia-ml.so.1 ships with the driver; absent on machines without one).
// Only the handful of entry points we read are declared here, so no NVML header is needed to build.
#include <dlfcn.h>

#include <mutex>

#include "backends/cuda/internal.h"

namespace ut::cuda {
namespace {

using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned gpu, memory;
};
struct nvmlMemory_t {
  unsigned long long total, free, used;
};

struct Nvml {
  bool ok = false;
  std::string reason;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*by_pci)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned*) = nullptr;
  nvmlReturn_t (*power)(nvmlDevice_t, unsigned*) = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;
};

const Nvml& nvml() {
  static const Nvml n = [] {
    Nvml x;
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);  // kept loaded for the process's life
    if (lib == nullptr) {
      x.reason = "libnvidia-ml.so.1 not found (no NVIDIA driver)";
      return x;
    }
    auto sym = [&](const char* name) { return dlsym(lib, name); };
    x.init = reinterpret_cast<decltype(x.init)>(sym("nvmlInit_v2"));
    x.by_pci = reinterpret_cast<decltype(x.by_pci)>(sym("nvmlDeviceGetHandleByPciBusId_v2"));
    x.utilization = reinterpret_cast<decltype(x.utilization)>(sym("nvmlDeviceGetUtilizationRates"));
    x.memory = reinterpret_cast<decltype(x.memory)>(sym("nvmlDeviceGetMemoryInfo"));
    x.temperature = reinterpret_cast<decltype(x.temperature)>(sym("nvmlDeviceGetTemperature"));
    x.power = reinterpret_cast<decltype(x.power)>(sym("nvmlDeviceGetPowerUsage"));
    x.error_string = reinterpret_cast<decltype(x.error_string)>(sym("nvmlErrorString"));
    if (x.init == nullptr || x.by_pci == nullptr) {
      x.reason = "libnvidia-ml.so.1 lacks nvmlInit_v2 / nvmlDeviceGetHandleByPciBusId_v2";
      return x;
    }
    if (const nvmlReturn_t r = x.init(); r != 0) {
      x.reason = std::string("nvmlInit_v2 failed: ") + (x.error_string ? x.error_string(r) : std::to_string(r));
      return x;
    }
    x.ok = true;
    return x;
  }();
  return n;
}

}  // namespace

NvmlStats nvml_stats(int device_index) {
  NvmlStats s;
  const Nvml& n = nvml();
  if (!n.ok) {
    s.reason = n.reason;
    return s;
  }
  // Match the CUDA device to the NVML device by PCI bus id (the two may enumerate differently).
  char bus[32] = {};
  if (const cudaError_t e = cudaDeviceGetPCIBusId(bus, sizeof bus, device_index); e != cudaSuccess) {
    (void)cudaGetLastError();
    s.reason = "cudaDeviceGetPCIBusId failed: " + detail::error_text(e);
    return s;
  }
  nvmlDevice_t dev = nullptr;
  if (const nvmlReturn_t r = n.by_pci(bus, &dev); r != 0) {
    s.reason = std::string("nvmlDeviceGetHandleByPciBusId_v2(") + bus +
               ") failed: " + (n.error_string ? n.error_string(r) : std::to_string(r));
    return s;
  }
  s.available = true;
  if (nvmlUtilization_t u{}; n.utilization && n.utilization(dev, &u) == 0) {
    s.gpu_utilization_percent = u.gpu;
    s.memory_utilization_percent = u.memory;
  }
  if (nvmlMemory_t m{}; n.memory && n.memory(dev, &m) == 0) {
    s.memory_used = m.used;
    s.memory_total = m.total;
  }
  if (unsigned t = 0; n.temperature && n.temperature(dev, 0 /* NVML_TEMPERATURE_GPU */, &t) == 0) s.temperature_c = t;
  if (unsigned p = 0; n.power && n.power(dev, &p) == 0) s.power_mw = p;
  return s;
}

}  // namespace ut::cuda
