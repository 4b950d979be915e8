// End to end over real HTTP on loopback.
#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <thread>

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
  std::this_thread::sleep_for(200ms);
  auto r = cli->Get("/api/v1/metal/realtime-stats");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_GT(j["events"]["frame"].get<uint64_t>(), 3u);
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
