// Native endpoints: SQL through the engine's data path, documents CRUD + search, the guards.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "engine/runtime.h"
#include "timeline/error.h"
#include "server/routes.h"
#include "server/server.h"
#include "workloads/data/result.h"

namespace ut::server {
namespace {

using nlohmann::json;

json cell(const data::Column& c, std::size_t row) {
  if (c.is_null(row)) return nullptr;
  switch (c.physical()) {
    case data::Physical::i64:
      if (c.type == data::TypeId::boolean) return c.i64[row] != 0;
      if (data::is_integer(c.type)) return c.i64[row];
      return c.text(row);  // dates and timestamps as DuckDB prints them
    case data::Physical::f64: return c.f64[row];
    default: return c.text(row);
  }
}

std::optional<uint64_t> doc_id(const httplib::Request& req, httplib::Response& res) {
  try {
    return std::stoull(req.matches[1].str());
  } catch (...) {
    send_error(res, 400, "document id must be a number");
    return std::nullopt;
  }
}

// POST /api/v1/sql: through the data path (planner, kernels or DuckDB, the data queue, E_data), with a timeout.
void add_sql_route(httplib::Server& http, engine::Runtime& rt, ApiOptions options) {
  route(http, "POST", "/api/v1/sql", [&rt, options](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_object(req, res);
    if (!body) return;
    if (!body->contains("sql") || !(*body)["sql"].is_string()) return send_error(res, 400, "'sql' must be a string");
    const json& b = *body;
    if (b.contains("write") && !b["write"].is_boolean()) return send_error(res, 400, "'write' must be a boolean");
    for (const char* k : {"max_rows", "timeout_ms"})
      if (b.contains(k) && !b[k].is_number_integer()) return send_error(res, 400, std::string("'") + k + "' must be an integer");
    if (b.contains("kernel") && !b["kernel"].is_string()) return send_error(res, 400, "'kernel' must be auto, on or off");
    const bool write = b.value("write", false);
    if (write && !options.allow_sql_writes) {
      return send_error(res, 403, "SQL writes over HTTP are disabled (start the server with --allow-sql-writes)",
                        "permission_error");
    }
    const int64_t max_rows = b.value("max_rows", int64_t{1000});
    const int64_t timeout_ms = b.value("timeout_ms", int64_t{30000});
    if (max_rows < 0) return send_error(res, 400, "'max_rows' must be >= 0");
    if (timeout_ms < 1 || timeout_ms > 3'600'000) return send_error(res, 400, "'timeout_ms' must be in 1..3600000");
    engine::SqlRequest r{.sql = b["sql"].get<std::string>(), .write = write,
                         .timeout = std::chrono::milliseconds(timeout_ms)};
    try {
      r.kernel = engine::parse_kernel_mode(b.value("kernel", std::string("auto")));
    } catch (const UsageError&) {
      return send_error(res, 400, "'kernel' must be auto, on or off");
    }
    const auto t0 = std::chrono::steady_clock::now();
    try {
      const data::QueryTicket t = rt.data().submit(r);
      const data::Result result = t.get();
      json cols = json::array(), rows = json::array();
      for (auto& c : result.columns) cols.push_back({{"name", c.name}, {"type", c.type_name()}});
      for (std::size_t i = 0; i < result.rows() && static_cast<int64_t>(i) < max_rows; ++i) {
        json row = json::array();
        for (auto& c : result.columns) row.push_back(cell(c, i));
        rows.push_back(std::move(row));
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      res.set_content(json{{"columns", cols}, {"rows", rows}, {"row_count", result.rows()},
                           {"truncated", static_cast<int64_t>(result.rows()) > max_rows},
                           {"engine", t.slot->engine}, {"e_data", t.value}, {"ms", ms},
                           {"queue", rt.data().queue()->label()}}
                          .dump(-1, ' ', false, json::error_handler_t::replace),  // data may hold invalid UTF-8
                      "application/json");
    } catch (const data::QueryTimeout&) {
      send_error(res, 408, "the query ran past its timeout_ms (" + std::to_string(timeout_ms) + " ms) and was cancelled",
                 "timeout");
    } catch (const data::QueryCancelled&) {
      send_error(res, 409, "the query was cancelled", "cancelled");
    } catch (const data::DataError& e) {
      send_error(res, 400, e.message(), "sql_error");
    }
  });
}

}  // namespace

void add_api_routes(httplib::Server& http, engine::Runtime& rt, ApiOptions options) {
  engine::Assistant& ai = rt.assistant();
  add_sql_route(http, rt, options);
  route(http, "GET", "/api/v1/guards", [&rt](const httplib::Request&, httplib::Response& res) {
    res.set_content(rt.guards().dump(), "application/json");
  });

  route(http, "GET", "/api/v1/docs", [&ai](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (auto& d : ai.docs()->list())
      out.push_back({{"id", d.id}, {"title", d.title}, {"source", d.source.empty() ? json(nullptr) : json(d.source)},
                     {"version", d.version}, {"chunks", d.chunks}, {"embedded", d.embedded}, {"pending", d.pending},
                     {"failed", d.failed}});
    res.set_content(json{{"documents", out}}.dump(), "application/json");
  });
  route(http, "POST", "/api/v1/docs", [&ai](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_object(req, res);
    if (!body) return;
    if (!body->contains("title") || !(*body)["title"].is_string() || !body->contains("body") || !(*body)["body"].is_string())
      return send_error(res, 400, "'title' and 'body' must be strings");
    if (body->contains("source") && !(*body)["source"].is_string() && !(*body)["source"].is_null())
      return send_error(res, 400, "'source' must be a string");
    if ((*body)["title"].get<std::string>().empty()) return send_error(res, 400, "'title' must not be empty");
    const std::string source = body->contains("source") && (*body)["source"].is_string() ? (*body)["source"] : "";
    const auto id = ai.docs()->create((*body)["title"], (*body)["body"], source);
    ai.schedule_indexing();
    res.status = 201;
    res.set_content(json{{"id", id}}.dump(), "application/json");
  });
  route(http, "GET", "/api/v1/docs/{id}", [&ai](const httplib::Request& req, httplib::Response& res) {
    auto id = doc_id(req, res);
    if (!id) return;
    auto body = ai.docs()->body(*id);
    const auto info = ai.docs()->info(*id);
    if (!body || !info) return send_error(res, 404, "no document " + std::to_string(*id), "not_found");
    json chunks = json::array();
    for (auto& c : ai.docs()->chunks(*id)) chunks.push_back({{"id", c.id}, {"ord", c.ord}, {"state", vector::to_string(c.state)}});
    res.set_content(json{{"id", *id}, {"title", info->title},
                         {"source", info->source.empty() ? json(nullptr) : json(info->source)},
                         {"version", info->version}, {"body", *body}, {"chunks", chunks}}
                        .dump(-1, ' ', false, json::error_handler_t::replace),
                    "application/json");
  });
  route(http, "PUT", "/api/v1/docs/{id}", [&ai](const httplib::Request& req, httplib::Response& res) {
    auto id = doc_id(req, res);
    if (!id) return;
    auto body = parse_json_object(req, res);
    if (!body) return;
    if (!body->contains("body") || !(*body)["body"].is_string()) return send_error(res, 400, "'body' must be a string");
    if (!ai.docs()->body(*id)) return send_error(res, 404, "no document " + std::to_string(*id), "not_found");
    ai.docs()->update(*id, (*body)["body"]);
    ai.schedule_indexing();
    res.set_content(json{{"id", *id}}.dump(), "application/json");
  });
  route(http, "DELETE", "/api/v1/docs/{id}", [&ai](const httplib::Request& req, httplib::Response& res) {
    auto id = doc_id(req, res);
    if (!id) return;
    if (!ai.docs()->remove(*id)) return send_error(res, 404, "no document " + std::to_string(*id), "not_found");
    res.status = 204;
  });
  route(http, "POST", "/api/v1/docs/search", [&ai](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_object(req, res);
    if (!body) return;
    if (!body->contains("query") || !(*body)["query"].is_string()) return send_error(res, 400, "'query' must be a string");
    if (!ai.can_embed()) return send_error(res, 409, "no embedding model is loaded", "unavailable");
    const int k = body->value("k", 5);
    if (k < 1 || k > 100) return send_error(res, 400, "k must be in 1..100");
    auto q = ai.embed({(*body)["query"].get<std::string>()});
    json hits = json::array();
    for (auto& h : ai.docs()->search(q.row(0), static_cast<std::size_t>(k)))
      hits.push_back({{"doc_id", h.doc_id}, {"title", h.title}, {"chunk", h.ord}, {"score", h.score}, {"text", h.text}});
    res.set_content(json{{"hits", hits}}.dump(), "application/json");
  });
}

}  // namespace ut::server
