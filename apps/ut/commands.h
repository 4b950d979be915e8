// Sub-commands of the `ut` program. Each module registers its commands with an add_*_commands function
// that attaches CLI11 callbacks; a callback stores the process exit code in `rc`.
//   void add_timeline_commands(CLI::App& app, CLI::App& bench, int& rc);   // doctor, demo, bench timeline
// A new module adds its function to extra_command_sets() in apps/ut/command_sets.cpp.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ut::app {

using AddCommands = void (*)(CLI::App& app, CLI::App& bench, int& rc);

void add_timeline_commands(CLI::App& app, CLI::App& bench, int& rc);
// Other layers' command sets, in --help order.
std::vector<AddCommands> extra_command_sets();

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
