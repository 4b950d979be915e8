// The engine's Runtime behind a real HTTP server on loopback, with the tiny synthetic models: the fixture of the
// end-to-end tests of the assistant's and the data path's routes.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/default_models.h"
#include "engine/runtime.h"
#include "server/routes.h"
#include "server/server.h"

namespace ut::test {

using namespace std::chrono_literals;
using nlohmann::json;

class AssistantTest : public ::testing::Test {
 protected:
  void start(int max_heavy_ops = 3, std::chrono::milliseconds rag_deadline = 5000ms) {
    dir = std::filesystem::path(::testing::TempDir()) / ("ut_assistant_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    const auto models = ut::engine::default_models(models_dir());
    ut::engine::RuntimeConfig rc{.engine = {.backend = "cpu", .max_heavy_ops = max_heavy_ops},
                                 .db_path = (dir / "t.duckdb").string(), .embed_model = models.embedder,
                                 .chat_model = models.decoder, .default_models = false, .governor = false};
    rc.assistant.rag_deadline = rag_deadline;
    rt = std::make_unique<ut::engine::Runtime>(rc);
    eng = &rt->engine();
    ai = &rt->assistant();
    srv = std::make_unique<ut::server::Server>(*eng, server_options);
    srv->add_routes([&](httplib::Server& h) {
      ut::server::add_openai_routes(h, *ai);
      ut::server::add_api_routes(h, *rt);
    });
    srv->start();
    cli = std::make_unique<httplib::Client>("127.0.0.1", srv->port());
    // Correctness tests, not timings: a slow, loaded machine must not turn a slow answer into a failure (ctest's
    // 300 s per test still catches a hang).
    cli->set_read_timeout(240, 0);
  }

 public:
  static std::string models_dir() {
    const char* d = std::getenv("UT_MODELS_DIR");
    return d && *d ? d : (std::filesystem::temp_directory_path() / "ut-test-models").string();
  }
 protected:
  void TearDown() override {
    if (srv) srv->stop();
    cli.reset();
    srv.reset();
    ai = nullptr;
    eng = nullptr;
    rt.reset();
    std::filesystem::remove_all(dir);
  }
  json post(const std::string& path, const json& body, int expect) {
    auto r = cli->Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r) << path;
    if (!r) return {};
    EXPECT_EQ(r->status, expect) << path << ": " << r->body;
    return r->body.empty() ? json{} : json::parse(r->body);
  }
  // A streamed chat asking for a long answer; `receiver` sees each chunk and hangs up by returning false.
  // 900 tokens: as long as the trained decoder's 1024-token context allows after the prompt (a max_tokens the
  // context cannot hold is refused with 400).
  static httplib::Request long_stream(httplib::ContentReceiverWithProgress receiver) {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.set_header("Content-Type", "application/json");
    req.body = json{{"messages", {{{"role", "user"}, {"content", "tell me everything"}}}}, {"stream", true},
                    {"max_tokens", 900}, {"temperature", 1.0}}.dump();
    req.content_receiver = std::move(receiver);
    return req;
  }
  ut::server::ServerOptions server_options{.port = 0};  // set before start()
  std::filesystem::path dir;
  std::unique_ptr<ut::engine::Runtime> rt;
  ut::engine::Engine* eng = nullptr;
  ut::engine::Assistant* ai = nullptr;
  std::unique_ptr<ut::server::Server> srv;
  std::unique_ptr<httplib::Client> cli;
};

}  // namespace ut::test
