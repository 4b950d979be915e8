// `ut serve`: the engine and its HTTP server until Ctrl-C (SIGINT) or SIGTERM.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "apps/ut/commands.h"
#include "engine/engine.h"
#include "server/server.h"

namespace ut::app {
namespace {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string token;
  std::string backend;
};

int serve(const ServeOptions& o) {
  // Block the stop signals before any thread starts, then wait for them synchronously (no polling).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  engine::Engine eng({.backend = o.backend});
  eng.start();
  server::Server srv(eng, {.host = o.host, .port = o.port, .token = o.token});
  srv.start();
  std::printf("ut serve: %s on %s — http://%s:%d/ (dashboard), /api/v1/metal/realtime-stats, /metrics, "
              "/api/v1/trace?seconds=5\nCtrl-C stops.\n",
              eng.device().caps().backend.c_str(), eng.device().caps().name.c_str(), o.host.c_str(), srv.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  std::printf("\nut serve: stopping (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  srv.stop();
  eng.stop();
  return 0;
}

}  // namespace

void add_serve_commands(CLI::App& app, CLI::App&, int& rc) {
  auto o = std::make_shared<ServeOptions>();
  auto* s = app.add_subcommand("serve", "Run the engine with its HTTP server: dashboard, realtime stats, Prometheus "
                                        "metrics, trace (binds to loopback unless --host says otherwise)");
  s->add_option("--host", o->host, "Address to bind; other than loopback requires --token")->capture_default_str();
  s->add_option("--port", o->port, "Port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  s->add_option("--token", o->token, "Bearer token clients must send (or UT_API_TOKEN)");
  s->add_option("--backend", o->backend, "cpu or cuda (default: best available)");
  s->callback([o, &rc] { rc = serve(*o); });
}

}  // namespace ut::app
