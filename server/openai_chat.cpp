#include "server/openai_chat.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>

#include "workloads/ml/json_grammar.h"

namespace ut::server {
namespace {

using nlohmann::json;

bool valid_name(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

json parse_function(const json& tool, std::size_t i) {
  const std::string at = "tools[" + std::to_string(i) + "]";
  if (!tool.is_object()) throw BadRequest(at + " must be an object", "tools");
  if (tool.value("type", "function") != "function")
    throw BadRequest(at + ".type must be 'function'", "tools");
  const json f = tool.value("function", json());
  if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
    throw BadRequest(at + ".function needs a string 'name'", "tools");
  const std::string name = f["name"];
  if (!valid_name(name)) throw BadRequest(at + ".function.name must be 1-64 of a-z, A-Z, 0-9, _ and -", "tools");
  json params = f.contains("parameters") && !f["parameters"].is_null() ? f["parameters"]
                                                                         : json{{"type", "object"}, {"properties", json::object()}};
  if (!params.is_object()) throw BadRequest(at + ".function.parameters must be a JSON Schema object", "tools");
  if (f.contains("description") && !f["description"].is_string())
    throw BadRequest(at + ".function.description must be a string", "tools");
  return {{"name", name}, {"description", f.value("description", "")}, {"parameters", params}};
}

void parse_choice(const json& body, ChatTools& t) {
  const json c = body.value("tool_choice", json());
  if (c.is_null()) {
    t.choice = t.functions.empty() ? "none" : "auto";
  } else if (c.is_string()) {
    t.choice = c;
    if (t.choice != "none" && t.choice != "auto" && t.choice != "required")
      throw BadRequest("tool_choice must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": "
                       "{\"name\": ...}}", "tool_choice");
  } else if (c.is_object() && c.value("type", "") == "function" && c.contains("function") &&
             c["function"].is_object() && c["function"].contains("name") && c["function"]["name"].is_string()) {
    t.choice = "function";
    t.named = c["function"]["name"];
    const bool known = std::any_of(t.functions.begin(), t.functions.end(),
                                   [&](const json& f) { return f["name"] == t.named; });
    if (!known) throw BadRequest("tool_choice names '" + t.named + "', which is not in tools", "tool_choice");
  } else {
    throw BadRequest("tool_choice must be a string or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                     "tool_choice");
  }
  if (t.choice != "none" && t.functions.empty())
    throw BadRequest("tool_choice '" + t.choice + "' needs tools", "tool_choice");
}

// The system section that shows the model its tools and the answer format (llama.cpp's generic format).
std::string tools_prompt(const ChatTools& t) {
  json list = json::array();
  for (const auto& f : t.functions)
    if (t.choice != "function" || f["name"] == t.named) list.push_back(f);
  std::string s = "You can call these tools (each with the JSON Schema of its arguments):\n" + list.dump(2) +
                  "\nTo call tools, reply with only a JSON object {\"tool_calls\": [{\"name\": \"<tool name>\", "
                  "\"arguments\": {<arguments>}}]}.";
  if (t.choice == "auto") s += " To answer directly, reply with {\"response\": \"<your answer>\"}.";
  if (t.choice == "required") s += " Call at least one tool.";
  if (t.choice == "function") s += " Call the tool '" + t.named + "'.";
  return s;
}

// A message's content: a string, text parts [{"type": "text", "text": ...}], or null where allowed.
std::string content_text(const json& m, const std::string& at, bool may_be_null) {
  const json c = m.value("content", json());
  if (c.is_string()) return c;
  if (c.is_null() && may_be_null) return "";
  if (c.is_array()) {
    std::string out;
    for (const auto& p : c) {
      if (!p.is_object() || p.value("type", "") != "text" || !p.contains("text") || !p["text"].is_string())
        throw BadRequest(at + ".content parts must be {\"type\": \"text\", \"text\": \"...\"} (only text is "
                         "supported)", "messages");
      out += p["text"].get<std::string>();
    }
    return out;
  }
  throw BadRequest(at + " needs string 'content'", "messages");
}

// An assistant message's tool_calls as the JSON the model is asked to write; records id -> name.
std::string render_tool_calls(const json& calls, const std::string& at, std::map<std::string, std::string>& names) {
  if (!calls.is_array() || calls.empty()) throw BadRequest(at + ".tool_calls must be a non-empty array", "messages");
  json out = json::array();
  for (const auto& c : calls) {
    const json f = c.is_object() ? c.value("function", json()) : json();
    if (!c.contains("id") || !c["id"].is_string() || !f.is_object() || !f.contains("name") || !f["name"].is_string() ||
        !f.contains("arguments") || !f["arguments"].is_string())
      throw BadRequest(at + ".tool_calls entries need 'id' and 'function' with string 'name' and 'arguments'",
                       "messages");
    names[c["id"]] = f["name"];
    // arguments is JSON text; shown to the model as the object it would write (kept as text if it does not parse).
    json args = json::parse(f["arguments"].get<std::string>(), nullptr, false);
    out.push_back({{"name", f["name"]}, {"arguments", args.is_discarded() ? f["arguments"] : args}});
  }
  return json{{"tool_calls", out}}.dump();
}


std::string utf8_trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

ChatTools parse_tools(const json& body) {
  ChatTools t;
  const json tools = body.value("tools", json());
  if (!tools.is_null()) {
    if (!tools.is_array()) throw BadRequest("'tools' must be an array of function tools", "tools");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < tools.size(); ++i) {
      json f = parse_function(tools[i], i);
      if (!seen.insert(f["name"].get<std::string>()).second)
        throw BadRequest("two tools are named '" + f["name"].get<std::string>() + "'", "tools");
      t.functions.push_back(std::move(f));
    }
  }
  parse_choice(body, t);
  if (body.contains("parallel_tool_calls") && !body["parallel_tool_calls"].is_null()) {
    if (!body["parallel_tool_calls"].is_boolean()) throw BadRequest("parallel_tool_calls must be a boolean", "parallel_tool_calls");
    t.parallel = body["parallel_tool_calls"];
  }
  if (t.choice == "required" || t.choice == "function") {
    std::vector<std::pair<std::string, json>> allowed;
    for (const auto& f : t.functions)
      if (t.choice == "required" || f["name"] == t.named) allowed.emplace_back(f["name"], f["parameters"]);
    try {
      t.grammar = ml::json_tool_calls_grammar(allowed, t.choice == "function" || !t.parallel);
    } catch (const UsageError& e) {
      throw BadRequest(std::string("tools: ") + e.what(), "tools");
    }
  }
  return t;
}

std::vector<ml::ChatMessage> parse_messages(const json& msgs, const ChatTools& tools) {
  if (!msgs.is_array() || msgs.empty()) throw BadRequest("'messages' must be a non-empty array", "messages");
  std::vector<ml::ChatMessage> out;
  std::map<std::string, std::string> call_names;  // tool_call_id -> function name, from assistant messages
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw BadRequest(at + " needs string 'role' and 'content'", "messages");
    const std::string role = m["role"];
    if (role == "system" || role == "developer" || role == "user") {
      out.push_back({role == "developer" ? "system" : role, content_text(m, at, false)});
    } else if (role == "assistant") {
      const bool calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
      out.push_back({"assistant", calls ? render_tool_calls(m["tool_calls"], at, call_names) : content_text(m, at, false)});
    } else if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())
        throw BadRequest(at + " (role tool) needs a string 'tool_call_id'", "messages");
      const std::string id = m["tool_call_id"];
      const auto name = call_names.find(id);
      if (name == call_names.end())
        throw BadRequest(at + ": tool_call_id '" + id + "' answers no tool call of an earlier assistant message",
                         "messages");
      const json response{{"tool_response", {{"tool_call_id", id}, {"name", name->second},
                                              {"content", content_text(m, at, false)}}}};
      out.push_back({"user", response.dump()});
    } else {
      throw BadRequest("unknown role '" + role + "'", "messages");
    }
  }
  if (tools.active()) {
    if (out.front().role == "system") out.front().content += "\n\n" + tools_prompt(tools);
    else out.insert(out.begin(), {"system", tools_prompt(tools)});
  }
  return out;
}

void parse_logprobs(const json& body, ml::GenerateOptions& gen) {
  const json lp = body.value("logprobs", json()), top = body.value("top_logprobs", json());
  if (!lp.is_null() && !lp.is_boolean()) throw BadRequest("logprobs must be a boolean", "logprobs");
  gen.logprobs = lp.is_boolean() && lp.get<bool>();
  if (top.is_null()) return;
  if (!top.is_number_integer() || top.get<long long>() < 0 || top.get<long long>() > 20)
    throw BadRequest("top_logprobs must be an integer in 0..20", "top_logprobs");
  if (!gen.logprobs) throw BadRequest("top_logprobs needs logprobs: true", "top_logprobs");
  gen.top_logprobs = top.get<int>();
}

std::string new_call_id() {
  static std::atomic<uint64_t> n{1};
  const auto t = std::chrono::system_clock::now().time_since_epoch().count();
  return "call_" + std::to_string(static_cast<uint64_t>(t) % 1000000007ULL) + "_" + std::to_string(n++);
}

namespace {

// A reader of the fixed tool-call shape over text that may end anywhere: each step returns false when the text
// ends (or does not match) before the thing it reads is complete.
struct CallScanner {
  std::string_view t;
  std::size_t i = 0;
  void ws() {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r')) ++i;
  }
  bool lit(char c) {
    ws();
    if (i >= t.size() || t[i] != c) return false;
    ++i;
    return true;
  }
  // A JSON string; *out gets its decoded value when it is complete.
  bool str(std::string* out) {
    ws();
    if (i >= t.size() || t[i] != '"') return false;
    for (std::size_t k = i + 1; k < t.size(); ++k) {
      if (t[k] == '\\') {
        ++k;
        continue;
      }
      if (t[k] == '"') {
        const json v = json::parse(t.substr(i, k + 1 - i), nullptr, false);
        if (v.is_discarded()) return false;
        if (out) *out = v.get<std::string>();
        i = k + 1;
        return true;
      }
    }
    return false;
  }
  // Any JSON value from here: its end, or npos when the text ends inside it.
  std::size_t value_end() {
    ws();
    int depth = 0;
    bool in_str = false;
    for (std::size_t k = i; k < t.size(); ++k) {
      const char c = t[k];
      if (in_str) {
        if (c == '\\') ++k;
        else if (c == '"') {
          in_str = false;
          if (depth == 0) return k + 1;
        }
      } else if (c == '"') {
        in_str = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return k + 1;
        if (depth < 0) return k;  // a scalar ended by its container's close
      } else if (depth == 0 && (c == ',' || c == ' ' || c == '\n')) {
        return k;  // a scalar's end
      }
    }
    return std::string_view::npos;
  }
};

}  // namespace

std::vector<PartialToolCall> scan_tool_calls(std::string_view text) {
  std::vector<PartialToolCall> calls;
  CallScanner s{text};
  std::string key;
  if (!s.lit('{') || !s.str(&key) || key != "tool_calls" || !s.lit(':') || !s.lit('[')) return calls;
  for (;;) {
    PartialToolCall c;
    if (!s.lit('{') || !s.str(&key) || key != "name" || !s.lit(':') || !s.str(&c.name)) return calls;
    if (!s.lit(',') || !s.str(&key) || key != "arguments" || !s.lit(':')) {
      calls.push_back(std::move(c));
      return calls;
    }
    s.ws();
    const std::size_t start = s.i, end = s.value_end();
    const bool complete = end != std::string_view::npos;
    c.arguments_complete = complete;
    c.arguments = std::string(text.substr(start, complete ? end - start : std::string_view::npos));
    calls.push_back(std::move(c));
    if (!complete) return calls;
    s.i = end;
    if (!s.lit('}') || !s.lit(',')) return calls;
  }
}

ParsedAnswer parse_answer(const std::string& text, const ChatTools& tools) {
  ParsedAnswer a;
  a.content = text;
  if (!tools.active()) return a;
  const json j = json::parse(utf8_trim(text), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return a;  // free text: the answer as it is
  if (j.contains("tool_calls") && j["tool_calls"].is_array() && !j["tool_calls"].empty()) {
    json calls = json::array();
    for (const auto& c : j["tool_calls"]) {
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string() || !c.contains("arguments")) return a;
      const bool known = std::any_of(tools.functions.begin(), tools.functions.end(),
                                     [&](const json& f) { return f["name"] == c["name"]; });
      if (!known) return a;  // a call of a tool the request does not have is not a call
      const json& args = c["arguments"];
      calls.push_back({{"id", new_call_id()}, {"type", "function"},
                       {"function", {{"name", c["name"]}, {"arguments", args.is_string() ? args.get<std::string>() : args.dump()}}}});
    }
    a.content.reset();
    a.tool_calls = std::move(calls);
  } else if (j.size() == 1 && j.contains("response")) {
    a.content = j["response"].is_string() ? j["response"].get<std::string>() : j["response"].dump();
  }
  return a;
}

json logprobs_json(const std::vector<ml::TokenLogprob>& lps) {
  auto bytes = [](const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back(static_cast<int>(c));
    return b;
  };
  json content = json::array();
  for (const auto& lp : lps) {
    json top = json::array();
    for (const auto& t : lp.top) top.push_back({{"token", t.piece}, {"logprob", t.logprob}, {"bytes", bytes(t.piece)}});
    content.push_back({{"token", lp.piece}, {"logprob", lp.logprob}, {"bytes", bytes(lp.piece)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

}  // namespace ut::server
