// The OpenAI request fields apps send beyond the basics, end to end over HTTP with the tiny synthetic models:
// stream_options.include_usage, unknown fields, penalties, response_format and logprobs.
#include <gtest/gtest.h>
#include <httplib.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/engine/runtime_fixture.h"

using nlohmann::json;
using ut::test::AssistantTest;

namespace {

json user(const std::string& text) { return json::array({{{"role", "user"}, {"content", text}}}); }

// The data: payloads of a server-sent event stream, [DONE] excluded; *done says whether it was seen.
std::vector<json> events(const std::string& body, bool* done) {
  std::vector<json> out;
  std::istringstream lines(body);
  std::string line;
  *done = false;
  while (std::getline(lines, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    if (line == "data: [DONE]") {
      *done = true;
      continue;
    }
    out.push_back(json::parse(line.substr(6)));
  }
  return out;
}

TEST_F(AssistantTest, StreamIncludeUsageEndsWithAUsageChunkWithoutChoices) {
  start();
  const int max_tokens = 3 + static_cast<int>(std::random_device{}() % 6);
  auto r = cli->Post("/v1/chat/completions",
                     json{{"messages", user("count")}, {"stream", true}, {"max_tokens", max_tokens},
                          {"ignore_eos", true}, {"stream_options", {{"include_usage", true}}}}.dump(),
                     "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  bool done = false;
  auto ev = events(r->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(ev.size(), 2u);
  const auto& last = ev.back();
  EXPECT_TRUE(last["choices"].is_array() && last["choices"].empty()) << last.dump();
  EXPECT_EQ(last["usage"]["completion_tokens"], max_tokens);
  EXPECT_GT(last["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(last["usage"]["total_tokens"].get<int>(),
            last["usage"]["prompt_tokens"].get<int>() + max_tokens);
  for (std::size_t i = 0; i + 1 < ev.size(); ++i) {
    EXPECT_TRUE(ev[i].contains("usage") && ev[i]["usage"].is_null()) << ev[i].dump();
    EXPECT_EQ(ev[i]["choices"].size(), 1u);
  }
  EXPECT_EQ(ev[ev.size() - 2]["choices"][0]["finish_reason"], "length");

  // Without the option no chunk has a usage field, and there is no choice-less chunk.
  r = cli->Post("/v1/chat/completions",
                json{{"messages", user("count")}, {"stream", true}, {"max_tokens", 2}}.dump(), "application/json");
  ASSERT_TRUE(r);
  for (const auto& c : events(r->body, &done)) {
    EXPECT_FALSE(c.contains("usage")) << c.dump();
    EXPECT_EQ(c["choices"].size(), 1u);
  }
  post("/v1/chat/completions", {{"messages", user("x")}, {"stream", true}, {"stream_options", "yes"}}, 400);
}

TEST_F(AssistantTest, UnknownRequestFieldsAreIgnored) {
  start();
  // Fields other servers or newer clients send: accepted and ignored, the answer is the same as without them.
  const json base{{"messages", user("hello")}, {"max_tokens", 4}, {"temperature", 0}};
  json extra = base;
  extra["user"] = "u-" + std::to_string(std::random_device{}());
  extra["n"] = 1;
  extra["metadata"] = {{"k", "v"}};
  extra["store"] = false;
  extra["parallel_tool_calls"] = true;
  extra["some_future_field"] = {{"nested", {1, 2, 3}}};
  const auto a = post("/v1/chat/completions", base, 200);
  const auto b = post("/v1/chat/completions", extra, 200);
  EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
}

TEST_F(AssistantTest, PenaltiesAreAcceptedInRangeAndOutOfRangeIs400) {
  start();
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<float> in(-2.0f, 2.0f);
  const json ok{{"messages", user("again and again")}, {"max_tokens", 6}, {"temperature", 0},
                {"presence_penalty", in(rng)}, {"frequency_penalty", in(rng)}, {"repetition_penalty", 1.3},
                {"ignore_eos", true}};
  EXPECT_EQ(post("/v1/chat/completions", ok, 200)["usage"]["completion_tokens"], 6);
  json streamed = ok;
  streamed["stream"] = true;
  auto r = cli->Post("/v1/chat/completions", streamed.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  for (const char* name : {"presence_penalty", "frequency_penalty"})
    for (double bad : {-2.5, 2.01, 100.0}) {
      json b = ok;
      b[name] = bad;
      const auto e = post("/v1/chat/completions", b, 400);
      EXPECT_EQ(e["error"]["param"], name) << e.dump();
    }
  json b = ok;
  b["repetition_penalty"] = 0;
  post("/v1/chat/completions", b, 400);
  b = ok;
  b["frequency_penalty"] = "high";
  post("/v1/chat/completions", b, 400);
}

}  // namespace
