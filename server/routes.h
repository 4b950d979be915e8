// Route sets that other layers add to the Server.
//
//   ut::engine::Runtime rt({.db_path = "ut-engine.duckdb"});
//   ut::server::Server srv(rt.engine(), {});
//   srv.add_routes([&](httplib::Server& h) { ut::server::add_openai_routes(h, rt.assistant()); });
//   srv.add_routes([&](httplib::Server& h) { ut::server::add_api_routes(h, rt, {.allow_sql_writes = false}); });
//
// OpenAI-compatible: POST /v1/chat/completions (stream true: server-sent events), POST /v1/embeddings,
// GET /v1/models (short ids, a description, aliases such as "default"); chat also takes llama-server's "ignore_eos" (generate max_tokens whatever the model says).
// Native: POST /api/v1/sql (through the data path: planner, kernels or DuckDB; the reply names the engine and
// its reason, the E_data value and the queue; timeout_ms cancels a long query: 408), GET /api/v1/guards,
// /api/v1/docs (GET list, POST create, GET/PUT/DELETE /{id},
// POST /api/v1/docs/search). Bad requests get 4xx with {"error": {"message", "type"}}; a full engine answers
// 429 "busy"; a client that disconnects mid-stream cancels its generation.
#pragma once

#include <string>

namespace httplib {
class Server;
}

namespace ut::engine {
class Assistant;
class Runtime;
}

namespace ut::server {

// The ids /v1/models lists and requests name ("debian-tinyllama"; `ut serve --chat-model NAME=PATH` sets them).
// Empty: from the loaded model's general.name (ml::model_name_of). Requests may also name a model "default",
// or by its full general.name; any other name is a 404 model_not_found.
struct OpenAiOptions {
  std::string chat_model_id, embed_model_id;
};
void add_openai_routes(httplib::Server& http, engine::Assistant& assistant, OpenAiOptions options = {});

struct ApiOptions {
  bool allow_sql_writes = false;  // SQL over HTTP is read-only unless the operator allows writes
};
void add_api_routes(httplib::Server& http, engine::Runtime& runtime, ApiOptions options = {});

}  // namespace ut::server
