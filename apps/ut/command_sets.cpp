// The command sets of every layer built into `ut`, and the timeline's own commands.
#include <CLI/CLI.hpp>

#include <memory>

#include "apps/ut/commands.h"

namespace ut::app {

std::vector<AddCommands> extra_command_sets() {
  return {
      // Add each layer's add_*_commands here.
  };
}

void add_timeline_commands(CLI::App& app, CLI::App& bench, int& rc) {
  auto doctor_opts = std::make_shared<DoctorOptions>();
  auto* d = app.add_subcommand("doctor", "Show the backends found, their capabilities, CPU cores and memory");
  d->add_flag("--json", doctor_opts->json, "Print machine-readable JSON");
  d->callback([doctor_opts, &rc] { rc = doctor(*doctor_opts); });

  auto demo_opts = std::make_shared<DemoOptions>();
  auto* m = app.add_subcommand(
      "demo", "Run the main job: three queues (render, ML, transfer) linked by events for a number of ticks;\n"
              "writes the timeline as Chrome trace JSON and prints a summary");
  m->add_option("--trace", demo_opts->trace_path, "Where to write the trace (open in ui.perfetto.dev)")
      ->capture_default_str();
  m->add_option("--frames", demo_opts->frames, "Ticks to run at 60 Hz")->capture_default_str()->check(CLI::Range(1, 100000));
  m->add_option("--backend", demo_opts->backend, "cpu or cuda (default: best available)");
  m->callback([demo_opts, &rc] { rc = demo(*demo_opts); });

  auto bench_opts = std::make_shared<BenchOptions>();
  auto* bt = bench.add_subcommand("timeline",
                                  "Event wake-up latency, command-buffer submit overhead, ring-buffer throughput "
                                  "(and GPU event/priority/overlap figures where a GPU is present)");
  bt->add_option("--json", bench_opts->json_path, "Save results here (default ut-bench-timeline.json)");
  bt->add_option("--backend", bench_opts->backend, "cpu or cuda (default: cpu; GPU figures are added when present)");
  bt->add_flag("--quick", bench_opts->quick, "Fewer iterations (a smoke run)");
  bt->callback([bench_opts, &rc] { rc = bench_timeline(*bench_opts); });
}

}  // namespace ut::app
