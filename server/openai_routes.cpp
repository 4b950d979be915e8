// OpenAI-compatible endpoints over the Assistant.
#include <httplib.h>

#include <chrono>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "engine/assistant.h"
#include "server/openai_chat.h"
#include "server/metrics.h"
#include "server/routes.h"
#include "server/server.h"
#include "timeline/error.h"
#include "workloads/docs/document_store.h"
#include "workloads/ml/json_grammar.h"
#include "workloads/ml/model.h"

namespace ut::server {
namespace {

using nlohmann::json;

// Reads an optional field of the given JSON type; throws UsageError naming the field on a wrong type.
template <class T>
T field(const json& j, const char* name, T fallback) {
  if (!j.contains(name) || j[name].is_null()) return fallback;
  try {
    return j[name].get<T>();
  } catch (const json::exception&) {
    throw UsageError(std::string("field '") + name + "' has the wrong type");
  }
}

const char* finish_reason(ml::StopReason r) {
  switch (r) {
    case ml::StopReason::max_tokens:
    case ml::StopReason::context_full: return "length";
    case ml::StopReason::cancelled: return "cancelled";
    default: return "stop";
  }
}

json sources_json(const engine::ChatJob& job) {
  json s = json::array();
  if (!job.rag_ready) return s;
  for (auto& h : job.sources)
    s.push_back({{"document", h.title}, {"doc_id", h.doc_id}, {"chunk", h.ord}, {"score", h.score}});
  return s;
}

// Model output can split a UTF-8 character across tokens (and random weights produce invalid bytes): stream
// only complete characters, and let the JSON writer replace invalid bytes with U+FFFD instead of failing.
std::string take_complete_utf8(std::string& pending) {
  std::size_t cut = pending.size();
  // Walk back over at most 3 continuation bytes to the last lead byte; keep an incomplete sequence pending.
  for (std::size_t back = 1; back <= 4 && back <= pending.size(); ++back) {
    const auto c = static_cast<unsigned char>(pending[pending.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > back) cut = pending.size() - back;
    break;
  }
  std::string out = pending.substr(0, cut);
  pending.erase(0, cut);
  return out;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A loaded model as the API names it: its id, and every name a request may use for it ("default", the id, the
// full general.name that /v1/models listed before ids were short).
struct ServedModel {
  std::string id, description, full_name;
  bool answers_to(const std::string& requested) const {
    return requested == "default" || requested == id || (!full_name.empty() && requested == full_name);
  }
  json listing(const char* type, int64_t created) const {
    json aliases = json::array({"default"});
    if (!full_name.empty() && full_name != id) aliases.push_back(full_name);
    return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "local"},
            {"description", description}, {"type", type}, {"aliases", aliases}};
  }
};

ServedModel served(const std::string& full_name, const std::string& id) {
  auto n = ml::model_name_of(full_name);
  if (!id.empty()) n.id = id;
  return {n.id, n.description, full_name};
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string new_id() {
  static std::atomic<uint64_t> n{1};
  return "chatcmpl-ut" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "-" +
         std::to_string(n++);
}

// POST /v1/embeddings.
void embeddings(engine::Assistant& ai, const ServedModel& embed_model, const httplib::Request& req,
                httplib::Response& res) {
  auto body = parse_json_object(req, res);
  if (!body) return;
  if (!ai.can_embed()) return send_error(res, 404, "no embedding model is loaded", "model_not_found");
  const std::string requested = field<std::string>(*body, "model", "default");
  if (!embed_model.answers_to(requested))
    return send_error(res, 404, "unknown model '" + requested + "' (this server embeds with '" + embed_model.id +
                                    "')", "model_not_found");
  std::vector<std::string> texts;
  const auto& in = (*body)["input"];
  if (in.is_string()) {
    texts.push_back(in.get<std::string>());
  } else if (in.is_array() && !in.empty() && std::all_of(in.begin(), in.end(), [](auto& x) { return x.is_string(); })) {
    for (auto& x : in) texts.push_back(x.get<std::string>());
  } else {
    return send_error(res, 400, "'input' must be a string or a non-empty array of strings");
  }
  if (texts.size() > 256) return send_error(res, 400, "at most 256 inputs per request");
  // encoding_format: "float" (JSON numbers) or "base64" (the float32 values' little-endian bytes, as OpenAI sends
  // them; the official clients ask for it by default).
  const json fmt = body->value("encoding_format", json("float"));
  if (!fmt.is_string() || (fmt != "float" && fmt != "base64"))
    return send_error(res, 400, "'encoding_format' must be \"float\" or \"base64\"", "invalid_request_error", {},
                      "encoding_format");
  const bool base64 = fmt == "base64";
  auto r = ai.embed(texts);
  json data = json::array();
  for (std::size_t i = 0; i < r.count; ++i) {
    auto row = r.row(i);
    json e = base64 ? json(vector::encode_floats(row)) : json(std::vector<float>(row.begin(), row.end()));
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(e)}});
  }
  res.set_content(json{{"object", "list"}, {"data", data}, {"model", embed_model.id},
                       {"usage", {{"prompt_tokens", r.total_tokens}, {"total_tokens", r.total_tokens}}},
                       {"truncated", r.truncated_count}}.dump(),
                  "application/json");
}

// response_format: "text", "json_object" (any JSON object) or "json_schema" (json_schema.schema), the JSON
// ones as a grammar the sampler enforces. False after answering 400.
bool parse_response_format(const json& body, ml::GenerateOptions& gen, httplib::Response& res) {
  if (!body.contains("response_format") || body["response_format"].is_null()) return true;
  const auto& rf = body["response_format"];
  const std::string type = rf.is_object() ? field<std::string>(rf, "type", "") : "";
  auto bad = [&](const std::string& message) {
    send_error(res, 400, message, "invalid_request_error", "", "response_format");
    return false;
  };
  if (type == "text") return true;
  if (type == "json_object") {
    gen.grammar = ml::json_object_grammar();
    return true;
  }
  if (type != "json_schema") return bad("response_format.type must be 'text', 'json_object' or 'json_schema'");
  const json& js = rf.contains("json_schema") ? rf["json_schema"] : json();
  if (!js.is_object() || !js.contains("schema") || !(js["schema"].is_object() || js["schema"].is_boolean()))
    return bad("response_format.json_schema.schema must be a JSON Schema object");
  try {
    gen.grammar = ml::json_schema_grammar(js["schema"]);
  } catch (const UsageError& e) {
    return bad(std::string("response_format.json_schema: ") + e.what());
  }
  return true;
}

// The chat request's messages (with the tools' system section), tools and generation options; nullopt after
// answering 400 for a malformed body.
std::optional<engine::ChatRequest> parse_chat(const json& body, httplib::Response& res, ChatTools& tools) {
  engine::ChatRequest cr;
  try {
    tools = parse_tools(body);
    cr.messages = parse_messages(body.value("messages", json()), tools);
    parse_logprobs(body, cr.gen);
  } catch (const BadRequest& e) {
    return send_error(res, 400, e.what(), "invalid_request_error", "", e.param), std::nullopt;
  }
  cr.gen.max_tokens = field<int>(body, "max_tokens", field<int>(body, "max_completion_tokens", 128));
  // One the client asked for is refused when the context cannot hold it (OpenAI's 400); the default is cut to fit.
  cr.refuse_over_context = (body.contains("max_tokens") && !body["max_tokens"].is_null()) ||
                           (body.contains("max_completion_tokens") && !body["max_completion_tokens"].is_null());
  if (cr.gen.max_tokens < 1 || cr.gen.max_tokens > 4096)
    return send_error(res, 400, "max_tokens must be in 1..4096"), std::nullopt;
  cr.gen.sampling.temperature = field<float>(body, "temperature", 0.7f);
  cr.gen.sampling.top_p = field<float>(body, "top_p", 0.95f);
  cr.gen.sampling.seed = field<uint32_t>(body, "seed", 42);
  // OpenAI's penalties cover the whole answer; llama-server's repeat_penalty / vLLM's repetition_penalty and
  // llama-server's repeat_last_n (-1: the whole answer) too.
  auto& s = cr.gen.sampling;
  s.presence_penalty = field<float>(body, "presence_penalty", 0.0f);
  s.frequency_penalty = field<float>(body, "frequency_penalty", 0.0f);
  s.repeat_penalty = field<float>(body, "repetition_penalty", field<float>(body, "repeat_penalty", 1.0f));
  const int last_n = field<int>(body, "repeat_last_n", -1);
  s.penalty_last_n = last_n < 0 ? cr.gen.max_tokens : last_n;
  for (auto [name, v] : {std::pair{"presence_penalty", s.presence_penalty}, {"frequency_penalty", s.frequency_penalty}})
    if (!(v >= -2.0f && v <= 2.0f))
      return send_error(res, 400, std::string(name) + " must be in -2..2", "invalid_request_error", "", name),
             std::nullopt;
  if (!(s.repeat_penalty > 0.0f && s.repeat_penalty <= 10.0f))
    return send_error(res, 400, "repetition_penalty must be in (0, 10]", "invalid_request_error", "",
                      "repetition_penalty"), std::nullopt;
  if (last_n < -1 || last_n > 4096)
    return send_error(res, 400, "repeat_last_n must be in -1..4096", "invalid_request_error", "", "repeat_last_n"),
           std::nullopt;
  if (!parse_response_format(body, cr.gen, res)) return std::nullopt;
  if (!tools.grammar.empty()) {  // tool_choice required or a named function: the calls' grammar
    if (!cr.gen.grammar.empty())
      return send_error(res, 400, "response_format json_object/json_schema cannot be combined with tool_choice "
                                  "'required' or a named function", "invalid_request_error", "", "response_format"),
             std::nullopt;
    cr.gen.grammar = tools.grammar;
  }
  // llama-server's extension, which load tests send so that every answer is max_tokens long on both servers.
  cr.gen.ignore_eog = field<bool>(body, "ignore_eos", false);
  if (body.contains("stop")) {
    const auto& st = body["stop"];
    if (st.is_string()) {
      cr.gen.stop.push_back(st.get<std::string>());
    } else if (st.is_array()) {
      for (auto& x : st) {
        if (!x.is_string()) return send_error(res, 400, "'stop' entries must be strings"), std::nullopt;
        cr.gen.stop.push_back(x);
      }
    } else if (!st.is_null()) {
      return send_error(res, 400, "'stop' must be a string or an array of strings"), std::nullopt;
    }
  }
  return cr;
}

json usage_json(const ml::GenerateResult& r) {
  const int completion = static_cast<int>(r.tokens.size());
  return {{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", completion},
          {"total_tokens", r.prompt_tokens + completion}};
}

// The answer's message: content, or tool_calls (finish_reason "tool_calls") when the tools are on and it calls.
json answer_message(const ml::GenerateResult& r, const ChatTools& tools, std::string& finish) {
  finish = finish_reason(r.reason);
  ParsedAnswer a = parse_answer(r.text, tools);
  if (!a.content) {
    finish = "tool_calls";
    return {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", a.tool_calls}};
  }
  return {{"role", "assistant"}, {"content", *a.content}};
}

// stream: false — the whole answer in one chat.completion object.
void send_completion(httplib::Response& res, engine::ChatJob& job, const std::string& id, int64_t created,
                     const std::string& model, Metrics::Chat& timing, const ChatTools& tools, bool logprobs) {
  try {
    job.stream([&](const ml::StreamToken* t) {  // times the tokens as they are made (the metrics)
      if (t && t->id >= 0) timing.token();  // the final event (id -1) is no token
      return true;
    });
    job.wait();
  } catch (const engine::RemoteError& e) {  // another server generated (--chat-url): its 4xx, else 502
    return send_error(res, e.status, e.what(), e.type);
  } catch (const std::exception& e) {
    return send_error(res, 500, std::string("generation failed: ") + e.what(), "server_error");
  }
  const auto& r = *job.result;
  timing.finish(r.prompt_tokens, static_cast<int>(r.tokens.size()), r.ttft_ms, finish_reason(r.reason));
  std::string finish;
  const json message = answer_message(r, tools, finish);
  res.set_content(json{{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
                       {"choices", json::array({{{"index", 0}, {"message", message},
                                                 {"logprobs", logprobs ? logprobs_json(r.logprobs) : json()},
                                                 {"finish_reason", finish}}})},
                       {"usage", usage_json(r)},
                       {"sources", sources_json(job)}}.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
}

// With tools on and tool_choice auto, the streamed answer is held until it is complete (it may be text or calls),
// then sent as one content delta or as one tool_calls delta per call (index, id, type, function name and the whole
// arguments), as OpenAI's chunks carry them.
template <class Chunk>
void stream_tool_answer(const ml::GenerateResult& r, const ChatTools& tools, Chunk& chunk, std::string& finish) {
  const json message = answer_message(r, tools, finish);
  if (!message.contains("tool_calls")) {
    if (!message["content"].get<std::string>().empty()) chunk({{"content", message["content"]}}, nullptr);
    return;
  }
  for (std::size_t i = 0; i < message["tool_calls"].size(); ++i) {
    json call = message["tool_calls"][i];
    call["index"] = i;
    chunk({{"tool_calls", json::array({call})}}, nullptr);
  }
}

// A grammar-constrained tool answer (tool_choice required or a named function) streams as it is generated: one
// delta with a call's index, id, type and name (arguments "") once its name is complete, then its arguments' JSON
// text as it grows, as OpenAI's chunks carry them. `sent` counts the argument bytes sent per call.
template <class Chunk>
bool stream_tool_calls(const std::string& answer, std::vector<std::size_t>& sent, Chunk& chunk) {
  const auto calls = scan_tool_calls(answer);
  for (std::size_t k = 0; k < calls.size(); ++k) {
    if (k >= sent.size()) {
      sent.push_back(0);
      const json call{{"index", k}, {"id", new_call_id()}, {"type", "function"},
                      {"function", {{"name", calls[k].name}, {"arguments", ""}}}};
      if (!chunk({{"tool_calls", json::array({call})}}, nullptr)) return false;
    }
    std::string more = calls[k].arguments.substr(sent[k]);
    if (!calls[k].arguments_complete) more = take_complete_utf8(more);  // whole characters only
    if (more.empty()) continue;
    sent[k] += more.size();
    if (!chunk({{"tool_calls", json::array({{{"index", k}, {"function", {{"arguments", more}}}}})}}, nullptr))
      return false;
  }
  return true;
}

// stream: true — server-sent chat.completion.chunk events as tokens arrive; a client that goes away cancels.
// With stream_options.include_usage every chunk carries "usage": null and a last chunk with no choices carries
// the usage, as OpenAI sends it.
void stream_completion(httplib::Response& res, std::shared_ptr<engine::ChatJob> job, const std::string& id,
                       int64_t created, const std::string& model, bool include_usage,
                       std::shared_ptr<Metrics::Chat> timing, const std::string& request_id, ChatTools tools,
                       bool logprobs) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, id, created, model, include_usage, timing, request_id, tools, logprobs](size_t, httplib::DataSink& sink) {
        auto send = [&](json c) {
          c["id"] = id;
          c["object"] = "chat.completion.chunk";
          c["created"] = created;
          c["model"] = model;
          if (include_usage && !c.contains("usage")) c["usage"] = nullptr;
          const std::string line = "data: " + dump(c) + "\n\n";
          return sink.write(line.data(), line.size());
        };
        std::vector<ml::TokenLogprob> lps;  // of tokens whose text is not sent yet
        auto chunk = [&](const json& delta, const json& finish) {
          json choice{{"index", 0}, {"delta", delta}, {"finish_reason", finish}};
          if (logprobs) choice["logprobs"] = lps.empty() ? json() : logprobs_json(std::exchange(lps, {}));
          return send({{"choices", json::array({choice})}});
        };
        if (!chunk({{"role", "assistant"}}, nullptr)) {
          job->cancel = true;
          return false;
        }
        std::string pending;  // bytes of a character split across tokens
        const bool calls_as_generated = !tools.grammar.empty();  // the grammar guarantees the calls' shape
        std::string answer;
        std::vector<std::size_t> args_sent;
        const bool ended = job->stream([&](const ml::StreamToken* t) {
          if (!sink.is_writable()) return false;  // the client went away: stop generating at once
          if (!t) return true;
          if (t->id >= 0) timing->token();  // the final event (id -1) is no token
          lps.insert(lps.end(), t->logprobs.begin(), t->logprobs.end());
          if (calls_as_generated) {
            answer += t->text;
            return stream_tool_calls(answer, args_sent, chunk);
          }
          if (tools.active()) {  // the answer may be tool calls (or text): sent whole at the end
            // An SSE comment now and then (clients skip it) keeps the connection from looking idle meanwhile.
            static constexpr char kHold[] = ": holding the answer until it is complete\n\n";
            return t->index % 8 != 0 || sink.write(kHold, sizeof kHold - 1);
          }
          pending += t->text;
          const std::string text = t->last ? std::exchange(pending, {}) : take_complete_utf8(pending);
          return text.empty() || chunk({{"content", text}}, nullptr);
        });
        if (!ended) return false;
        try {
          job->wait();
          const auto& r = *job->result;
          timing->finish(r.prompt_tokens, static_cast<int>(r.tokens.size()), r.ttft_ms, finish_reason(r.reason));
          std::string finish = finish_reason(r.reason);
          if (calls_as_generated) answer_message(r, tools, finish);  // sent already; the finish reason
          else if (tools.active()) stream_tool_answer(r, tools, chunk, finish);
          chunk(json::object(), finish);
          if (include_usage) send({{"choices", json::array()}, {"usage", usage_json(*job->result)}});
        } catch (const std::exception& e) {  // after the 200: the error goes in the stream, and in the log
          const auto* remote = dynamic_cast<const engine::RemoteError*>(&e);  // --chat-url's server failed
          log_server_error(remote ? remote->status : 500, "POST", "/v1/chat/completions", request_id,
                           std::string("generation failed: ") + e.what());
          const std::string err =
              "data: " + dump(json{{"error", {{"message", std::string("generation failed: ") + e.what()},
                                              {"type", remote ? remote->type : "server_error"}, {"code", nullptr},
                                              {"param", nullptr}, {"request_id", request_id}}}}) + "\n\n";
          sink.write(err.data(), err.size());
        }
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      },
      [job](bool success) {
        if (!success) job->cancel = true;
      });
}

// POST /v1/chat/completions.
void chat_completions(engine::Assistant& ai, const ServedModel& chat_model, Metrics* metrics,
                      const httplib::Request& req, httplib::Response& res) {
  auto timing = std::make_shared<Metrics::Chat>(metrics);  // arrival: counted waiting until its first token
  auto body = parse_json_object(req, res);
  if (!body) return;
  if (!ai.can_chat()) return send_error(res, 404, "no chat model is loaded", "model_not_found");
  const std::string requested = field<std::string>(*body, "model", "default");
  if (!chat_model.answers_to(requested))
    return send_error(res, 404, "unknown model '" + requested + "' (this server chats with '" + chat_model.id + "')",
                      "model_not_found");
  ChatTools tools;
  auto cr = parse_chat(*body, res, tools);
  if (!cr) return;
  const bool logprobs = cr->gen.logprobs;
  const bool stream = field<bool>(*body, "stream", false);
  bool include_usage = false;
  if (body->contains("stream_options") && !(*body)["stream_options"].is_null()) {
    if (!(*body)["stream_options"].is_object()) return send_error(res, 400, "'stream_options' must be an object");
    include_usage = field<bool>((*body)["stream_options"], "include_usage", false);
  }
  std::shared_ptr<engine::ChatJob> job;
  try {
    job = ai.chat(std::move(*cr));
  } catch (const ml::ContextLengthError& e) {
    return send_error(res, 400,
                      "the messages are " + std::to_string(e.prompt_tokens) + " tokens; this model's context holds " +
                          std::to_string(e.n_ctx) + " per chat (prompt and answer together)",
                      "invalid_request_error", "context_length_exceeded", "messages");
  } catch (const engine::MaxTokensError& e) {
    return send_error(res, 400,
                      "the messages are " + std::to_string(e.prompt_tokens) + " tokens and max_tokens asks for " +
                          std::to_string(e.max_tokens) + " more; this model's context holds " +
                          std::to_string(e.n_ctx) + " per chat, so max_tokens can be at most " +
                          std::to_string(e.n_ctx - e.prompt_tokens),
                      "invalid_request_error", "context_length_exceeded", "max_tokens");
  }
  if (!job) {
    res.set_header("Retry-After", "1");
    return send_error(res, 429, "the engine is busy (admission limit reached); retry shortly", "busy");
  }
  if (stream)
    return stream_completion(res, job, new_id(), unix_now(), chat_model.id, include_usage, timing,
                             req.get_header_value("X-Request-Id"), std::move(tools), logprobs);
  send_completion(res, *job, new_id(), unix_now(), chat_model.id, *timing, tools, logprobs);
}

}  // namespace

void add_openai_routes(httplib::Server& http, engine::Assistant& ai, OpenAiOptions options) {
  const ServedModel chat_model = served(ai.chat_model_name(), options.chat_model_id);
  const ServedModel embed_model = served(ai.embed_model_name(), options.embed_model_id);
  const int64_t started = unix_now();
  route(http, "GET", "/v1/models", [&ai, chat_model, embed_model, started](const httplib::Request&,
                                                                           httplib::Response& res) {
    json data = json::array();
    if (ai.can_chat()) data.push_back(chat_model.listing("chat", started));
    if (ai.can_embed()) data.push_back(embed_model.listing("embedding", started));
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  });
  route(http, "POST", "/v1/embeddings", [&ai, embed_model](const httplib::Request& req, httplib::Response& res) {
    embeddings(ai, embed_model, req, res);
  });
  Metrics* metrics = metrics_of(http);
  route(http, "POST", "/v1/chat/completions", [&ai, chat_model, metrics](const httplib::Request& req,
                                                                         httplib::Response& res) {
    chat_completions(ai, chat_model, metrics, req, res);
  });
}

}  // namespace ut::server
