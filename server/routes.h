// Route sets that other layers add to the Server.
//
//   ut::server::Server srv(engine, {});
//   srv.add_routes([&](httplib::Server& h) { ut::server::add_openai_routes(h, assistant); });
//   srv.add_routes([&](httplib::Server& h) { ut::server::add_api_routes(h, assistant, {.allow_sql_writes = false}); });
//
// OpenAI-compatible: POST /v1/chat/completions (stream true: server-sent events), POST /v1/embeddings,
// GET /v1/models; chat also takes llama-server's "ignore_eos" (generate max_tokens whatever the model says).
// Native: POST /api/v1/sql, /api/v1/docs (GET list, POST create, GET/PUT/DELETE /{id},
// POST /api/v1/docs/search). Bad requests get 4xx with {"error": {"message", "type"}}; a full engine answers
// 429 "busy"; a client that disconnects mid-stream cancels its generation.
#pragma once

namespace httplib {
class Server;
}

namespace ut::engine {
class Assistant;
}

namespace ut::server {

void add_openai_routes(httplib::Server& http, engine::Assistant& assistant);

struct ApiOptions {
  bool allow_sql_writes = false;  // SQL over HTTP is read-only unless the operator allows writes
};
void add_api_routes(httplib::Server& http, engine::Assistant& assistant, ApiOptions options = {});

}  // namespace ut::server
