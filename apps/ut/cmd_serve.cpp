// `ut serve`: the engine, its assistant (chat, embeddings, documents, SQL) and the HTTP server until Ctrl-C.
#include <CLI/CLI.hpp>


#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <memory>
#include <thread>

#include "apps/ut/commands.h"
#include "engine/debian_docs.h"
#include "engine/default_models.h"
#include "engine/runtime.h"
#include "server/routes.h"
#include "server/server.h"
#include "timeline/error.h"
#include "timeline/host.h"
#include "workloads/ml/model.h"

namespace ut::app {
namespace {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string token;
  std::string backend;
  std::string db = "ut-engine.duckdb";
  std::string embed_model, chat_model;
  std::string chat_url, chat_api_key, chat_remote_model;  // remote generation (engine/remote_chat.h)
  bool allow_sql_writes = false;
  bool ingest_debian = false;
  bool mmap = false;
  int max_heavy_ops = 3;
  int parallel = 4;
  int rag_k = 0;  // 0: the engine's choice for the model
  int step_tokens = 0;
  int reserve_sms = 0;
  // Connection handling (server/connections.h).
  int http_workers = 0;  // 0: max(64, max_heavy_ops + 16)
  int max_connections = 1024;
  double header_timeout_s = 10, body_timeout_s = 30, idle_timeout_s = 5, write_timeout_s = 30;
};

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
}

// --ingest-debian-packages: the machine's packages stored as documents on a thread of its own while the server
// answers (engine/debian_docs.h); progress in plain lines on stderr and in realtime-stats ("debian_packages").
class DebianIngest {
 public:
  void start(engine::Runtime& rt) {
    rt.engine().set_stats_section("debian_packages", [s = state_] {
      static const char* const kPhase[] = {"storing", "stored", "stopped", "failed"};
      return nlohmann::json{{"state", kPhase[s->phase.load()]}, {"handled", s->done.load()}, {"packages", s->total.load()}};
    });
    thread_ = std::thread([this, &rt, s = state_] {
      auto last = std::chrono::steady_clock::now();
      try {
        const auto r = engine::store_debian_package_docs(
            rt,
            [&](std::size_t done, std::size_t total) {
              s->done = done;
              s->total = total;
              if (std::chrono::steady_clock::now() - last < std::chrono::seconds(2) && done < total) return;
              last = std::chrono::steady_clock::now();
              std::fprintf(stderr, "ut serve: Debian package documents %zu/%zu\n", done, total);
            },
            &s->stop);
        std::fprintf(stderr, "ut serve: Debian package documents: %zu stored, %zu already there%s%s; their chunks embed "
                             "in the background (GET /api/v1/docs)\n",
                     r.stored, r.skipped, r.installed_only ? " (installed packages only: no apt lists)" : "",
                     r.stopped ? ", stopped early" : "");
        s->phase = r.stopped ? 2 : 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ut serve: --ingest-debian-packages failed: %s\n", e.what());
        s->phase = 3;
      }
    });
  }
  void stop() {
    state_->stop = true;
    if (thread_.joinable()) thread_.join();
  }
  ~DebianIngest() { stop(); }

 private:
  struct State {
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> done{0}, total{0};
    std::atomic<int> phase{0};  // storing, stored, stopped, failed
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread thread_;
};

// Each open connection is a file descriptor: raise the soft limit to the hard one, and keep the connection cap
// below what the process may open (the models, DuckDB and the engine need some too).
std::size_t connection_cap(std::size_t wanted) {
  const std::size_t limit = raise_open_file_limit();
  constexpr std::size_t kReserve = 256;
  if (limit == 0 || limit >= wanted + kReserve) return wanted;
  const std::size_t cap = limit > 2 * kReserve ? limit - kReserve : limit / 2;
  std::fprintf(stderr, "ut serve: --max-connections %zu is more than the open-file limit (%zu) allows: using %zu\n",
               wanted, limit, cap);
  return cap;
}

// A --chat-model/--embed-model value: "NAME=PATH" names the model in the API, "PATH" lets the file name it.
struct ModelArg {
  std::string name, path;
};

ModelArg parse_model_arg(const std::string& v, const char* option) {
  const auto eq = v.find('=');
  if (eq == std::string::npos) return {{}, v};
  const std::string name = v.substr(0, eq);
  if (name.find('/') != std::string::npos) return {{}, v};  // a path with '=' in a folder name
  const bool slug = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!slug)
    throw UsageError(std::string(option) + " " + v + ": NAME must be letters, digits, '-', '_' or '.' (NAME=PATH)");
  return {name, v.substr(eq + 1)};
}

// The id the API gives a model: the name given, else what the file says (ml::model_name_of); none when off.
std::string api_id(const ModelArg& m, const std::string& path) {
  if (!m.name.empty()) return m.name;
  if (path.empty() || path == "none") return {};
  return ml::Model::inspect(path).id;
}

int serve(const ServeOptions& o) {
  // Block the stop signals before any thread starts, then wait for them synchronously (no polling).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  const ModelArg embed = parse_model_arg(o.embed_model, "--embed-model");
  const ModelArg chat = parse_model_arg(o.chat_model, "--chat-model");
  // The files the runtime will load (the defaults filled in here), so that the API can name them.
  std::string embed_path = embed.path, chat_path = chat.path;
  const bool random = engine::fill_default_models(embed_path, chat_path);
  server::OpenAiOptions names{.chat_model_id = api_id(chat, chat_path), .embed_model_id = api_id(embed, embed_path)};
  engine::RuntimeConfig rc{.engine = {.backend = o.backend, .max_heavy_ops = o.max_heavy_ops,
                                      .reserve_sms = o.reserve_sms},
                           .db_path = o.db,
                           .embed_model = embed_path, .chat_model = chat_path};
  rc.assistant.parallel = o.parallel;
  rc.assistant.rag_k = static_cast<std::size_t>(o.rag_k);
  rc.assistant.mmap_models = o.mmap;
  rc.assistant.remote_chat = {.url = o.chat_url, .api_key = o.chat_api_key, .model = o.chat_remote_model};
  if (const char* key = std::getenv("UT_CHAT_API_KEY"); key && rc.assistant.remote_chat.api_key.empty())
    rc.assistant.remote_chat.api_key = key;
  if (o.step_tokens > 0) {
    rc.assistant.prefill_chunk = o.step_tokens;
    rc.assistant.tune_prefill = false;
  }
  engine::Runtime rt(rc);
  engine::Engine& eng = rt.engine();
  engine::Assistant& ai = rt.assistant();
  std::string chat_label = ai.can_chat() ? names.chat_model_id : "none";
  if (const engine::RemoteChat* remote = ai.remote_chat()) {
    names.chat_model_id = remote->model();
    chat_label = remote->model() + " generated by " + remote->url();
  }
  // Every admitted chat may hold a streamed connection; embedding and API clients come on top.
  server::Server srv(eng, {.host = o.host, .port = o.port, .token = o.token,
                           .threads = static_cast<std::size_t>(o.http_workers > 0 ? o.http_workers
                                                                                  : std::max(64, o.max_heavy_ops + 16)),
                           .max_connections = connection_cap(static_cast<std::size_t>(o.max_connections)),
                           .header_timeout = ms(o.header_timeout_s), .body_timeout = ms(o.body_timeout_s),
                           .idle_timeout = ms(o.idle_timeout_s), .write_timeout = ms(o.write_timeout_s)});
  srv.add_routes([&](httplib::Server& h) {
    server::add_openai_routes(h, ai, names);
    server::add_api_routes(h, rt, {.allow_sql_writes = o.allow_sql_writes});
  });
  srv.start();
  std::printf("ut serve: %s on %s (SM partition: %s) — http://%s:%d/\n  chat model %s, embedder %s%s\n  database %s\n"
              "  endpoints: /v1/chat/completions /v1/embeddings /v1/models /api/v1/sql /api/v1/docs\n"
              "             /api/v1/metal/realtime-stats /api/v1/guards /metrics /api/v1/trace?seconds=5\nCtrl-C stops.\n",
              eng.device().caps().backend.c_str(), eng.device().caps().name.c_str(),
              engine::partition_text(eng.device().caps()).c_str(), o.host.c_str(), srv.port(),
              chat_label.c_str(), ai.can_embed() ? names.embed_model_id.c_str() : "none",
              random ? "\n  (synthetic random-weight models: answers are meaningless text; pass --chat-model)" : "",
              o.db.c_str());
  std::fflush(stdout);
  DebianIngest debian;
  if (o.ingest_debian) debian.start(rt);
  int sig = 0;
  sigwait(&stop, &sig);
  debian.stop();
  std::printf("\nut serve: stopping (%s); tokens per decode step %d\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
              ai.prefill_chunk());
  for (const auto& line : ai.tuning_log()) std::printf("  tuning: %s\n", line.c_str());
  srv.stop();
  return 0;
}

}  // namespace

void add_serve_commands(CLI::App& app, CLI::App&, int& rc) {
  auto o = std::make_shared<ServeOptions>();
  auto* s = app.add_subcommand("serve", "Run the engine with its HTTP server: OpenAI-compatible chat and embeddings, SQL,\n"
                                        "documents, dashboard, realtime stats, Prometheus metrics, trace");
  s->add_option("--host", o->host, "Address to bind; other than loopback requires --token")->capture_default_str();
  s->add_option("--port", o->port, "Port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  s->add_option("--token", o->token, "Bearer token clients must send (or UT_API_TOKEN)");
  s->add_option("--backend", o->backend, "cpu or cuda (default: best available)");
  s->add_option("--db", o->db, "DuckDB file for documents and SQL")->capture_default_str();
  s->add_option("--embed-model", o->embed_model,
                "[NAME=]PATH: GGUF embedding model, listed as NAME (default: the file's stem; none: off)");
  s->add_option("--chat-model", o->chat_model,
                "[NAME=]PATH: GGUF chat model, listed as NAME (default: the file's stem; none: off)");
  s->add_option("--chat-url", o->chat_url,
                "Generate the chats on another OpenAI-compatible server (vLLM, llama.cpp's server, another ut serve),\n"
                "http(s)://host:port[/v1]; retrieval, SQL and documents stay here. --chat-model is then not loaded");
  s->add_option("--chat-api-key", o->chat_api_key, "Bearer token for --chat-url (or $UT_CHAT_API_KEY)");
  s->add_option("--chat-remote-model", o->chat_remote_model,
                "The model of --chat-url to use (default: the first of its /v1/models)");
  s->add_flag("--mmap", o->mmap,
              "Map the model files instead of reading them in: faster start, pages shared between processes, but a\n"
              "model file replaced or truncated while serving then kills the server (SIGBUS)");
  s->add_flag("--ingest-debian-packages", o->ingest_debian,
              "Store this machine's Debian packages (apt lists, else the installed ones) as documents while serving,\n"
              "so that package questions retrieve them; packages stored by an earlier run are skipped");
  s->add_flag("--allow-sql-writes", o->allow_sql_writes, "Let POST /api/v1/sql run writes when asked (off by default)");
  s->add_option("--max-heavy-ops", o->max_heavy_ops, "Concurrent heavy operations before answering busy")
      ->capture_default_str()->check(CLI::Range(1, 64));
  s->add_option("--parallel", o->parallel,
                "Chats decoded together in one batch (each with its own context); more wait for a free slot")
      ->capture_default_str()->check(CLI::Range(1, 64));
  s->add_option("--rag-k", o->rag_k, kRagKHelp)->capture_default_str()->check(CLI::Range(0, 32));
  s->add_option("--step-tokens", o->step_tokens,
                "Tokens per decode step (running chats' next tokens, then prefill); 0: tuned by latency")
      ->capture_default_str()->check(CLI::Range(0, 2048));
  add_reserve_sms_option(*s, o->reserve_sms);
  s->add_option("--http-workers", o->http_workers,
                "Requests answered at once (a streamed chat holds one for its whole answer; slow or idle\n"
                "connections hold none); 0: max(64, --max-heavy-ops + 16)")
      ->capture_default_str()->check(CLI::Range(0, 4096));
  s->add_option("--max-connections", o->max_connections,
                "Client connections open at once; one more is answered 503 with Retry-After at once\n"
                "(the open-file limit is raised to its hard limit, and caps this)")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  s->add_option("--header-timeout", o->header_timeout_s,
                "Seconds from a request's first byte (a new connection: from its accept) to the end of its\n"
                "headers; then 408 and the connection closes")
      ->capture_default_str()->check(CLI::Range(0.05, 3600.0));
  s->add_option("--body-timeout", o->body_timeout_s,
                "Seconds from the end of a request's headers to the end of its body; then 408 and close")
      ->capture_default_str()->check(CLI::Range(0.05, 3600.0));
  s->add_option("--idle-timeout", o->idle_timeout_s, "Seconds a keep-alive connection may wait between requests")
      ->capture_default_str()->check(CLI::Range(0.05, 3600.0));
  s->add_option("--write-timeout", o->write_timeout_s,
                "Seconds a response write may make no progress (a client that stopped reading) before the\n"
                "connection is dropped")
      ->capture_default_str()->check(CLI::Range(0.05, 3600.0));
  s->callback([o, &rc] { rc = serve(*o); });
}

}  // namespace ut::app
