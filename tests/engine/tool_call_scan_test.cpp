// scan_tool_calls (server/openai_chat.h) over every prefix of grammar-shaped answers: a call appears only once its
// name is complete, its arguments text only grows and is always a prefix of the final one, and the complete answer
// gives exactly the calls a JSON parser reads.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "server/openai_chat.h"

using nlohmann::json;
using ut::server::scan_tool_calls;

namespace {

void check_every_prefix(const std::string& text) {
  const json whole = json::parse(text);
  const auto& expect = whole["tool_calls"];
  std::vector<std::string> seen_args(expect.size());
  std::size_t seen_calls = 0;
  for (std::size_t n = 0; n <= text.size(); ++n) {
    const auto calls = scan_tool_calls(std::string_view(text).substr(0, n));
    ASSERT_GE(calls.size(), seen_calls) << "calls never disappear (prefix " << n << ")";
    ASSERT_LE(calls.size(), expect.size());
    seen_calls = calls.size();
    for (std::size_t k = 0; k < calls.size(); ++k) {
      EXPECT_EQ(calls[k].name, expect[k]["name"]) << "a name is reported only when complete (prefix " << n << ")";
      const std::string final_args = expect[k]["arguments"].dump();
      EXPECT_EQ(json::parse(calls[k].arguments_complete ? calls[k].arguments : "null", nullptr, false).is_discarded(),
                false);
      EXPECT_GE(calls[k].arguments.size(), seen_args[k].size());
      EXPECT_EQ(calls[k].arguments.compare(0, seen_args[k].size(), seen_args[k]), 0) << "arguments only grow";
      seen_args[k] = calls[k].arguments;
    }
  }
  const auto calls = scan_tool_calls(text);
  ASSERT_EQ(calls.size(), expect.size());
  for (std::size_t k = 0; k < calls.size(); ++k) {
    EXPECT_TRUE(calls[k].arguments_complete);
    EXPECT_EQ(json::parse(calls[k].arguments), expect[k]["arguments"]);
  }
}

TEST(ToolCallScan, EveryPrefixOfGrammarShapedAnswers) {
  check_every_prefix(R"({"tool_calls": [{"name": "package_info", "arguments": {"name": "apt", "deep": {"a": [1, 2]}}}]})");
  check_every_prefix(R"({ "tool_calls" : [ {"name":"a","arguments":{"q":"x \"quoted\" }{ ]["}} , )"
                     R"({"name": "b\u00e9", "arguments": {}} ] })");
  check_every_prefix("{\"tool_calls\": [{\"name\": \"u\", \"arguments\": {\"s\": \"caf\xc3\xa9 \xe2\x82\xac\"}}]}");
}

TEST(ToolCallScan, OtherShapesGiveNoCalls) {
  EXPECT_TRUE(scan_tool_calls("plain text").empty());
  EXPECT_TRUE(scan_tool_calls(R"({"response": "hi"})").empty());
  EXPECT_TRUE(scan_tool_calls(R"({"tool_calls": [{"arguments": {}, "name": "late"}]})").empty());
  EXPECT_TRUE(scan_tool_calls("").empty());
}

}  // namespace
