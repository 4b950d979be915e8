#include "timeline/host.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace ut {
namespace {

std::size_t pages(int name) {
  const long n = sysconf(name), size = sysconf(_SC_PAGESIZE);
  return n > 0 && size > 0 ? static_cast<std::size_t>(n) * static_cast<std::size_t>(size) : 0;
}

std::size_t memory_available() {
  std::ifstream f("/proc/meminfo");
  std::string key, unit;
  std::size_t kb = 0;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return pages(_SC_AVPHYS_PAGES);
}

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    const auto start = colon == std::string::npos ? colon : line.find_first_not_of(' ', colon + 1);
    if (start != std::string::npos) return line.substr(start);
  }
  return "CPU";
}

}  // namespace

HostInfo host_info() {
  HostInfo h;
  h.cpu_name = cpu_name();
  const unsigned n = std::thread::hardware_concurrency();
  h.cores = n == 0 ? 1 : n;
  h.memory_total = pages(_SC_PHYS_PAGES);
  h.memory_available = memory_available();
  return h;
}

std::size_t process_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  if (!(f >> pages >> resident)) return 0;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t raise_open_file_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur == RLIM_INFINITY ? 0 : static_cast<std::size_t>(lim.rlim_cur);
}

}  // namespace ut
