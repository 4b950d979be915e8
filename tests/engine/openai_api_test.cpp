// The OpenAI request fields apps send beyond the basics, end to end over HTTP with the tiny synthetic models:
// stream_options.include_usage, unknown fields, penalties and response_format (tools and logprobs:
// openai_tools_test.cpp).
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
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

// Base64 as RFC 4648 defines it, written here rather than taken from the server's encoder.
std::vector<unsigned char> from_base64(const std::string& s) {
  const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const auto v = abc.find(c);
    if (v == std::string::npos) throw std::runtime_error("not base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// encoding_format base64 (what OpenAI's official clients ask for by default): each vector's float32 values, little
// endian, the same values the float format sends.
TEST_F(AssistantTest, EmbeddingsAsBase64AreTheSameFloats) {
  start();
  const json in = {"apt", "queues and events"};
  const auto f = post("/v1/embeddings", {{"input", in}}, 200);
  const auto b = post("/v1/embeddings", {{"input", in}, {"encoding_format", "base64"}}, 200);
  ASSERT_EQ(b["data"].size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto floats = f["data"][i]["embedding"].get<std::vector<float>>();
    const auto bytes = from_base64(b["data"][i]["embedding"].get<std::string>());
    ASSERT_EQ(bytes.size(), floats.size() * 4);
    for (std::size_t k = 0; k < floats.size(); ++k) {
      const uint32_t u = bytes[4 * k] | bytes[4 * k + 1] << 8 | bytes[4 * k + 2] << 16 | uint32_t{bytes[4 * k + 3]} << 24;
      float v;
      std::memcpy(&v, &u, 4);
      ASSERT_EQ(v, floats[k]) << "value " << k << " of vector " << i;
    }
  }
  EXPECT_EQ(post("/v1/embeddings", {{"input", "apt"}, {"encoding_format", "int8"}}, 400)["error"]["param"],
            "encoding_format");
  post("/v1/embeddings", {{"input", "apt"}, {"encoding_format", 5}}, 400);
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

// An independent check of a value against the JSON Schema subset the tests use (type, properties, required,
// additionalProperties false, items, minItems/maxItems, minLength/maxLength, enum). "" when it validates.
std::string violation(const json& v, const json& s, const std::string& at = "$") {
  if (s.contains("enum")) {
    for (const auto& e : s["enum"])
      if (e == v) return "";
    return at + ": " + v.dump() + " is not in the enum";
  }
  if (s.contains("type") && s["type"].is_array()) {
    for (const auto& t : s["type"]) {
      json one = s;
      one["type"] = t;
      if (violation(v, one, at).empty()) return "";
    }
    return at + ": no type of " + s["type"].dump() + " fits " + v.dump();
  }
  const std::string type = s.value("type", "");
  if (type == "string") {
    if (!v.is_string()) return at + ": not a string";
    const auto& str = v.get_ref<const std::string&>();
    const auto chars = std::count_if(str.begin(), str.end(), [](char c) { return (c & 0xC0) != 0x80; });
    if (chars < s.value("minLength", 0) || chars > s.value("maxLength", 1 << 30)) return at + ": length " + std::to_string(chars);
  } else if (type == "integer") {
    if (!v.is_number_integer()) return at + ": not an integer";
  } else if (type == "number") {
    if (!v.is_number()) return at + ": not a number";
  } else if (type == "boolean") {
    if (!v.is_boolean()) return at + ": not a boolean";
  } else if (type == "null") {
    if (!v.is_null()) return at + ": not null";
  } else if (type == "array") {
    if (!v.is_array()) return at + ": not an array";
    if (static_cast<int>(v.size()) < s.value("minItems", 0) || static_cast<int>(v.size()) > s.value("maxItems", 1 << 30))
      return at + ": " + std::to_string(v.size()) + " items";
    for (std::size_t i = 0; i < v.size(); ++i)
      if (auto w = violation(v[i], s["items"], at + "[" + std::to_string(i) + "]"); !w.empty()) return w;
  } else if (type == "object") {
    if (!v.is_object()) return at + ": not an object";
    for (const auto& r : s.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return at + ": misses required " + r.dump();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!s["properties"].contains(it.key())) return at + ": extra property " + it.key();
      if (auto w = violation(it.value(), s["properties"][it.key()], at + "." + it.key()); !w.empty()) return w;
    }
  }
  return "";
}

TEST_F(AssistantTest, JsonSchemaAnswersParseAndValidate) {
  start();
  const json schema = json::parse(R"({"type": "object", "additionalProperties": false,
    "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"},
                   "ok": {"type": "boolean"}, "score": {"type": "number"},
                   "tags": {"type": "array", "items": {"type": "string", "enum": ["apt", "dpkg", "deb"]}, "maxItems": 3},
                   "color": {"enum": ["red", "green", null]}, "note": {"type": ["string", "null"], "maxLength": 5},
                   "inner": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "boolean"}}}},
    "required": ["name", "age", "ok", "tags"]})");
  // Every string, number and list here is bounded, so the grammar always completes well within max_tokens:
  // the answer must end with "stop" and be whole.
  // One greedy and one sampled answer. The random model's drawn token is mostly rejected by the grammar, so
  // most tokens still cost a pass of the grammar over the whole vocabulary: seconds per answer on two cores.
  // max_tokens: what the 1024-token context leaves after the prompt.
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 2; ++i) {
    const json body{{"messages", user("describe a package as JSON")}, {"max_tokens", 900},
                    {"temperature", i == 0 ? 0.0 : 1.0}, {"seed", rng()},
                    {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "pkg"}, {"schema", schema}}}}}};
    const auto j = post("/v1/chat/completions", body, 200);
    const std::string text = j["choices"][0]["message"]["content"];
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop") << text;
    json v;
    ASSERT_NO_THROW(v = json::parse(text)) << text;
    EXPECT_EQ(violation(v, schema), "") << text;
  }
}

TEST_F(AssistantTest, JsonObjectAnswersAreObjectsOrHonestPrefixes) {
  start();
  std::mt19937 rng(std::random_device{}());
  int whole = 0;
  for (int i = 0; i < 2; ++i) {  // short answers: most end at max_tokens, as honest prefixes
    const json body{{"messages", user("answer in JSON")}, {"max_tokens", 32}, {"temperature", 1.0}, {"seed", rng()},
                    {"response_format", {{"type", "json_object"}}}};
    const auto j = post("/v1/chat/completions", body, 200);
    const std::string text = j["choices"][0]["message"]["content"];
    // Any object is allowed, so a random model may nest or run on past max_tokens: then the text must be a
    // prefix of a JSON object (the parser fails only at the end of the input).
    if (j["choices"][0]["finish_reason"] == "stop") {
      json v;
      ASSERT_NO_THROW(v = json::parse(text)) << text;
      EXPECT_TRUE(v.is_object()) << text;
      ++whole;
    } else {
      EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
      ASSERT_FALSE(text.empty());
      EXPECT_EQ(text[0], '{') << text;
      try {
        const json v = json::parse(text);
        ADD_FAILURE() << "a whole object ended with finish_reason length: " << v.dump();
      } catch (const json::parse_error& e) {
        EXPECT_EQ(e.byte, text.size() + 1) << e.what() << "\n" << text;
      }
    }
  }
  RecordProperty("whole_objects", whole);
}

TEST_F(AssistantTest, UnsupportedSchemaFeaturesAre400NamingThem) {
  start();
  auto ask = [&](const json& rf) {
    return post("/v1/chat/completions", {{"messages", user("x")}, {"response_format", rf}}, 400);
  };
  auto e = ask({{"type", "json_schema"}, {"json_schema", {{"schema", {{"type", "string"}, {"pattern", "^a+$"}}}}}});
  EXPECT_NE(e["error"]["message"].get<std::string>().find("'pattern'"), std::string::npos) << e.dump();
  EXPECT_EQ(e["error"]["param"], "response_format");
  e = ask({{"type", "json_schema"}, {"json_schema", {{"schema", {{"$ref", "#/defs/a"}}}}}});
  EXPECT_NE(e["error"]["message"].get<std::string>().find("'$ref'"), std::string::npos) << e.dump();
  ask({{"type", "json_schema"}});
  ask({{"type", "xml"}});
  ask("json");
  post("/v1/chat/completions", {{"messages", user("x")}, {"max_tokens", 2}, {"response_format", {{"type", "text"}}}},
       200);
}

}  // namespace
