// The server's connection handling against raw clients: slow clients hold no worker, the connection cap answers
// 503, deadlines cut off stalled requests and idle keep-alives, framing (chunked, pipelined, Expect) and request ids.
// No test waits on time: each waits on the server's state or on the server closing a socket (the sockets' 60 s
// receive limit only guards against a hang).
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/connections.h"
#include "server/server.h"
#include "tests/engine/raw_client.h"

using namespace std::chrono_literals;
using ut::test::http_body;
using ut::test::http_header;
using ut::test::RawClient;

namespace {

class ConnectionsTest : public ::testing::Test {
 protected:
  void start(ut::server::ServerOptions o) {
    eng = std::make_unique<ut::engine::Engine>(ut::engine::EngineConfig{.backend = "cpu"});
    o.port = 0;
    srv = std::make_unique<ut::server::Server>(*eng, o);
    srv->add_routes([](httplib::Server& h) {
      ut::server::route(h, "POST", "/echo", [](const httplib::Request& req, httplib::Response& res) {
        res.set_content(req.body, "text/plain");
      });
      ut::server::route(h, "GET", "/fail", [](const httplib::Request&, httplib::Response&) {
        throw std::runtime_error("the disk caught fire");
      });
    });
    srv->start();
  }
  void TearDown() override {
    if (srv) srv->stop();
  }
  std::unique_ptr<RawClient> raw() { return std::make_unique<RawClient>(srv->port()); }
  bool wait_open(int64_t n) {
    return srv->wait_open_connections([n](int64_t open) { return open == n; }, 30s);
  }
  std::unique_ptr<ut::engine::Engine> eng;
  std::unique_ptr<ut::server::Server> srv;
};

const char* kPartialPost = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"partial\":";

// 200 clients that connect and send nothing, or send a POST's headers and part of its body, hold no worker: with
// 2 workers a normal request is answered while every one of them is still connected (the deadlines are long, so
// they stay connected; the thread-per-connection server answered only once they were timed out).
TEST_F(ConnectionsTest, SlowClientsDoNotDelayANormalRequest) {
  start({.threads = 2, .max_connections = 1000, .header_timeout = 300s, .body_timeout = 300s});
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(raw());
    if (i % 2) slow.back()->send(kPartialPost);
  }
  ASSERT_TRUE(wait_open(200)) << "the server did not take the 200 connections";
  httplib::Client cli("127.0.0.1", srv->port());
  cli.set_read_timeout(60, 0);  // a hang guard only
  auto r = cli.Post("/echo", "hello", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  for (auto& c : slow) EXPECT_TRUE(c->open_by_server()) << "a slow client was answered or closed";
  EXPECT_GE(srv->connections().open.load(), 200);
}

// Past the cap a new connection is answered 503 at once (error object, Retry-After, request id), and once a
// connection closes a new one is served again.
TEST_F(ConnectionsTest, PastTheCapANewConnectionGets503) {
  start({.max_connections = 4, .header_timeout = 300s});
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 4; ++i) held.push_back(raw());
  ASSERT_TRUE(wait_open(4));
  auto extra = raw();
  extra->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  bool closed = false;
  const std::string reply = extra->read_until_close(&closed);
  EXPECT_TRUE(closed);
  ASSERT_EQ(reply.rfind("HTTP/1.1 503", 0), 0u) << reply;
  EXPECT_EQ(http_header(reply, "Retry-After"), "1");
  const auto error = nlohmann::json::parse(http_body(reply))["error"];
  EXPECT_EQ(error["type"], "server_error");
  EXPECT_EQ(error["code"], "connection_limit");
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  EXPECT_EQ(error["request_id"], http_header(reply, "X-Request-Id"));
  EXPECT_EQ(srv->connections().rejected_capacity.load(), 1u);
  for (auto& c : held) EXPECT_TRUE(c->open_by_server());

  held.pop_back();  // one closes: room for one more
  ASSERT_TRUE(wait_open(3));
  httplib::Client cli("127.0.0.1", srv->port());
  auto r = cli.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ConnectionsTest, AClientThatStallsMidBodyIsCutOffAtTheDeadline) {
  start({.header_timeout = 300s, .body_timeout = 200ms});
  auto c = raw();
  c->send(kPartialPost);
  bool closed = false;
  const std::string reply = c->read_until_close(&closed);
  EXPECT_TRUE(closed) << "the connection was not closed";
  ASSERT_EQ(reply.rfind("HTTP/1.1 408", 0), 0u) << reply;
  const auto error = nlohmann::json::parse(http_body(reply))["error"];
  EXPECT_EQ(error["type"], "timeout");
  EXPECT_NE(error["message"].get<std::string>().find("body"), std::string::npos);
  EXPECT_EQ(srv->connections().body_timeouts.load(), 1u);
  EXPECT_EQ(srv->connections().header_timeouts.load(), 0u);
}

// (A new connection's deadline runs from its accept: the partial headers must arrive within it to be answered
// 408 rather than closed silently, hence a second, not the 200 ms of the other deadline tests.)
TEST_F(ConnectionsTest, StalledHeadersAndSilentConnectionsAreCutOffAtTheDeadline) {
  start({.header_timeout = 1000ms, .body_timeout = 300s});
  auto partial = raw(), silent = raw();
  partial->send("GET /healthz HTTP/1.1\r\nHost:");
  bool closed = false;
  std::string reply = partial->read_until_close(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 408", 0), 0u) << reply;
  reply = silent->read_until_close(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(reply, "") << "a connection that sent nothing gets no answer, only the close";
  EXPECT_EQ(srv->connections().header_timeouts.load(), 2u);
}

TEST_F(ConnectionsTest, AnIdleKeepAliveConnectionIsClosedAfterItsAnswer) {
  start({.idle_timeout = 200ms});
  auto c = raw();
  c->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  bool closed = false;
  const std::string reply = c->read_until_close(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_EQ(http_header(reply, "Connection"), "") << "keep-alive was offered";
  EXPECT_EQ(srv->connections().idle_timeouts.load(), 1u);
}

// Chunked bodies, Expect: 100-continue and pipelined requests are framed by the reactor and decoded by the library.
TEST_F(ConnectionsTest, ChunkedExpectAndPipelinedRequests) {
  start({});
  auto c = raw();
  c->send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n"
          "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
          "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  const std::string reply = c->read_until_close();
  std::vector<std::string> bodies;
  for (std::size_t at = 0; (at = reply.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at) {
    const auto len = std::stoul(http_header(reply.substr(at), "Content-Length"));
    bodies.push_back(reply.substr(reply.find("\r\n\r\n", at) + 4, len));
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"hello world", "abc", "ok"})) << reply;
  EXPECT_EQ(reply.find("100 Continue"), std::string::npos) << "the whole body was there: no interim answer";
}

TEST_F(ConnectionsTest, BadFramingIsRefusedBeforeAnyHandler) {
  start({.max_body_bytes = 1000});
  auto both = raw(), big = raw(), bad_chunk = raw();
  both->send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc");
  big->send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
  bad_chunk->send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(both->read_until_close().rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(big->read_until_close().rfind("HTTP/1.1 413", 0), 0u);
  EXPECT_EQ(bad_chunk->read_until_close().rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(srv->connections().malformed.load(), 3u);
}

// Every reply carries X-Request-Id (the client's when valid); a 5xx body names it and the log line has it.
TEST_F(ConnectionsTest, RequestIdsOnEveryReplyAndIn5xxBodiesAndLogs) {
  start({});
  httplib::Client cli("127.0.0.1", srv->port());
  auto r = cli.Get("/healthz", {{"X-Request-Id", "client-id.42"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("X-Request-Id"), "client-id.42");
  r = cli.Get("/healthz", {{"X-Request-Id", "not valid!"}});
  ASSERT_TRUE(r);
  const std::string generated = r->get_header_value("X-Request-Id");
  EXPECT_EQ(generated.size(), 20u) << generated;
  EXPECT_EQ(generated.rfind("req-", 0), 0u);
  r = cli.Get("/no/such/route");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(r->get_header_value("X-Request-Id").empty());
  EXPECT_NE(r->get_header_value("X-Request-Id"), generated);

  testing::internal::CaptureStderr();
  r = cli.Get("/fail", {{"X-Request-Id", "trace-500"}});
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->get_header_value("X-Request-Id"), "trace-500");
  const auto error = nlohmann::json::parse(r->body)["error"];
  EXPECT_EQ(error["request_id"], "trace-500");
  EXPECT_EQ(error["type"], "server_error");
  EXPECT_NE(log.find("500 GET /fail request_id=trace-500: the disk caught fire"), std::string::npos) << log;
}

}  // namespace
