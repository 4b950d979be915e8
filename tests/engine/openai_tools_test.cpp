// The chat API's tools / tool_calls and logprobs end to end over HTTP with the tiny synthetic models: a scripted
// tool round trip (a named tool_choice makes the grammar force a valid call; the result goes back as a tool
// message), the streamed tool_calls deltas, the shapes OpenAI's clients read, and the 400s.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/engine/runtime_fixture.h"

using nlohmann::json;
using ut::test::AssistantTest;

namespace {

json user(const std::string& text) { return json::array({{{"role", "user"}, {"content", text}}}); }

// A tool whose arguments are bounded, so a grammar-forced call always completes within max_tokens.
const json kTool = json::parse(R"({"type": "function", "function": {"name": "package_info",
  "description": "Looks up a Debian package",
  "parameters": {"type": "object", "additionalProperties": false,
    "properties": {"name": {"type": "string", "maxLength": 12},
                   "field": {"enum": ["version", "section", "depends"]},
                   "limit": {"type": "integer"}},
    "required": ["name", "field"]}}})");
const json kOther = json::parse(R"({"type": "function", "function": {"name": "count_rows",
  "parameters": {"type": "object", "properties": {"table": {"enum": ["packages", "files"]}}, "required": ["table"]}}})");

// The checks of a tool call's arguments against kTool's schema, written from the schema.
void expect_valid_package_info(const std::string& arguments) {
  json a;
  ASSERT_NO_THROW(a = json::parse(arguments)) << arguments;
  ASSERT_TRUE(a.is_object()) << arguments;
  ASSERT_TRUE(a.contains("name") && a["name"].is_string()) << arguments;
  const auto& n = a["name"].get_ref<const std::string&>();
  EXPECT_LE(std::count_if(n.begin(), n.end(), [](char c) { return (c & 0xC0) != 0x80; }), 12) << arguments;
  ASSERT_TRUE(a.contains("field")) << arguments;
  EXPECT_TRUE(a["field"] == "version" || a["field"] == "section" || a["field"] == "depends") << arguments;
  if (a.contains("limit")) {
    EXPECT_TRUE(a["limit"].is_number_integer()) << arguments;
  }
  for (auto it = a.begin(); it != a.end(); ++it)
    EXPECT_TRUE(it.key() == "name" || it.key() == "field" || it.key() == "limit") << "extra: " << it.key();
}

std::vector<json> events(const std::string& body, bool* done) {
  std::vector<json> out;
  std::istringstream lines(body);
  std::string line;
  *done = false;
  while (std::getline(lines, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    if (line == "data: [DONE]") *done = true;
    else out.push_back(json::parse(line.substr(6)));
  }
  return out;
}

TEST_F(AssistantTest, ToolCallRoundTrip) {
  start();
  std::mt19937 rng(std::random_device{}());
  const json named{{"type", "function"}, {"function", {{"name", "package_info"}}}};
  json body{{"messages", user("Which section is apt in?")}, {"tools", {kTool, kOther}}, {"tool_choice", named},
            {"max_tokens", 200}, {"temperature", 1.0}, {"seed", rng()}};
  const auto first = post("/v1/chat/completions", body, 200);
  const auto& choice = first["choices"][0];
  ASSERT_EQ(choice["finish_reason"], "tool_calls") << first.dump();
  const auto& msg = choice["message"];
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_TRUE(msg["content"].is_null());
  ASSERT_EQ(msg["tool_calls"].size(), 1u) << first.dump();
  const auto& call = msg["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  ASSERT_TRUE(call["id"].is_string());
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call["function"]["name"], "package_info");
  ASSERT_TRUE(call["function"]["arguments"].is_string());
  expect_valid_package_info(call["function"]["arguments"]);

  // The result goes back: the assistant's call as it came, then the tool's answer; the model answers in text.
  auto second_with = [&](const std::string& result) {
    json msgs = user("Which section is apt in?");
    msgs.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", msg["tool_calls"]}});
    msgs.push_back({{"role", "tool"}, {"tool_call_id", call["id"]}, {"content", result}});
    return post("/v1/chat/completions",
                {{"messages", msgs}, {"tools", {kTool, kOther}}, {"tool_choice", "none"}, {"max_tokens", 8},
                 {"temperature", 0}}, 200);
  };
  const auto second = second_with("{\"section\": \"admin\", \"note\": \"the package manager of Debian\"}");
  EXPECT_NE(second["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_TRUE(second["choices"][0]["message"]["content"].is_string()) << second.dump();
  EXPECT_FALSE(second["choices"][0]["message"].contains("tool_calls"));
  // The tool's answer is in the prompt: a longer answer is more prompt tokens.
  EXPECT_GT(second["usage"]["prompt_tokens"].get<int>(), second_with("")["usage"]["prompt_tokens"].get<int>());
}

TEST_F(AssistantTest, RequiredToolChoiceCallsOneOfTheTools) {
  start();
  const auto j = post("/v1/chat/completions",
                      {{"messages", user("count the packages")}, {"tools", {kTool, kOther}}, {"tool_choice", "required"},
                       {"parallel_tool_calls", false}, {"max_tokens", 200}, {"temperature", 0}},
                      200);
  ASSERT_EQ(j["choices"][0]["finish_reason"], "tool_calls") << j.dump();
  const auto& calls = j["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 1u);
  const std::string name = calls[0]["function"]["name"];
  if (name == "package_info") {
    expect_valid_package_info(calls[0]["function"]["arguments"]);
  } else {
    ASSERT_EQ(name, "count_rows");
    const json a = json::parse(calls[0]["function"]["arguments"].get<std::string>());
    EXPECT_TRUE(a["table"] == "packages" || a["table"] == "files") << a.dump();
  }
}

TEST_F(AssistantTest, StreamedToolCallsComeAsDeltas) {
  start();
  const json body{{"messages", user("look up apt")}, {"tools", {kTool}},
                  {"tool_choice", {{"type", "function"}, {"function", {{"name", "package_info"}}}}},
                  {"max_tokens", 200}, {"temperature", 0}, {"stream", true}};
  auto r = cli->Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  bool done = false;
  const auto ev = events(r->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(ev.size(), 3u) << r->body;
  EXPECT_EQ(ev.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(ev.back()["choices"][0]["finish_reason"], "tool_calls") << r->body;
  std::string arguments, name, id;
  int argument_deltas = 0;
  for (std::size_t i = 1; i + 1 < ev.size(); ++i) {
    const auto& d = ev[i]["choices"][0]["delta"];
    EXPECT_FALSE(d.contains("content")) << ev[i].dump();
    ASSERT_TRUE(d.contains("tool_calls")) << ev[i].dump();
    const auto& tc = d["tool_calls"][0];
    EXPECT_EQ(tc["index"], 0);
    if (i == 1) {  // the call opens with its id, type and name, and no arguments yet
      EXPECT_TRUE(tc.contains("id") && tc["type"] == "function" && tc["function"]["arguments"] == "") << ev[i].dump();
    }
    if (tc.contains("id")) id = tc["id"];
    if (tc.contains("function") && tc["function"].contains("name")) name = tc["function"]["name"];
    if (tc.contains("function") && tc["function"].contains("arguments") && tc["function"]["arguments"] != "") {
      arguments += tc["function"]["arguments"];
      ++argument_deltas;
    }
  }
  EXPECT_EQ(id.rfind("call_", 0), 0u);
  EXPECT_EQ(name, "package_info");
  EXPECT_GT(argument_deltas, 1) << "the arguments stream as they are generated (a grammar-forced call)";
  expect_valid_package_info(arguments);
}

TEST_F(AssistantTest, ToolRequestMistakesAre400NamingTheField) {
  start();
  auto bad = [&](json body, const char* param) {
    if (!body.contains("messages")) body["messages"] = user("x");
    const auto e = post("/v1/chat/completions", body, 400);
    EXPECT_EQ(e["error"]["param"], param) << body.dump() << " -> " << e.dump();
    EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  };
  bad({{"tools", "all"}}, "tools");
  bad({{"tools", {{{"type", "function"}, {"function", {{"description", "no name"}}}}}}}, "tools");
  bad({{"tools", {{{"type", "function"}, {"function", {{"name", "has space"}}}}}}}, "tools");
  bad({{"tools", {kTool, kTool}}}, "tools");
  json pattern = kTool;
  pattern["function"]["parameters"]["properties"]["name"]["pattern"] = "^a";
  bad({{"tools", {pattern}}, {"tool_choice", "required"}}, "tools");
  bad({{"tools", {kTool}}, {"tool_choice", "sometimes"}}, "tool_choice");
  bad({{"tools", {kTool}}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}}, "tool_choice");
  bad({{"tool_choice", "required"}}, "tool_choice");
  bad({{"tools", {kTool}}, {"tool_choice", "required"}, {"response_format", {{"type", "json_object"}}}},
      "response_format");
  bad({{"messages", {{{"role", "user"}, {"content", "x"}}, {{"role", "tool"}, {"tool_call_id", "call_9"}, {"content", "r"}}}}},
      "messages");
  bad({{"messages", {{{"role", "tool"}, {"content", "r"}}}}}, "messages");
  bad({{"messages", {{{"role", "wizard"}, {"content", "r"}}}}}, "messages");
  bad({{"messages", {{{"role", "assistant"}, {"tool_calls", {{{"id", "c"}}}}}}}}, "messages");
  // Text parts and the developer role are accepted; tools with tool_choice none are only a listing.
  post("/v1/chat/completions",
       {{"messages", {{{"role", "developer"}, {"content", "be brief"}},
                      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hi"}}}}}}},
        {"tools", {kTool}}, {"tool_choice", "none"}, {"max_tokens", 2}}, 200);
}

TEST_F(AssistantTest, LogprobsHaveOpenAIsShapeStreamedAndNot) {
  start();
  const int top = 1 + static_cast<int>(std::random_device{}() % 5);
  const json body{{"messages", user("list packages")}, {"max_tokens", 6}, {"temperature", 0}, {"ignore_eos", true},
                  {"logprobs", true}, {"top_logprobs", top}};
  const auto j = post("/v1/chat/completions", body, 200);
  const auto& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 6u) << j.dump();
  for (const auto& t : content) {
    ASSERT_TRUE(t["token"].is_string() && t["logprob"].is_number() && t["bytes"].is_array()) << t.dump();
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    ASSERT_EQ(t["top_logprobs"].size(), static_cast<std::size_t>(top));
    double mass = 0;
    for (const auto& a : t["top_logprobs"]) {
      ASSERT_TRUE(a["token"].is_string() && a["logprob"].is_number() && a["bytes"].is_array()) << a.dump();
      mass += std::exp(a["logprob"].get<double>());
    }
    EXPECT_LE(mass, 1.0 + 1e-4);
    // Greedy: the sampled token is the most likely one.
    EXPECT_EQ(t["top_logprobs"][0]["bytes"], t["bytes"]);
    EXPECT_EQ(t["top_logprobs"][0]["logprob"], t["logprob"]);
  }
  // The same greedy answer streamed: the same tokens' logprobs, spread over the content chunks.
  json s = body;
  s["stream"] = true;
  auto r = cli->Post("/v1/chat/completions", s.dump(), "application/json");
  ASSERT_TRUE(r);
  bool done = false;
  json streamed = json::array();
  for (const auto& ev : events(r->body, &done)) {
    const auto& c = ev["choices"][0];
    ASSERT_TRUE(c.contains("logprobs")) << ev.dump();
    if (!c["logprobs"].is_null())
      for (const auto& t : c["logprobs"]["content"]) streamed.push_back(t);
  }
  ASSERT_EQ(streamed.size(), content.size()) << r->body;
  for (std::size_t i = 0; i < streamed.size(); ++i) EXPECT_EQ(streamed[i]["bytes"], content[i]["bytes"]);
  // Without logprobs the field is null; mistakes are 400s naming the field.
  EXPECT_TRUE(post("/v1/chat/completions", {{"messages", user("x")}, {"max_tokens", 2}}, 200)["choices"][0]["logprobs"].is_null());
  for (const json& b : {json{{"logprobs", true}, {"top_logprobs", 21}}, json{{"logprobs", true}, {"top_logprobs", -1}},
                        json{{"top_logprobs", 2}}, json{{"logprobs", false}, {"top_logprobs", 2}}, json{{"logprobs", "yes"}}}) {
    json bb = b;
    bb["messages"] = user("x");
    const auto e = post("/v1/chat/completions", bb, 400);
    EXPECT_EQ(e["error"]["param"], b.contains("top_logprobs") ? "top_logprobs" : "logprobs") << bb.dump();
  }
}

}  // namespace
