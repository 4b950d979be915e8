// ut — the Unified Timeline command-line program.
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

  ut::app::DoctorOptions doctor;
  auto* d = app.add_subcommand("doctor", "Show the backends found, their capabilities, CPU cores and memory");
  d->add_flag("--json", doctor.json, "Print machine-readable JSON");

  ut::app::DemoOptions demo;
  auto* m = app.add_subcommand(
      "demo", "Run the main job: three queues (render, ML, transfer) linked by events for a number of ticks;\n"
              "writes the timeline as Chrome trace JSON and prints a summary");
  m->add_option("--trace", demo.trace_path, "Where to write the trace (open in ui.perfetto.dev)")->capture_default_str();
  m->add_option("--frames", demo.frames, "Ticks to run at 60 Hz")->capture_default_str()->check(CLI::Range(1, 100000));
  m->add_option("--backend", demo.backend, "cpu or cuda (default: best available)");

  ut::app::BenchOptions bench;
  auto* b = app.add_subcommand("bench", "Measure and save numbers (never pass/fail)");
  b->require_subcommand(1);
  auto* bt = b->add_subcommand("timeline",
                               "Event wake-up latency, command-buffer submit overhead, ring-buffer throughput "
                               "(and GPU event/priority/overlap figures where a GPU is present)");
  bt->add_option("--json", bench.json_path, "Save results here (default ut-bench-timeline.json)");
  bt->add_option("--backend", bench.backend, "cpu or cuda (default: best available)");
  bt->add_flag("--quick", bench.quick, "Fewer iterations (a smoke run)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (d->parsed()) return ut::app::doctor(doctor);
    if (m->parsed()) return ut::app::demo(demo);
    if (bt->parsed()) return ut::app::bench_timeline(bench);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ut: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
