// The chat route under production concerns, end to end over HTTP with the tiny synthetic models: slow clients do
// not delay a chat, max_tokens beyond the context is refused with the reason, and /metrics moves by exactly what
// a chat and a refused request did.
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "server/connections.h"
#include "tests/engine/raw_client.h"
#include "tests/engine/runtime_fixture.h"

using namespace std::chrono_literals;
using nlohmann::json;
using ut::test::AssistantTest;
using ut::test::RawClient;

namespace {

json user(const std::string& text) { return json::array({{{"role", "user"}, {"content", text}}}); }

// Every sample of a Prometheus text exposition: "name{labels}" -> value (an independent reading of the format).
std::map<std::string, double> scrape(httplib::Client& cli) {
  auto r = cli.Get("/metrics");
  EXPECT_TRUE(r && r->status == 200);
  std::map<std::string, double> out;
  if (!r) return out;
  std::istringstream lines(r->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double moved(const std::map<std::string, double>& before, const std::map<std::string, double>& after,
             const std::string& key) {
  const auto b = before.find(key), a = after.find(key);
  return (a == after.end() ? 0.0 : a->second) - (b == before.end() ? 0.0 : b->second);
}

// A chat and a 400 move the counters and the histogram counts by exactly what they did; the gauges return to 0.
void check_metrics_after_a_chat_and_a_400(httplib::Client& cli, bool stream) {
  const auto before = scrape(cli);
  const int max_tokens = 5;
  json req{{"messages", user("count to ten")}, {"max_tokens", max_tokens}, {"ignore_eos", true}, {"stream", stream}};
  if (stream) req["stream_options"] = {{"include_usage", true}};
  auto r = cli.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json usage;
  if (stream) {
    std::istringstream lines(r->body);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("data: {", 0) == 0 && json::parse(line.substr(6)).contains("usage"))
        usage = json::parse(line.substr(6))["usage"];
  } else {
    usage = json::parse(r->body)["usage"];
  }
  ASSERT_TRUE(usage.is_object()) << r->body;
  const int completion = usage["completion_tokens"], prompt = usage["prompt_tokens"];
  ASSERT_EQ(completion, max_tokens);
  auto bad = cli.Post("/v1/chat/completions", json{{"messages", "not an array"}}.dump(), "application/json");
  ASSERT_TRUE(bad);
  ASSERT_EQ(bad->status, 400);
  const auto after = scrape(cli);

  const std::string route = "method=\"POST\",route=\"/v1/chat/completions\"";
  EXPECT_EQ(moved(before, after, "ut_http_requests_total{" + route + ",status=\"200\"}"), 1);
  EXPECT_EQ(moved(before, after, "ut_http_requests_total{" + route + ",status=\"400\"}"), 1);
  EXPECT_EQ(moved(before, after, "ut:time_to_first_token_seconds_count"), 1);
  EXPECT_EQ(moved(before, after, "ut:e2e_request_latency_seconds_count"), 1);
  EXPECT_EQ(moved(before, after, "ut:request_queue_time_seconds_count"), 1);
  EXPECT_EQ(moved(before, after, "ut:inter_token_latency_seconds_count"), completion - 1) << "stream " << stream;
  EXPECT_EQ(moved(before, after, "ut:time_to_first_token_seconds_bucket{le=\"+Inf\"}"), 1);
  EXPECT_EQ(moved(before, after, "ut:prompt_tokens_total"), prompt);
  EXPECT_EQ(moved(before, after, "ut:generation_tokens_total"), completion);
  EXPECT_EQ(moved(before, after, "ut:request_success_total{finished_reason=\"length\"}"), 1);
  EXPECT_GT(moved(before, after, "ut:e2e_request_latency_seconds_sum"), 0);
  EXPECT_EQ(after.at("ut:num_requests_running"), 0);
  EXPECT_EQ(after.at("ut:num_requests_waiting"), 0);
}

TEST_F(AssistantTest, MetricsMoveByExactlyAChatAndA400) {
  start();
  check_metrics_after_a_chat_and_a_400(*cli, /*stream=*/false);
  check_metrics_after_a_chat_and_a_400(*cli, /*stream=*/true);
}

// max_tokens the context cannot hold after the messages: 400 naming the field and the most it may be; without
// max_tokens the default is cut to fit.
TEST_F(AssistantTest, MaxTokensBeyondTheContextIsRefusedWithTheReason) {
  start();
  const int n_ctx = 2048;  // the assistant's default context per chat
  auto r = cli->Post("/v1/chat/completions",
                     json{{"messages", user("hello")}, {"max_tokens", n_ctx}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 400) << r->body;
  const auto error = json::parse(r->body)["error"];
  EXPECT_EQ(error["code"], "context_length_exceeded");
  EXPECT_EQ(error["param"], "max_tokens");
  EXPECT_NE(error["message"].get<std::string>().find("at most"), std::string::npos) << error.dump();
  r = cli->Post("/v1/chat/completions",
                json{{"messages", user("hello")}, {"max_completion_tokens", n_ctx + 1}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  r = cli->Post("/v1/chat/completions", json{{"messages", user("hello")}, {"max_tokens", 3}}.dump(),
                "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

// 200 connections that open a POST and send nothing more (or nothing at all) do not delay a chat: it is answered
// while every one of them is still connected (their deadlines are long; before, the chat waited until the
// thread-per-connection server had timed them out).
TEST_F(AssistantTest, SlowClientsDoNotDelayAChat) {
  server_options.header_timeout = server_options.body_timeout = std::chrono::seconds(600);
  start();
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(std::make_unique<RawClient>(srv->port()));
    if (i % 2) slow.back()->send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n");
  }
  ASSERT_TRUE(srv->wait_open_connections([](int64_t n) { return n >= 200; }, 60s));
  auto r = cli->Post("/v1/chat/completions", json{{"messages", user("hi")}, {"max_tokens", 4}}.dump(),
                     "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  for (auto& c : slow) EXPECT_TRUE(c->open_by_server()) << "a slow client was answered or closed";
}

}  // namespace
