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

namespace ut {
namespace {

// Preference order for "auto": the first available wins.
std::vector<BackendFactory> factories() {
  std::vector<BackendFactory> f;
#ifdef UT_HAVE_CUDA
  f.push_back({"cuda", cuda::probe, cuda::make_device});
#endif
  f.push_back({"cpu", cpu::probe, cpu::make_device});
  return f;
}

}  // namespace

std::vector<BackendInfo> Device::backends() {
  std::vector<BackendInfo> out;
  for (auto& f : factories()) out.push_back(f.probe());
#ifndef UT_HAVE_CUDA
  out.push_back({"cuda", false, "not in this build (configured with UT_CUDA=OFF or without nvcc)"});
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
    BackendInfo info = f.probe();
    if (info.available) return f.create(desc);
    if (name != "auto") {
      throw BackendError("[Device::create] backend '" + name + "' is not available: " + info.reason);
    }
  }
  throw UsageError("[Device::create] unknown backend '" + name + "' (this build has: " + known + ", or auto)");
}

}  // namespace ut
