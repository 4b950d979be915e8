// ut — the Unified Timeline command-line program. Each layer adds its sub-commands through an
// add_*_commands() function (apps/ut/commands.h), so modules do not edit each other's code; build_app()
// (apps/ut/app.cpp) puts them together.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "apps/ut/commands.h"

int main(int argc, char** argv) {
  CLI::App app;
  int rc = 0;
  ut::app::build_app(app, rc);
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
