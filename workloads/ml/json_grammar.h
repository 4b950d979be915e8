// JSON grammars for llama.cpp's grammar sampler (GBNF, root rule "root"): any JSON object (OpenAI's
// response_format json_object) or the values a JSON Schema allows (json_schema), for a common subset of
// JSON Schema. llama.cpp's own converter lives in its common library, which the engine does not link.
//
//   std::string g = ut::ml::json_object_grammar();
//   std::string s = ut::ml::json_schema_grammar(nlohmann::json::parse(R"({"type": "object",
//       "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
//       "required": ["name"]})"));
//   GenerateOptions o; o.grammar = s;   // the answer is then a JSON value the schema accepts
//
// Supported: type (string, number, integer, boolean, null, object, array, or a list of them), properties,
// required, additionalProperties (extra properties are never generated), items, minItems, maxItems,
// minLength, maxLength, enum, const, anyOf, oneOf; title, description, default, examples, $schema, format
// (ignored: any string) and strict are accepted. Anything else ($ref, pattern, allOf, minimum, ...) throws
// UsageError naming the keyword and where it is. Integers have at most 16 digits, fractions 16, exponents 2 (every
// number fits an int64 or a double), and whitespace is at most one space between tokens, so that a generation
// always reaches the end.
//
// Tool calls (the chat API's tools with tool_choice required or a named function): json_tool_calls_grammar
// allows only {"tool_calls": [{"name": <one of the tools>, "arguments": <a value its parameters schema allows>},
// ...]} (one call when one_call), the name before the arguments; an unsupported keyword names the tool.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ut::ml {

std::string json_object_grammar();
std::string json_schema_grammar(const nlohmann::json& schema);
std::string json_tool_calls_grammar(const std::vector<std::pair<std::string, nlohmann::json>>& tools, bool one_call);

}  // namespace ut::ml
