// The `ut` command line as one CLI11 App: main.cpp parses argv with it, and the config-file fuzz target
// (tests/fuzz/config.cpp) feeds it TOML files, so both see the same options and the same config handling.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "apps/ut/commands.h"
#include "bench/cli.h"

namespace ut::app {

void build_app(CLI::App& app, int& rc) {
  app.description(
      "ut — Unified Timeline: one real-time engine for UI frames, ML inference, SQL and background\n"
      "embedding on one machine and one accelerator.\n\n"
      "Environment: UT_BACKEND=cpu|cuda picks the backend (default: the best available);\n"
      "             UT_VALIDATION=1 turns on the validation layer (deadlocks and unsatisfiable waits are\n"
      "             reported instead of hanging).\n"
      "Config file: any option of any sub-command can live in a TOML file (serve.port = 9000, or a [serve]\n"
      "             section); `ut config` prints every option with its current value.");
  app.require_subcommand(1);
  app.set_version_flag("--version", "ut 0.1.0");
  // Options given on the command line win over the file; the file wins over the defaults.
  // $UT_CONFIG names a file that must exist; otherwise ./ut.toml is read when present. Unknown keys are errors,
  // so a typo in the file does not pass silently.
  const char* env_config = std::getenv("UT_CONFIG");
  const bool named = env_config && *env_config;
  app.set_config("--config", named ? env_config : "ut.toml",
                 "TOML file with options (default: $UT_CONFIG, else ./ut.toml when present)", named);
  app.allow_config_extras(CLI::config_extras_mode::error);
  auto* config = app.add_subcommand("config", "Print every option of every sub-command with its current value, as\n"
                                              "TOML: a starting point for --config / ut.toml");
  auto* bench = app.add_subcommand("bench", "Measure and save numbers as JSON (never pass/fail)");
  bench->require_subcommand(1);

  ut::bench::add_bench_commands(*bench, rc);  // every `ut bench X` (bench/cli.h)
  add_timeline_commands(app, *bench, rc);
  for (auto* add : extra_command_sets()) add(app, *bench, rc);
  config->callback([&app] { std::fputs(app.config_to_str(/*default_also=*/true, /*write_description=*/true).c_str(), stdout); });
}

}  // namespace ut::app
