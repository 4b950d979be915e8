// CPU backend: one worker thread per queue, condition-variable events, aligned host heaps.
//
//   auto dev = ut::cpu::make_device({});          // or ut::Device::create({.backend = "cpu"})
//
// Always built, always available: the plan's graceful fallback.
#pragma once

#include "timeline/device.h"

namespace ut::cpu {

BackendInfo probe();
DevicePtr make_device(const DeviceDesc& desc);

// Facts about this host, also used by other backends' capabilities.
unsigned host_cores();
std::size_t host_memory_total();
std::size_t host_memory_available();
std::string host_cpu_name();

}  // namespace ut::cpu
