// `ut doctor`: what this machine offers the engine.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "apps/ut/commands.h"
#include "timeline/device.h"
#include "timeline/host.h"

namespace ut::app {

nlohmann::json caps_json(const DeviceCaps& c) {
  return {{"backend", c.backend},
          {"name", c.name},
          {"is_gpu", c.is_gpu},
          {"zero_copy_shared_heaps", c.zero_copy_shared_heaps},
          {"gpu_side_events", c.gpu_side_events},
          {"priority_levels", c.priority_levels},
          {"native_priority_high", c.native_priority_high},
          {"native_priority_low", c.native_priority_low},
          {"memory_total_bytes", c.memory_total},
          {"memory_free_bytes", c.memory_free},
          {"compute_units", c.compute_units},
          {"driver", c.driver},
          {"sm_partition", {{"active", c.partition.active}, {"reserved_sms", c.partition.reserved_sms},
                            {"work_sms", c.partition.work_sms}, {"mode", c.partition.mode}}},
          {"notes", c.notes}};
}

int doctor(const DoctorOptions& o) {
  nlohmann::json j;
  const HostInfo host = host_info();
  j["host"] = {{"cpu", host.cpu_name},
               {"cores", host.cores},
               {"memory_total_bytes", host.memory_total},
               {"memory_available_bytes", host.memory_available}};
  j["backends"] = nlohmann::json::array();
  for (const auto& b : Device::backends()) {
    nlohmann::json e{{"name", b.name}, {"available", b.available}};
    if (!b.available) e["reason"] = b.reason;
    if (b.available) {
      try {
        // GPUs with the engine's automatic SM reservation, so the report says whether a partition works here.
        auto dev = Device::create({.backend = b.name, .reserve_sms = b.name == "cpu" ? 0u : 8u});
        e["caps"] = caps_json(dev->refresh_caps());
      } catch (const std::exception& ex) {
        e["available"] = false;
        e["reason"] = ex.what();
      }
    }
    j["backends"].push_back(e);
  }
  if (o.json) {
    std::cout << j.dump(2) << '\n';
    return 0;
  }
  const auto gib = [](std::size_t b) { return static_cast<double>(b) / (1024.0 * 1024.0 * 1024.0); };
  std::printf("host: %s, %u cores, %.1f GiB memory (%.1f GiB available)\n", host.cpu_name.c_str(), host.cores,
              gib(host.memory_total), gib(host.memory_available));
  for (const auto& b : j["backends"]) {
    const std::string name = b["name"];
    if (!b["available"].get<bool>()) {
      std::printf("backend %-5s unavailable: %s\n", name.c_str(), b["reason"].get<std::string>().c_str());
      continue;
    }
    const auto& c = b["caps"];
    std::printf("backend %-5s %s\n", name.c_str(), c["name"].get<std::string>().c_str());
    std::printf("    compute units %u, memory %.1f GiB total / %.1f GiB free, driver %s\n",
                c["compute_units"].get<unsigned>(), gib(c["memory_total_bytes"].get<std::size_t>()),
                gib(c["memory_free_bytes"].get<std::size_t>()), c["driver"].get<std::string>().c_str());
    std::printf("    zero-copy shared heaps: %s, device-side events: %s, priority levels: %d\n",
                c["zero_copy_shared_heaps"].get<bool>() ? "yes" : "no",
                c["gpu_side_events"].get<bool>() ? "yes" : "no", c["priority_levels"].get<int>());
    for (const auto& n : c["notes"]) std::printf("    note: %s\n", n.get<std::string>().c_str());
  }
  bool gpu = false;
  for (const auto& b : j["backends"]) gpu = gpu || (b["available"].get<bool>() && b["caps"]["is_gpu"].get<bool>());
  if (!gpu) std::printf("no GPU backend is usable here: the engine runs on the CPU backend\n");
  return 0;
}

}  // namespace ut::app
