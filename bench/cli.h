// Every `ut bench X` sub-command: its options, their --help text, and the call into its suite (bench/<suite>/).
// `ut` only creates the `bench` command and calls this; each callback stores the exit code in `rc`.
//
//   auto* bench = app.add_subcommand("bench", "Measure and save numbers as JSON (never pass/fail)");
//   bench->require_subcommand(1);
//   int rc = 0;
//   ut::bench::add_bench_commands(*bench, rc);   // timeline, ml, data, ui, vector, mixed, models, serve
#pragma once

namespace CLI {
class App;
}

namespace ut::bench {

void add_bench_commands(CLI::App& bench, int& rc);

}  // namespace ut::bench
