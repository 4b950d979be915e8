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
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace ut::ml {

std::string json_object_grammar();
std::string json_schema_grammar(const nlohmann::json& schema);

}  // namespace ut::ml
