// HttpServer: cpp-httplib's Server with the connection handling a public-facing server needs.
//
//   ut::server::HttpServer http({.max_connections = 1024, .workers = 64});
//   http.Get("/hello", [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
//   http.bind_to_any_port("127.0.0.1");
//   std::thread t([&] { http.listen_after_bind(); });
//   ...; http.stop(); t.join(); http.close_connections();
//
// Why: cpp-httplib 0.11.4 hands every accepted socket to a thread of its pool for the socket's whole life; the
// thread blocks reading the request line, the headers and the body. Its read timeout is per read() call (a client
// that sends one byte every few seconds is never cut off), the keep-alive wait occupies a thread too, and it has
// no cap on connections. 200 clients that open a connection and send nothing held all 64 threads, and a normal
// chat waited 25.7 s. What the library does let us replace: Server::process_and_close_socket (virtual) and
// process_request(Stream&, ...) (protected), which parses and answers one request from any Stream.
//
// So: the library's accept loop runs a task queue that hands each socket at once to one reactor thread (epoll),
// which reads requests without blocking until they are complete (headers, then the body by Content-Length or
// chunked framing), under deadlines; only then does a worker of a bounded pool run process_request on the bytes
// already read. Slow or idle clients hold a file descriptor and a buffer, never a worker.
// - header_timeout: a request's first byte (for a new connection: the accept) -> the end of its headers;
//   body_timeout: the end of the headers -> the end of the body. Past either: 408 (an OpenAI-style error object)
//   and the connection closes; a connection that sent nothing is closed silently.
// - idle_timeout: a keep-alive connection between requests; then it closes silently.
// - max_connections: open at once (reading, waiting for a worker, being answered, idle). One more is answered at
//   once 503 with Retry-After and closed.
// - write_timeout: a response write that makes no progress this long fails (the client stopped reading).
// - Headers over max_header_bytes: 431; a body over max_body_bytes: 413; Content-Length with Transfer-Encoding,
//   or malformed framing: 400. All answered by the reactor, with the connection closed after.
// Every response carries X-Request-Id (the client's when it sent a valid one: [A-Za-z0-9._:-], 1..128 chars).
#pragma once

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/metrics.h"

namespace ut::server {

struct ConnectionLimits {
  std::size_t max_connections = 1024;
  std::size_t workers = 64;  // requests answered at once (a streamed chat holds one for its whole answer)
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{5'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::size_t max_requests_per_connection = 1000;  // keep-alive: the last one is answered Connection: close
  std::size_t max_header_bytes = 64 << 10;
  std::size_t max_body_bytes = 4 << 20;
};

// What the connections did; read by /metrics. Counters only grow.
struct ConnectionCounters {
  std::atomic<int64_t> open{0};             // adopted and not yet closed (rejected ones excluded)
  std::atomic<int64_t> waiting{0};          // complete requests waiting for a worker
  std::atomic<int64_t> serving{0};          // requests a worker is answering
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected_capacity{0};  // answered 503
  std::atomic<uint64_t> header_timeouts{0}, body_timeouts{0}, idle_timeouts{0};
  std::atomic<uint64_t> malformed{0};          // answered 400, 413 or 431 by the reactor
};

// A request id: the client's X-Request-Id when valid, else a new one ("req-" and 16 hex digits).
std::string request_id_for(const std::string& client_value);
std::string new_request_id();

class HttpServer : public httplib::Server {
 public:
  explicit HttpServer(ConnectionLimits limits);
  ~HttpServer() override;  // closes the connections
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // After stop() and the end of listen_after_bind(): closes every connection (answers in progress see their
  // writes fail) and joins the reactor and the workers. Idempotent.
  void close_connections();
  // After bind: the kernel's queue of connections not yet accepted (the library listens with 5, so a burst of
  // connects beyond that waited for SYN retransmits, a second or more each).
  void widen_backlog(int n = SOMAXCONN);
  const ConnectionLimits& limits() const noexcept { return limits_; }
  const ConnectionCounters& counters() const noexcept { return counters_; }
  Metrics& metrics() noexcept { return metrics_; }
  // Blocks until pred(open connections) holds or the timeout passes; true when it held (tests wait on state).
  bool wait_open(const std::function<bool(int64_t)>& pred, std::chrono::milliseconds timeout);

 private:
  class Reactor;
  bool process_and_close_socket(socket_t sock) override;

  ConnectionLimits limits_;
  ConnectionCounters counters_;
  Metrics metrics_;
  std::unique_ptr<Reactor> reactor_;
};

}  // namespace ut::server
