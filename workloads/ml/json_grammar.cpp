#include "workloads/ml/json_grammar.h"

#include <nlohmann/json.hpp>

#include <set>
#include <utility>
#include <vector>

#include "timeline/error.h"

namespace ut::ml {
namespace {

using nlohmann::json;

// The shared terminals: bounded whitespace and numbers, JSON strings, and a generic value for json_object.
const char* kBase = R"(ws ::= " "?
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char* "\""
integer ::= "-"? ("0" | [1-9] [0-9]{0,15})
number ::= integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?
boolean ::= "true" | "false"
null ::= "null"
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"
array ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
)";

// A GBNF string literal matching exactly `text`.
std::string literal(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      const char* hex = "0123456789ABCDEF";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

class Converter {
 public:
  std::string convert(const json& schema) {
    const std::string root = visit(schema, "#");
    return "root ::= " + root + "\n" + kBase + rules();
  }
  // The expression for one schema; its rules join rules(), named apart from earlier ones.
  std::string expression(const json& schema) { return visit(schema, "#"); }
  std::string rules() const {
    std::string g;
    for (const auto& r : rules_) g += r + "\n";
    return g;
  }

 private:
  std::string rule(const std::string& body) {
    const std::string name = "r" + std::to_string(rules_.size());
    rules_.push_back(name + " ::= " + body);
    return name;
  }

  static int count(const json& s, const char* key, const std::string& at, int fallback) {
    if (!s.contains(key)) return fallback;
    if (!s[key].is_number_integer() || s[key].get<long long>() < 0 || s[key].get<long long>() > 100000)
      throw UsageError("schema: '" + std::string(key) + "' at " + at + " must be a non-negative integer");
    return s[key].get<int>();
  }

  static std::string repeat(const std::string& item, int min, int max) {
    if (max < 0) return "(" + item + ")" + (min == 0 ? "*" : "{" + std::to_string(min) + ",}");
    return "(" + item + "){" + std::to_string(min) + "," + std::to_string(max) + "}";
  }

  std::string visit(const json& s, const std::string& at) {
    if (s.is_boolean() && s.get<bool>()) return "value";
    if (!s.is_object()) throw UsageError("schema: " + at + " is not a schema object");
    static const std::set<std::string> known = {
        "type",     "properties", "required",    "additionalProperties", "items", "minItems", "maxItems",
        "minLength", "maxLength", "enum",        "const",   "anyOf", "oneOf", "title", "description",
        "default",  "examples",   "$schema",     "format",  "strict"};
    for (auto it = s.begin(); it != s.end(); ++it)
      if (!known.count(it.key()))
        throw UsageError("schema: '" + it.key() + "' at " + at + " is not supported (supported: type, properties, "
                         "required, items, minItems, maxItems, minLength, maxLength, enum, const, anyOf, oneOf)");
    if (s.contains("const")) return literal(s["const"].dump());
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) throw UsageError("schema: 'enum' at " + at + " must be a non-empty array");
      std::string alts;
      for (const auto& v : s["enum"]) alts += (alts.empty() ? "" : " | ") + literal(v.dump());
      return rule(alts);
    }
    for (const char* key : {"anyOf", "oneOf"})
      if (s.contains(key)) {
        if (!s[key].is_array() || s[key].empty()) throw UsageError("schema: '" + std::string(key) + "' at " + at + " must be a non-empty array");
        std::string alts;
        for (std::size_t i = 0; i < s[key].size(); ++i)
          alts += (alts.empty() ? "" : " | ") + visit(s[key][i], at + "/" + key + "/" + std::to_string(i));
        return rule(alts);
      }
    if (!s.contains("type")) return "value";
    if (s["type"].is_array()) {
      std::string alts;
      for (const auto& t : s["type"]) {
        json one = s;
        one["type"] = t;
        alts += (alts.empty() ? "" : " | ") + visit(one, at);
      }
      if (alts.empty()) throw UsageError("schema: 'type' at " + at + " is an empty list");
      return rule(alts);
    }
    if (!s["type"].is_string()) throw UsageError("schema: 'type' at " + at + " must be a string or a list");
    const std::string type = s["type"];
    if (type == "string") {
      const int min = count(s, "minLength", at, 0), max = count(s, "maxLength", at, -1);
      if (min == 0 && max < 0) return "string";
      return rule("\"\\\"\" " + repeat("char", min, max) + " \"\\\"\"");
    }
    if (type == "integer" || type == "number" || type == "boolean" || type == "null") return type;
    if (type == "array") return array(s, at);
    if (type == "object") return object(s, at);
    throw UsageError("schema: type '" + type + "' at " + at + " is not a JSON Schema type");
  }

  std::string array(const json& s, const std::string& at) {
    const std::string item = s.contains("items") ? visit(s["items"], at + "/items") : "value";
    const int min = count(s, "minItems", at, 0), max = count(s, "maxItems", at, -1);
    if (max >= 0 && max < min) throw UsageError("schema: maxItems < minItems at " + at);
    if (max == 0) return rule("\"[\" ws \"]\"");
    const std::string more = repeat("ws \",\" ws " + item, std::max(0, min - 1), max < 0 ? -1 : max - 1);
    return rule("\"[\" ws (" + item + " " + more + ")" + (min == 0 ? "?" : "") + " ws \"]\"");
  }

  std::string object(const json& s, const std::string& at) {
    if (!s.contains("properties")) return "object";
    if (!s["properties"].is_object()) throw UsageError("schema: 'properties' at " + at + " must be an object");
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) throw UsageError("schema: 'required' at " + at + " must be an array");
      for (const auto& r : s["required"]) {
        if (!r.is_string() || !s["properties"].contains(r.get<std::string>()))
          throw UsageError("schema: required property " + r.dump() + " at " + at + " is not in 'properties'");
        required.insert(r.get<std::string>());
      }
    }
    std::vector<std::string> req, opt;  // "key": value sequences
    for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
      const std::string kv = literal(json(it.key()).dump()) + " ws \":\" ws " +
                             visit(it.value(), at + "/properties/" + it.key());
      (required.count(it.key()) ? req : opt).push_back(kv);
    }
    std::string body;
    for (const auto& kv : req) body += (body.empty() ? "" : " ws \",\" ws ") + kv;
    if (!req.empty()) {
      for (const auto& kv : opt) body += " (ws \",\" ws " + kv + ")?";
    } else if (!opt.empty()) {
      // No required property: whichever optional one comes first has no comma before it.
      std::string tail;  // optional i+1.. with leading commas
      std::vector<std::string> firsts;
      for (std::size_t i = opt.size(); i-- > 0;) {
        firsts.push_back(opt[i] + tail);
        tail = " (ws \",\" ws " + opt[i] + ")?" + tail;
      }
      std::string alts;
      for (const auto& f : firsts) alts += (alts.empty() ? "" : " | ") + std::string("(") + f + ")";
      body = "(" + alts + ")?";
    }
    return rule("\"{\" ws " + body + " ws \"}\"");
  }

  std::vector<std::string> rules_;
};

}  // namespace

std::string json_object_grammar() { return std::string("root ::= object\n") + kBase; }

std::string json_schema_grammar(const nlohmann::json& schema) { return Converter().convert(schema); }

std::string json_tool_calls_grammar(const std::vector<std::pair<std::string, nlohmann::json>>& tools, bool one_call) {
  if (tools.empty()) throw UsageError("no tools to call");
  Converter c;
  std::string calls;
  for (const auto& [name, parameters] : tools) {
    std::string args;
    try {
      args = c.expression(parameters);
    } catch (const UsageError& e) {
      throw UsageError("tool '" + name + "': " + e.what());
    }
    calls += (calls.empty() ? "" : " | ") + std::string("(\"{\" ws ") + literal("\"name\"") + " ws \":\" ws " +
             literal(json(name).dump()) + " ws \",\" ws " + literal("\"arguments\"") + " ws \":\" ws " + args +
             " ws \"}\")";
  }
  return "root ::= \"{\" ws " + literal("\"tool_calls\"") + " ws \":\" ws \"[\" ws call " +
         (one_call ? "" : "(ws \",\" ws call)* ") + "ws \"]\" ws \"}\"\ncall ::= " + calls + "\n" + kBase + c.rules();
}

}  // namespace ut::ml
