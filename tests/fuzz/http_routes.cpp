// Fuzz target: HTTP requests through cpp-httplib's request parser and router into our route handlers
// (server/routes.h: chat completions, streamed or not, embeddings, models, SQL, documents), in process: no socket,
// the request bytes come from memory and the response goes to memory (httplib::Server::process_request on a
// Stream of our own). The engine is a real Runtime with the tiny synthetic models and an in-memory DuckDB.
// Input: the first line is the request line without the version ("POST /v1/chat/completions"), the rest the body.
// Checked on every input: a response is written; its status is 2xx, 4xx, or 5xx only when the engine failed
// (never for the body alone: a client's mistake is a 4xx); every error is a JSON {"error": {...}} object.
#include <httplib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/default_models.h"
#include "engine/runtime.h"
#include "server/routes.h"
#include "server/server.h"
#include "tests/fuzz/fuzz_check.h"
#include "timeline/error.h"

namespace {

// One request in, the response out, all in memory.
class MemoryStream : public httplib::Stream {
 public:
  explicit MemoryStream(std::string request) : in_(std::move(request)) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 40000; }
  void get_local_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 8080; }
  socket_t socket() const override { return INVALID_SOCKET; }
  const std::string& written() const { return out_; }

 private:
  std::string in_, out_;
  size_t pos_ = 0;
};

// process_request is protected: this is the in-process seam.
class InProcessServer : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

struct World {
  std::filesystem::path dir;
  std::unique_ptr<ut::engine::Runtime> rt;
  InProcessServer http;
  World() {
    // The tiny synthetic models (fast, and the same ones the engine tests use).
    setenv("UT_TRAINED_MODELS_DIR", "none", 0);
    const char* models_env = std::getenv("UT_MODELS_DIR");
    const std::string models_dir =
        models_env && *models_env ? models_env : (std::filesystem::temp_directory_path() / "ut-test-models").string();
    const auto models = ut::engine::default_models(models_dir);
    ut::engine::RuntimeConfig rc{.engine = {.backend = "cpu", .max_heavy_ops = 2}, .db_path = "",
                                 .embed_model = models.embedder, .chat_model = models.decoder,
                                 .default_models = false, .governor = false};
    rt = std::make_unique<ut::engine::Runtime>(rc);
    // As ut::server::Server configures its httplib server (server/server.cpp): body limit and the exception
    // handler that turns a UsageError into a 400 and anything else into a 500.
    http.set_payload_max_length(4 << 20);
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const ut::UsageError& e) {
        ut::server::send_error(res, 400, e.what());
      } catch (const std::exception& e) {
        ut::server::send_error(res, 500, e.what(), "server_error");
      }
    });
    ut::server::add_openai_routes(http, rt->assistant());
    ut::server::add_api_routes(http, *rt);
  }
};

World& world() {
  static World* w = [] {
    auto* made = new World;
    // Stopped before the libraries' own statics go (registered after they were made, so it runs first): engine
    // threads still running while llama.cpp and DuckDB tear down crash the process at exit.
    std::atexit([] { delete w; });
    return made;
  }();
  return *w;
}

int status_of(const std::string& response) {
  // "HTTP/1.1 200 OK\r\n..."
  if (response.size() < 12 || response.compare(0, 9, "HTTP/1.1 ") != 0) return -1;
  return std::atoi(response.c_str() + 9);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string line = input.substr(0, nl);
  const std::string body = nl == std::string::npos ? std::string() : input.substr(nl + 1);
  const std::string request = line + " HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  MemoryStream stream(request);
  bool closed = false;
  w.http.process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
  const std::string& out = stream.written();
  const int status = status_of(out);
  FUZZ_CHECK(status >= 200 && status < 600, "no HTTP response was written");
  if (status >= 500 && std::getenv("UT_FUZZ_ALLOW_5XX") == nullptr) {
    std::fprintf(stderr, "5xx for a request: %s\n", out.substr(0, 2000).c_str());
    FUZZ_CHECK(false, "a request got a 5xx (a client's mistake must be a 4xx)");
  }
  if (status >= 400) {
    const size_t head_end = out.find("\r\n\r\n");
    const std::string reply = head_end == std::string::npos ? std::string() : out.substr(head_end + 4);
    // httplib answers requests it cannot parse (bad request line, 414) itself, with an empty body.
    if (!reply.empty()) {
      const auto j = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
      FUZZ_CHECK(j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message"),
                 "an error response is not an OpenAI-style error object");
    }
  }
  return 0;
}
