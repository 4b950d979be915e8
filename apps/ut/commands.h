// Sub-commands of the `ut` program. Each module registers its commands with an add_*_commands function
// that attaches CLI11 callbacks; a callback stores the process exit code in `rc`.
//   void add_timeline_commands(CLI::App& app, CLI::App& bench, int& rc);   // doctor, demo, bench timeline
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
void add_ml_commands(CLI::App& app, CLI::App& bench, int& rc);  // models synth/check, bench ml
void add_data_commands(CLI::App& app, CLI::App& bench, int& rc);  // sql, bench data
void add_render_commands(CLI::App& app, CLI::App& bench, int& rc);  // ui, bench ui
void add_vector_commands(CLI::App& app, CLI::App& bench, int& rc);  // bench vector
void add_serve_commands(CLI::App& app, CLI::App& bench, int& rc);   // serve
void add_ingest_commands(CLI::App& app, CLI::App& bench, int& rc);  // ingest
void add_chat_commands(CLI::App& app, CLI::App& bench, int& rc);    // chat
void add_bench_mixed_commands(CLI::App& app, CLI::App& bench, int& rc);  // bench mixed
void add_bench_models_commands(CLI::App& app, CLI::App& bench, int& rc);  // bench models
void add_bench_serve_commands(CLI::App& app, CLI::App& bench, int& rc);   // bench serve
// Other layers' command sets, in --help order.
std::vector<AddCommands> extra_command_sets();

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
};
int demo(const DemoOptions& o);
// (title, body) of the project's documents (README.md, docs/ARCHITECTURE.md, docs/API.md, read from the
// working directory) and, with the trained models, 200 held-out Debian package descriptions; `ut demo` stores
// them, `ut ui` too when its database has no documents.
std::vector<std::pair<std::string, std::string>> demo_corpus();

struct BenchOptions {
  std::string json_path;  // where to save results; empty: ut-bench-<suite>.json
  std::string backend;
  bool quick = false;     // CI smoke: fewer iterations
};
int bench_timeline(const BenchOptions& o);

// `ut bench serve` (apps/ut/cmd_bench_serve.cpp): load on any OpenAI-compatible server -- streamed chats alone,
// the same chats under a background embedding load, embeddings alone -- measured by one client, so `ut serve` and
// llama.cpp's llama-server are compared on equal terms. Returns 1 when no chat succeeded.
struct ServeBenchOptions {
  std::string label;                                // names the server in the report (default: the chat URL)
  std::string chat_url = "http://127.0.0.1:8080";
  std::string embed_url;                            // empty: chat_url
  std::string chat_model, embed_model;              // empty: picked from GET /v1/models
  std::string token;                                // bearer token; empty: none
  int chats = 16;                                   // chat requests per phase
  std::vector<int> concurrency = {1};               // one measurement per value
  int prompt_words = 200, max_tokens = 64;
  bool ignore_eos = true;
  int embed_clients = 2, embed_batch = 32;
  double embed_seconds = 5;                         // the embeddings-alone phase
  double warmup_s = 1;                              // embedding load before the chats start
  uint64_t seed = 1;
  double timeout_s = 120;                           // per request
  std::string json_path = "ut-bench-serve.json";
};
int bench_serve(const ServeBenchOptions& o);

}  // namespace ut::app
