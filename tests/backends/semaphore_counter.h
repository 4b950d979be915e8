// For the Vulkan backend's tests: a timeline semaphore's own counter, read through the loader the backend uses (the
// tests link no libvulkan). It moves only through GPU (or vkSignalSemaphore) signals, never through a host raise of
// the event's word, so tests use it to tell where a signal went.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "backends/vulkan/device.h"

namespace ut::test {

inline uint64_t semaphore_counter(const Device& vulkan, const EventPtr& e) {
  const auto n = ut::vulkan::native_device(vulkan);
  auto gdpa = reinterpret_cast<PFN_vkGetDeviceProcAddr>(n.get_instance_proc_addr(n.instance, "vkGetDeviceProcAddr"));
  auto get = reinterpret_cast<PFN_vkGetSemaphoreCounterValue>(gdpa(n.device, "vkGetSemaphoreCounterValue"));
  uint64_t v = 0;
  EXPECT_EQ(get(n.device, ut::vulkan::native_semaphore(*e).semaphore, &v), VK_SUCCESS);
  return v;
}

}  // namespace ut::test
