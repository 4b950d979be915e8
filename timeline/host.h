// Facts about the host machine, for capabilities, budgets, diagnostics and benchmark records. Read from the
// operating system each call (cheap: /proc and sysconf), so memory figures are current.
//
//   const ut::HostInfo h = ut::host_info();
//   std::printf("%s, %u cores, %.1f GiB (%.1f available)\n", h.cpu_name.c_str(), h.cores,
//               h.memory_total / 1073741824.0, h.memory_available / 1073741824.0);
//
// Contract: thread-safe; never throws (unknown figures are "CPU" / 1 core / sysconf's page counts).
#pragma once

#include <cstddef>
#include <string>

namespace ut {

struct HostInfo {
  std::string cpu_name;              // /proc/cpuinfo "model name", or "CPU"
  unsigned cores = 1;                // hardware threads the process may use
  std::size_t memory_total = 0;      // bytes of RAM
  std::size_t memory_available = 0;  // bytes, MemAvailable (what can be allocated without swapping)
};

HostInfo host_info();
// Resident memory of this process in bytes (/proc/self/statm), 0 where it cannot be read.
std::size_t process_rss_bytes();
// Raises this process's soft open-file limit to its hard limit and returns the soft limit then in force (0: no
// limit). Servers and load clients call it before opening many sockets.
std::size_t raise_open_file_limit();

}  // namespace ut
