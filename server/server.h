// Server: the engine over HTTP (cpp-httplib). Binds to loopback by default; any other address requires a
// bearer token.
//
//   ut::server::Server srv(engine, {.host = "127.0.0.1", .port = 8080});
//   srv.add_routes([&](httplib::Server& http) {                       // other layers
//     ut::server::route(http, "GET", "/api/v1/docs/{id}", [](const httplib::Request& req, httplib::Response& res) {});
//   });
//   srv.start();                  // serves on a background thread; port() tells the bound port (0 = any free)
//   for (auto& r : srv.routes()) std::cout << r.method << ' ' << r.path << '\n';   // what is served
//   ...; srv.stop();
//
// Endpoints of this layer: GET / (live dashboard), GET /api/v1/metal/realtime-stats (the plan's JSON),
// GET /metrics (Prometheus text), GET /api/v1/trace?seconds=N (Chrome trace JSON), GET /healthz,
// GET /openapi.json (the OpenAPI 3 document of every route, server/openapi.json; docs/HTTP_API.md explains it).
// Errors are JSON {"error": {"message", "type", "code", "param"}} with a 4xx/5xx status; 5xx bodies add
// "request_id". Every response carries X-Request-Id (the client's when valid, else a new one); every 5xx is
// logged on stderr with it. Connections: server/connections.h (deadlines, the connection cap, workers);
// metrics: server/metrics.h.
// Every route is registered through route(), which records it: routes() lists what the server answers, and a
// test holds that list against the OpenAPI document.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace ut::server {

class HttpServer;
struct ConnectionCounters;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port
  std::string token;                // bearer token; required when host is not loopback ($UT_API_TOKEN)
  std::size_t max_body_bytes = 4 << 20;
  // Requests answered at once (worker threads). A streamed chat holds one for its whole answer, so this must
  // exceed the chats decoded together plus the embedding and API clients. Slow or idle connections hold none
  // (server/connections.h).
  std::size_t threads = 64;
  // Connection handling (server/connections.h): connections open at once (one more is answered 503), the
  // deadlines for a request's headers and body, the keep-alive idle time, a stalled response write, requests
  // per keep-alive connection.
  std::size_t max_connections = 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{5'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::size_t max_requests_per_connection = 1000;
};

// A registered route: its method ("GET", "POST", "PUT", "DELETE") and its path as OpenAPI writes it, with
// "{id}" for a numeric path parameter ("/api/v1/docs/{id}").
struct Route {
  std::string method, path;
  bool operator==(const Route&) const = default;
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

// Registers `handler` on `http` for `method` and `path` ("{name}" segments match decimal numbers, available as
// req.matches[1], ...) and records the route for Server::routes(). Throws UsageError for another method.
void route(httplib::Server& http, const std::string& method, const std::string& path, Handler handler);

// Parses a request body that must be a JSON object; otherwise answers 400 and returns nullopt.
std::optional<nlohmann::json> parse_json_object(const httplib::Request& req, httplib::Response& res);

// Writes {"error": {...}} with `status`.
// An OpenAI-shaped error object: {"error": {"message", "type", "code", "param"}} (code and param null when empty).
// Messages may quote client input: invalid UTF-8 in them is written as U+FFFD, never a failure.
void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& type = "invalid_request_error", const std::string& code = {},
                const std::string& param = {});

// The request's id: its X-Request-Id (the client's when valid, else generated), also set on the response.
std::string request_id(const httplib::Request& req, httplib::Response& res);

class Server {
 public:
  Server(engine::Engine& engine, ServerOptions options);
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void add_routes(const std::function<void(httplib::Server&)>& add);
  void start();          // throws Error if the address cannot be bound
  void stop();           // idempotent
  void wait();           // blocks until stop() (for `ut serve`)
  int port() const noexcept { return port_; }
  // Every route registered on this server (its own and those add_routes added through route()), in order.
  std::vector<Route> routes() const;
  const ServerOptions& options() const noexcept { return options_; }
  // The connections' counters, and a wait on the number open (tests wait on state, never on time).
  const ConnectionCounters& connections() const;
  bool wait_open_connections(const std::function<bool(int64_t)>& pred, std::chrono::milliseconds timeout);

 private:
  engine::Engine& engine_;
  ServerOptions options_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
  int port_ = 0;
};

// The dashboard page (server/dashboard.cpp): plain HTML + canvas, reads the endpoints above.
const char* dashboard_html();

// The OpenAPI 3.1 document of the HTTP API (server/openapi.json, compiled in).
const char* openapi_json();

}  // namespace ut::server
