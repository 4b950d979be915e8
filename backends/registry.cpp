// The backend registry: which backends this build has, which are usable now, and Device::create.
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/cpu/device.h"
#include "timeline/device.h"
#include "timeline/error.h"
#ifdef UT_HAVE_CUDA
#include "backends/cuda/device.h"
#endif
#ifdef UT_HAVE_VULKAN
#include "backends/vulkan/device.h"
#endif

namespace ut {
namespace {

// Preference order for "auto": the first available wins.
std::vector<BackendFactory> factories() {
  std::vector<BackendFactory> f;
#ifdef UT_HAVE_CUDA
  f.push_back({"cuda", cuda::probe, cuda::make_device});
#endif
  f.push_back({"cpu", cpu::probe, cpu::make_device});
#ifdef UT_HAVE_VULKAN
  // Only when named: few kernels have Vulkan versions yet, and on lavapipe (CI) the CPU backend is the faster one.
  f.push_back({"vulkan", vulkan::probe, vulkan::make_device});
#endif
  return f;
}

bool picked_by_auto(const std::string& backend) { return backend != "vulkan"; }

}  // namespace

std::vector<BackendInfo> Device::backends() {
  std::vector<BackendInfo> out;
  for (auto& f : factories()) out.push_back(f.probe());
#ifndef UT_HAVE_CUDA
  out.push_back({"cuda", false, "not in this build (configured with UT_CUDA=OFF or without nvcc)"});
#endif
#ifndef UT_HAVE_VULKAN
  out.push_back({"vulkan", false, "not in this build (configured with UT_VULKAN=OFF or without Vulkan headers/glslangValidator)"});
#endif
  return out;
}

DevicePtr Device::create(DeviceDesc desc) {
  std::string name = desc.backend;
  if (name.empty()) {
    const char* env = std::getenv("UT_BACKEND");
    name = env != nullptr && *env != '\0' ? env : "auto";
  }
  std::string known;
  for (auto& f : factories()) {
    known += (known.empty() ? "" : ", ") + f.name;
    if (name != "auto" && name != f.name) continue;
    if (name == "auto" && !picked_by_auto(f.name)) continue;
    BackendInfo info = f.probe();
    if (info.available) return f.create(desc);
    if (name != "auto") {
      throw BackendError("[Device::create] backend '" + name + "' is not available: " + info.reason);
    }
  }
  throw UsageError("[Device::create] unknown backend '" + name + "' (this build has: " + known + ", or auto)");
}

}  // namespace ut
