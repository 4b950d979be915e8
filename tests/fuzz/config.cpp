// Fuzz target: the TOML config loader as `ut` uses it. The input is written to a file and read through the real
// command line (ut::app::build_app, apps/ut/app.cpp: every sub-command's options, unknown keys are errors) as
// `ut --config FILE config`, which loads the file and prints every option back as TOML. A broken or hostile file
// must end in a clear error (CLI::Error, or ut::Error from an option's own check), nothing else.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "apps/ut/commands.h"
#include "tests/fuzz/fuzz_check.h"
#include "timeline/error.h"

namespace {

const std::string& input_path() {
  static const std::string p =
      (std::filesystem::temp_directory_path() / ("ut-fuzz-config-" + std::to_string(getpid()) + ".toml")).string();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // `ut config` prints every option: keep stdout quiet (libFuzzer reports on stderr).
  if (!std::freopen("/dev/null", "w", stdout)) return 1;
  unsetenv("UT_CONFIG");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(input_path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    FUZZ_CHECK(out.good(), "cannot write the input file");
  }
  CLI::App app;
  int rc = 0;
  ut::app::build_app(app, rc);
  const std::string path = input_path();
  const char* argv[] = {"ut", "--config", path.c_str(), "config"};
  try {
    app.parse(4, const_cast<char**>(argv));
  } catch (const CLI::Error&) {
    // A parse error names the key or the line: what `ut` prints before exiting with its code.
  } catch (const ut::Error&) {
    // An option's own check (e.g. --reserve-sms) refused the value.
  }
  return 0;
}
