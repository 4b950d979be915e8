#include "server/server.h"

#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

#include "server/connections.h"
#include "server/metrics.h"
#include "timeline/clock.h"
#include "timeline/error.h"

namespace ut::server {
namespace {

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The routes registered on each httplib server (route() has only the httplib::Server that other layers get).
struct RouteLog {
  std::mutex mutex;
  std::map<const httplib::Server*, std::vector<Route>> by_server;
};

RouteLog& route_log() {
  static RouteLog log;
  return log;
}

}  // namespace

void route(httplib::Server& http, const std::string& method, const std::string& path, Handler handler) {
  // "{id}" -> "(\d+)": httplib matches a regular expression; OpenAPI names the parameter.
  std::string pattern;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '{') {
      pattern += path[i];
      continue;
    }
    const std::size_t close = path.find('}', i);
    if (close == std::string::npos) throw UsageError("[server::route] unclosed '{' in " + path);
    pattern += "(\\d+)";
    i = close;
  }
  // The route's label in ut_http_requests_total (the registered path, not the request's, to bound the series).
  handler = [h = std::move(handler), path](const httplib::Request& req, httplib::Response& res) {
    current_route() = path;
    h(req, res);
  };
  if (method == "GET") http.Get(pattern, std::move(handler));
  else if (method == "POST") http.Post(pattern, std::move(handler));
  else if (method == "PUT") http.Put(pattern, std::move(handler));
  else if (method == "DELETE") http.Delete(pattern, std::move(handler));
  else throw UsageError("[server::route] unsupported method " + method);
  std::lock_guard lock(route_log().mutex);
  route_log().by_server[&http].push_back({method, path});
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& code, const std::string& param) {
  res.status = status;
  const nlohmann::json error{{"message", message},
                             {"type", type},
                             {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)},
                             {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)}};
  res.set_content(nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

std::optional<nlohmann::json> parse_json_object(const httplib::Request& req, httplib::Response& res) {
  try {
    auto j = nlohmann::json::parse(req.body);
    if (j.is_object()) return j;
    send_error(res, 400, "the request body must be a JSON object");
  } catch (const nlohmann::json::parse_error& e) {
    send_error(res, 400, std::string("malformed JSON: ") + e.what());
  }
  return std::nullopt;
}

// The request id of a request (set by the connection layer before routing; generated where parsing failed first).
std::string request_id(const httplib::Request& req, httplib::Response& res) {
  if (res.has_header("X-Request-Id")) return res.get_header_value("X-Request-Id");
  std::string id = request_id_for(req.get_header_value("X-Request-Id"));
  res.set_header("X-Request-Id", id);
  return id;
}

namespace {

// A 5xx is our failure: its body names the request id, and a line on stderr says what failed.
void note_server_error(const httplib::Request& req, httplib::Response& res) {
  const std::string id = request_id(req, res);
  std::string message = res.body;
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    message = body["error"].value("message", res.body);
    body["error"]["request_id"] = id;
    res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  log_server_error(res.status, req.method, req.path, id, message);
}

}  // namespace

static ConnectionLimits connection_limits(const ServerOptions& o) {
  return {.max_connections = std::max<std::size_t>(o.max_connections, 1),
          .workers = std::max<std::size_t>(o.threads, 2),
          .header_timeout = o.header_timeout,
          .body_timeout = o.body_timeout,
          .idle_timeout = o.idle_timeout,
          .write_timeout = o.write_timeout,
          .max_requests_per_connection = std::max<std::size_t>(o.max_requests_per_connection, 1),
          .max_body_bytes = o.max_body_bytes};
}

Server::Server(engine::Engine& engine, ServerOptions options)
    : engine_(engine), options_(std::move(options)),
      http_(std::make_unique<HttpServer>(connection_limits(options_))) {
  if (options_.token.empty()) {
    if (const char* t = std::getenv("UT_API_TOKEN")) options_.token = t;
  }
  if (!is_loopback(options_.host) && options_.token.empty()) {
    throw UsageError("[Server::Server] binding to '" + options_.host +
                     "' exposes the engine beyond this machine: set a bearer token (--token or UT_API_TOKEN)");
  }
  // Streamed tokens are small writes: with Nagle's algorithm each waits for the client's delayed ACK of the one
  // before (tens of ms, tokens arrive in bursts). llama.cpp's server turns it off the same way (the connection
  // layer sets TCP_NODELAY on every accepted socket).
  http_->set_tcp_nodelay(true);
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_id(req, res);
    if (options_.token.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + options_.token) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401, "missing or wrong bearer token", "authentication_error");
    return httplib::Server::HandlerResponse::Handled;
  });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const UsageError& e) {
      send_error(res, 400, e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, e.what(), "server_error");
    } catch (...) {
      send_error(res, 500, "unknown error", "server_error");
    }
  });
  // Runs for every status >= 400 before the response is written (and before its Content-Length is computed).
  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    request_id(req, res);
    if (res.body.empty()) {
      if (res.status == 404) send_error(res, 404, "no such endpoint: " + req.method + " " + req.path, "not_found");
      else if (res.status == 413) send_error(res, 413, "request body too large");
      else if (res.status == 400) send_error(res, 400, "malformed request");
      else if (res.status >= 500) send_error(res, res.status, "internal error", "server_error");
    }
    if (res.status >= 500) note_server_error(req, res);
  });
  // Runs for every response before its status line is written: count it (so a client that has its answer sees
  // it counted) and make sure it carries the request id.
  http_->set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_id(req, res);
    std::string& route = current_route();
    http_->metrics().count_request(req.method, route.empty() ? (res.status == 404 ? "unmatched" : "other") : route,
                                   res.status);
    route.clear();
  });

  httplib::Server& h = *http_;
  route(h, "GET", "/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(dashboard_html(), "text/html");
  });
  route(h, "GET", "/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  route(h, "GET", "/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(openapi_json(), "application/json");
  });
  route(h, "GET", "/api/v1/metal/realtime-stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(engine_.realtime_stats().dump(), "application/json");
  });
  route(h, "GET", "/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(engine_.prometheus_metrics() + http_->metrics().prometheus(&http_->counters()),
                    "text/plain; version=0.0.4");
  });
  route(h, "GET", "/api/v1/trace", [this](const httplib::Request& req, httplib::Response& res) {
    double seconds = 5;
    if (req.has_param("seconds")) {
      try {
        seconds = std::stod(req.get_param_value("seconds"));
      } catch (...) {
        return send_error(res, 400, "seconds must be a number");
      }
      if (!(seconds > 0 && seconds <= 3600)) return send_error(res, 400, "seconds must be in (0, 3600]");
    }
    const uint64_t now = now_ns();
    const uint64_t since = now - std::min<uint64_t>(now, static_cast<uint64_t>(seconds * 1e9));
    res.set_content(engine_.chrome_trace(since), "application/json");
  });
}

Server::~Server() {
  stop();
  std::lock_guard lock(route_log().mutex);
  route_log().by_server.erase(http_.get());
}

std::vector<Route> Server::routes() const {
  std::lock_guard lock(route_log().mutex);
  auto it = route_log().by_server.find(http_.get());
  return it == route_log().by_server.end() ? std::vector<Route>{} : it->second;
}

void Server::add_routes(const std::function<void(httplib::Server&)>& add) { add(*http_); }

const ConnectionCounters& Server::connections() const { return http_->counters(); }

bool Server::wait_open_connections(const std::function<bool(int64_t)>& pred, std::chrono::milliseconds timeout) {
  return http_->wait_open(pred, timeout);
}

void Server::start() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ <= 0) throw Error("[Server::start] cannot bind " + options_.host);
  } else {
    if (!http_->bind_to_port(options_.host, options_.port)) {
      throw Error("[Server::start] cannot bind " + options_.host + ":" + std::to_string(options_.port) +
                  " (in use, or not an address of this machine)");
    }
    port_ = options_.port;
  }
  http_->widen_backlog();
  // The socket already listens after bind: clients that connect before the accept loop starts just queue.
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void Server::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
  if (http_) http_->close_connections();
}

void Server::wait() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace ut::server
