// Sub-commands of the `ut` program. Each module registers its commands with an add_*_commands function
// that attaches CLI11 callbacks; a callback stores the process exit code in `rc`. Every `ut bench X` comes from
// bench/cli.h (build_app in apps/ut/app.cpp calls it).
//   void add_timeline_commands(CLI::App& app, CLI::App& bench, int& rc);   // doctor, demo
// A new module adds its function to extra_command_sets() in apps/ut/command_sets.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace ut::app {

using AddCommands = void (*)(CLI::App& app, CLI::App& bench, int& rc);

void add_timeline_commands(CLI::App& app, CLI::App& bench, int& rc);
void add_ml_commands(CLI::App& app, CLI::App& bench, int& rc);  // models synth/check
void add_data_commands(CLI::App& app, CLI::App& bench, int& rc);  // sql
void add_render_commands(CLI::App& app, CLI::App& bench, int& rc);  // ui
void add_serve_commands(CLI::App& app, CLI::App& bench, int& rc);   // serve
void add_ingest_commands(CLI::App& app, CLI::App& bench, int& rc);  // ingest
void add_chat_commands(CLI::App& app, CLI::App& bench, int& rc);    // chat
// Other layers' command sets, in --help order.
std::vector<AddCommands> extra_command_sets();

// The whole `ut` command line (apps/ut/app.cpp): description, --config/ut.toml handling, `ut config`, `ut bench`
// and every command set. `app` must outlive the parse; callbacks store their exit code in `rc`.
void build_app(CLI::App& app, int& rc);

struct DoctorOptions {
  bool json = false;
};
int doctor(const DoctorOptions& o);

struct DemoOptions {
  std::string trace_path = "ut-demo-trace.json";
  std::string backend;  // empty: auto
  std::string db_path = "ut-demo.duckdb";
  bool keep_db = false;  // reuse the database of an earlier run (documents already stored stay)
  int max_tokens = 48;
  int rag_deadline_ms = 2000;
  int settle_ms = 500;   // keep the heartbeat running a little after the last path, for the KPIs
  int reserve_sms = 0;   // EngineConfig::reserve_sms (-1: auto)
};
int demo(const DemoOptions& o);

// `--reserve-sms k|auto|0` (ut serve, ut demo, ut ui): SMs kept for render and latency-critical GPU work. Adds
// the option to `cmd`, writing EngineConfig::reserve_sms's value (-1 for auto) into `out`.
void add_reserve_sms_option(CLI::App& cmd, int& out);

// `--rag-k N` (ut serve, ut chat): sources retrieved into a chat's context (AssistantConfig::rag_k).
inline constexpr const char* kRagKHelp =
    "Sources retrieved into each chat's context; 0: the engine's choice for the model (1 for the project's\n"
    "small decoder, which names the right package more often from one source than from three; 3 otherwise)";

}  // namespace ut::app
