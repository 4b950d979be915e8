// End to end over real HTTP on loopback.
#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "timeline/error.h"

using namespace std::chrono_literals;

namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    eng = std::make_unique<ut::engine::Engine>(ut::engine::EngineConfig{.backend = "cpu"});
    eng->start();
    srv = std::make_unique<ut::server::Server>(*eng, ut::server::ServerOptions{.host = "127.0.0.1", .port = 0});
    srv->start();
    cli = std::make_unique<httplib::Client>("127.0.0.1", srv->port());
    cli->set_read_timeout(10, 0);
  }
  void TearDown() override {
    srv->stop();
    eng->stop();
  }
  std::unique_ptr<ut::engine::Engine> eng;
  std::unique_ptr<ut::server::Server> srv;
  std::unique_ptr<httplib::Client> cli;
};

TEST_F(ServerTest, StatsMetricsTraceAndDashboard) {
  ASSERT_TRUE(eng->e_frame()->wait(8, 10s)) << "the heartbeat never ticked";  // the checks below want > 5 frames
  auto r = cli->Get("/api/v1/metal/realtime-stats");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_GT(j["events"]["frame_counter"].get<uint64_t>(), 3u);
  EXPECT_TRUE(j["queues"]["ml"].contains("avg_encode_time_ms"));

  r = cli->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("# TYPE ut_event_value gauge"), std::string::npos);
  EXPECT_NE(r->body.find("ut_event_value{event=\"frame\"}"), std::string::npos);

  r = cli->Get("/api/v1/trace?seconds=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto t = nlohmann::json::parse(r->body);
  int frames = 0;
  for (auto& e : t["traceEvents"]) frames += e["ph"] == "X" && e["name"] == "frame";
  EXPECT_GT(frames, 5);

  r = cli->Get("/");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("<canvas"), std::string::npos);
}

TEST_F(ServerTest, BadRequestsGetClearJsonErrors) {
  auto r = cli->Get("/api/v1/trace?seconds=abc");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(nlohmann::json::parse(r->body)["error"]["message"].get<std::string>().find("seconds"), std::string::npos);
  r = cli->Get("/api/v1/trace?seconds=-1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = cli->Get("/no/such/thing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(nlohmann::json::parse(r->body).contains("error"));
}

TEST(ServerAuth, NonLoopbackNeedsATokenAndTheTokenIsEnforced) {
  ut::engine::Engine eng({.backend = "cpu"});
  EXPECT_THROW(ut::server::Server(eng, {.host = "0.0.0.0", .port = 0, .token = ""}), ut::UsageError);
  ut::server::Server srv(eng, {.host = "127.0.0.1", .port = 0, .token = "s3cret"});
  srv.start();
  httplib::Client cli("127.0.0.1", srv.port());
  auto r = cli.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = cli.Get("/healthz", {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  srv.stop();
}

}  // namespace

namespace {

// A streamed chat holds its connection for the whole answer: many must be served at once whatever the core
// count (cpp-httplib's own default is cores - 1 threads). Twenty requests each wait inside the handler until all
// twenty are inside; with fewer threads than that they time out.
TEST_F(ServerTest, ManyLongRequestsAreServedAtOnce) {
  constexpr int kRequests = 20;
  std::mutex m;
  std::condition_variable cv;
  int inside = 0;
  auto srv2 = std::make_unique<ut::server::Server>(*eng, ut::server::ServerOptions{.port = 0});
  srv2->add_routes([&](httplib::Server& h) {
    h.Get("/hold", [&](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(m);
      ++inside;
      cv.notify_all();
      const bool all = cv.wait_for(lock, 10s, [&] { return inside >= kRequests; });
      res.set_content(all ? "all" : "timeout", "text/plain");
    });
  });
  srv2->start();
  std::vector<std::thread> clients;
  std::atomic<int> all{0};
  for (int i = 0; i < kRequests; ++i)
    clients.emplace_back([&, port = srv2->port()] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(20, 0);
      if (auto r = c.Get("/hold"); r && r->body == "all") ++all;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(all.load(), kRequests);
  srv2->stop();
}

}  // namespace
