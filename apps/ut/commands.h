// Sub-commands of the `ut` program; each returns the process exit code.
#pragma once

#include <string>

namespace ut::app {

struct DoctorOptions {
  bool json = false;
};
int doctor(const DoctorOptions& o);

struct DemoOptions {
  std::string trace_path = "ut-demo-trace.json";
  std::string backend;  // empty: auto
  int frames = 60;
};
int demo(const DemoOptions& o);

struct BenchOptions {
  std::string json_path;  // where to save results; empty: ut-bench-<suite>.json
  std::string backend;
  bool quick = false;     // CI smoke: fewer iterations
};
int bench_timeline(const BenchOptions& o);

}  // namespace ut::app
