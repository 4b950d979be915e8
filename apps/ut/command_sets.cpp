// The command sets of every layer built into `ut`, and the timeline's own commands.
#include <CLI/CLI.hpp>

#include <memory>

#include "apps/ut/commands.h"
#include "engine/engine.h"
#include "timeline/error.h"

namespace ut::app {

std::vector<AddCommands> extra_command_sets() {
  return {
      // Add each layer's add_*_commands here.
      add_ml_commands,
      add_data_commands,
      add_render_commands,
      add_serve_commands,
      add_chat_commands,
      add_ingest_commands,
  };
}

void add_reserve_sms_option(CLI::App& cmd, int& out) {
  cmd.add_option_function<std::string>(
         "--reserve-sms",
         [&out](const std::string& v) {
           try {
             out = engine::parse_reserve_sms(v);
           } catch (const UsageError& e) {
             throw CLI::ValidationError("--reserve-sms", e.what());
           }
         },
         "SMs kept for render and latency-critical GPU work (CUDA green contexts); ML and data kernels run on the "
         "rest. auto: 8 on a GPU, 0: no partition (stream priorities only)")
      ->default_str("0");
}

void add_timeline_commands(CLI::App& app, CLI::App&, int& rc) {
  auto doctor_opts = std::make_shared<DoctorOptions>();
  auto* d = app.add_subcommand("doctor", "Show the backends found, their capabilities, CPU cores and memory");
  d->add_flag("--json", doctor_opts->json, "Print machine-readable JSON");
  d->callback([doctor_opts, &rc] { rc = doctor(*doctor_opts); });

  auto demo_opts = std::make_shared<DemoOptions>();
  auto* m = app.add_subcommand(
      "demo", "Run the main job: every path at once on the embedded defaults — the 60 Hz UI heartbeat, documents\n"
              "embedded in the background, SQL over this machine's Debian packages, and a chat answer with RAG\n"
              "streamed token by token; prints the KPI table and writes the trace");
  m->add_option("--trace", demo_opts->trace_path, "Where to write the trace (open in ui.perfetto.dev)")
      ->capture_default_str();
  m->add_option("--db", demo_opts->db_path, "DuckDB file the demo uses (recreated unless --keep-db)")->capture_default_str();
  m->add_flag("--keep-db", demo_opts->keep_db, "Reuse the database of an earlier run");
  m->add_option("--max-tokens", demo_opts->max_tokens, "Tokens to generate")->capture_default_str()->check(CLI::Range(1, 2048));
  m->add_option("--rag-deadline-ms", demo_opts->rag_deadline_ms, "Soft deadline for the chat context")->capture_default_str();
  m->add_option("--backend", demo_opts->backend, "cpu or cuda (default: best available)");
  add_reserve_sms_option(*m, demo_opts->reserve_sms);
  m->callback([demo_opts, &rc] { rc = demo(*demo_opts); });
}

}  // namespace ut::app
