// The chat request's messages, tools and logprobs in OpenAI's shapes, and the answer back in them.
//
//   ChatTools tools = parse_tools(body);                       // tools, tool_choice, parallel_tool_calls
//   auto messages = parse_messages(body["messages"], tools);   // roles system/developer/user/assistant/tool
//   gen.grammar = tools.grammar;                               // set for tool_choice required or a named tool
//   ParsedAnswer a = parse_answer(result.text, tools);         // content, or tool_calls for the message
//
// Tools go through the model's own chat template the way llama.cpp's server does for models without a
// tool-call format of their own: a system section lists each function with the JSON Schema of its arguments
// and asks for {"tool_calls": [{"name": ..., "arguments": {...}}]} or {"response": "..."}; tool_choice
// required or a named function constrains the answer with the JSON grammar so it always parses. History in
// OpenAI's shape is rendered as text the model sees in the same format: an assistant message's tool_calls as
// that JSON object, a tool message as a user message {"tool_response": {"tool_call_id", "name", "content"}}.
// Every mistake in the request throws BadRequest naming the field (param), answered as a 400.
#pragma once

#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "timeline/error.h"
#include "workloads/ml/generator.h"

namespace ut::server {

class BadRequest : public UsageError {
 public:
  BadRequest(const std::string& message, std::string p) : UsageError(message), param(std::move(p)) {}
  std::string param;
};

struct ChatTools {
  nlohmann::json functions = nlohmann::json::array();  // [{"name", "description", "parameters"}]
  std::string choice = "none";  // none, auto, required, or "function" (a named one)
  std::string named;            // the function tool_choice names
  bool parallel = true;         // parallel_tool_calls: more than one call per answer
  std::string grammar;          // for required / a named function
  // The model is told about the tools and its answer is read for calls.
  bool active() const { return !functions.empty() && choice != "none"; }
};

ChatTools parse_tools(const nlohmann::json& body);
std::vector<ml::ChatMessage> parse_messages(const nlohmann::json& messages, const ChatTools& tools);
// logprobs (bool) and top_logprobs (0..20, only with logprobs true).
void parse_logprobs(const nlohmann::json& body, ml::GenerateOptions& gen);

struct ParsedAnswer {
  std::optional<std::string> content;  // nullopt when the answer is tool calls
  nlohmann::json tool_calls = nlohmann::json::array();  // [{"id", "type": "function", "function": {"name", "arguments"}}]
};
ParsedAnswer parse_answer(const std::string& text, const ChatTools& tools);

// The tool calls of a grammar-constrained answer (tool_choice required or a named function) as far as `text` has
// come: the grammar fixes the shape {"tool_calls": [{"name": N, "arguments": A}, ...]}, so each call's name is
// known once its string is complete and its arguments' JSON text can be streamed as it grows. Stops at the first
// thing it cannot read yet (or at all).
struct PartialToolCall {
  std::string name;        // complete
  std::string arguments;   // the raw JSON text of the arguments so far
  bool arguments_complete = false;
};
std::vector<PartialToolCall> scan_tool_calls(std::string_view text);
// "call_..." ids, as OpenAI's look.
std::string new_call_id();

// OpenAI's choices[].logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
nlohmann::json logprobs_json(const std::vector<ml::TokenLogprob>& lps);

}  // namespace ut::server
