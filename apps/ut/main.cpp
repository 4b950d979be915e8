// ut — the Unified Timeline command-line program. Each layer adds its sub-commands through an
// add_*_commands() function (apps/ut/commands.h), so modules do not edit each other's code.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "apps/ut/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "ut — Unified Timeline: one real-time engine for UI frames, ML inference, SQL and background\n"
      "embedding on one machine and one accelerator.\n\n"
      "Environment: UT_BACKEND=cpu|cuda picks the backend (default: the best available);\n"
      "             UT_VALIDATION=1 turns on the validation layer (deadlocks and unsatisfiable waits are\n"
      "             reported instead of hanging)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ut 0.1.0");
  auto* bench = app.add_subcommand("bench", "Measure and save numbers as JSON (never pass/fail)");
  bench->require_subcommand(1);

  int rc = 0;
  ut::app::add_timeline_commands(app, *bench, rc);
  for (auto* add : ut::app::extra_command_sets()) add(app, *bench, rc);

  try {
    app.parse(argc, argv);  // the chosen sub-command's callback runs here and sets rc
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ut: error: %s\n", e.what());
    return 1;
  }
  return rc;
}
