// The assistant's paths end to end over real HTTP on loopback, with the tiny synthetic models.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "engine/default_models.h"
#include "engine/runtime.h"
#include "tests/engine/runtime_fixture.h"
#include "workloads/ml/model.h"
#include "workloads/ml/synth.h"
#include "server/routes.h"
#include "server/server.h"

using namespace std::chrono_literals;
using nlohmann::json;
using ut::test::AssistantTest;

namespace {


TEST_F(AssistantTest, StreamingChatOverServerSentEventsWithRagSources) {
  start();
  post("/api/v1/docs", {{"title", "apt.md"}, {"body", "apt installs Debian packages.\n\ndpkg unpacks them."}}, 201);
  ASSERT_TRUE(ai->wait_indexed(60s));
  std::string body;
  auto r = cli->Post("/v1/chat/completions",
                     json{{"messages", {{{"role", "user"}, {"content", "What installs packages?"}}}},
                          {"stream", true}, {"max_tokens", 12}, {"temperature", 0}}.dump(),
                     "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  int chunks = 0;
  std::string text, finish;
  std::istringstream lines(r->body);
  std::string line;
  bool done = false;
  while (std::getline(lines, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    const std::string data = line.substr(6);
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    auto c = json::parse(data);
    ASSERT_EQ(c["object"], "chat.completion.chunk");
    auto& d = c["choices"][0]["delta"];
    if (d.contains("content")) {
      text += d["content"].get<std::string>();
      ++chunks;
    }
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done) << "the stream ends with [DONE]";
  EXPECT_GT(chunks, 0);
  EXPECT_FALSE(finish.empty());
  // The non-streaming form answers the same request shape with sources (RAG badges).
  auto j = post("/v1/chat/completions",
                {{"messages", {{{"role", "user"}, {"content", "What installs packages?"}}}}, {"max_tokens", 4}}, 200);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  ASSERT_FALSE(j["sources"].empty()) << "the indexed document is retrieved";
  EXPECT_EQ(j["sources"][0]["document"], "apt.md");
}

TEST_F(AssistantTest, EmbeddingsAreUnitVectorsAndMatchTheEmbedder) {
  start();
  auto j = post("/v1/embeddings", {{"input", {"hello world", "queues and events"}}}, 200);
  ASSERT_EQ(j["data"].size(), 2u);
  const auto direct = ai->embed({"queues and events"});
  auto v = j["data"][1]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(v.size(), static_cast<std::size_t>(ai->dim()));
  double n = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    n += v[i] * v[i];
    EXPECT_NEAR(v[i], direct.row(0)[i], 1e-5);
  }
  EXPECT_NEAR(std::sqrt(n), 1.0, 1e-4);
  auto models = json::parse(cli->Get("/v1/models")->body);
  EXPECT_EQ(models["data"].size(), 2u);
}

TEST_F(AssistantTest, BadRequestsAreClear4xx) {
  start();
  auto r = cli->Post("/v1/chat/completions", "{not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  post("/v1/chat/completions", {{"messages", "hi"}}, 400);
  post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", 3}}}}}, 400);
  post("/v1/chat/completions", {{"model", "gpt-9"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}, 404);
  post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", "many"}}, 400);
  post("/v1/embeddings", {{"input", 42}}, 400);
  auto big = std::string(5 << 20, 'x');
  r = cli->Post("/v1/embeddings", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(AssistantTest, EveryQueueIsInStatsAndMetricsWithItsKindAndDevice) {
  start();
  auto r = cli->Post("/v1/chat/completions",
                     json{{"messages", {{{"role", "user"}, {"content", "hello"}}}}, {"max_tokens", 4}}.dump(),
                     "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  post("/api/v1/sql", {{"sql", "SELECT 1"}}, 200);  // the data path makes its kernel queue on first use
  const auto stats = eng->realtime_stats();
  for (const char* q : {"render", "ml", "ml_gen", "blit", "host", "data", "data_kernels"}) {
    ASSERT_TRUE(stats["queues"].contains(q)) << q << " missing from " << stats["queues"].dump();
    EXPECT_TRUE(stats["queues"][q].contains("kind")) << q;
    EXPECT_TRUE(stats["queues"][q].contains("device")) << q;
  }
  EXPECT_GT(stats["queues"]["ml_gen"]["completed"].get<uint64_t>(), 0u) << "the generation steps ran on Q_ml.gen";
  const std::string metrics = eng->prometheus_metrics();
  EXPECT_NE(metrics.find("ut_queue_completed_total{queue=\"ml_gen\"}"), std::string::npos);
  auto g = cli->Get("/api/v1/guards");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 200);
  EXPECT_TRUE(json::parse(g->body).contains("step_tokens"));
}

// Client mistakes are 4xx with an OpenAI-style error object, never a 500: invalid UTF-8 in the body, a prompt
// longer than the context (code context_length_exceeded, param messages).
TEST_F(AssistantTest, InvalidUtf8AndTooLongPromptsAre400) {
  start();
  const std::string bad = std::string("{\"messages\": [{\"role\": \"user\", \"content\": \"caf") + "\xC3\x28" +
                          "\"}]}";
  auto r = cli->Post("/v1/chat/completions", bad, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  const json e = json::parse(r->body);  // parses: the quoted bytes were replaced, not passed through
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  std::string huge;
  for (int i = 0; i < 3000; ++i) huge += "w" + std::to_string(i) + " ";
  for (bool stream : {false, true}) {
    auto t = post("/v1/chat/completions",
                  {{"messages", {{{"role", "user"}, {"content", huge}}}}, {"stream", stream}, {"max_tokens", 4}}, 400);
    EXPECT_EQ(t["error"]["code"], "context_length_exceeded") << t.dump();
    EXPECT_EQ(t["error"]["param"], "messages");
  }
  EXPECT_EQ(ai->stats().chats, 0u) << "refused before admission";
}

TEST_F(AssistantTest, DocumentsCrudAndSearch) {
  start();
  auto c = post("/api/v1/docs", {{"title", "a.md"}, {"body", "Alpha text about frames.\n\nMore alpha."}}, 201);
  const auto id = c["id"].get<uint64_t>();
  auto g = json::parse(cli->Get("/api/v1/docs/" + std::to_string(id))->body);
  EXPECT_EQ(g["body"], "Alpha text about frames.\n\nMore alpha.");
  ASSERT_TRUE(ai->wait_indexed(60s));
  auto r = cli->Put("/api/v1/docs/" + std::to_string(id), json{{"body", "Beta."}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(ai->wait_indexed(60s));
  auto s = post("/api/v1/docs/search", {{"query", "Beta."}, {"k", 3}}, 200);
  ASSERT_FALSE(s["hits"].empty());
  EXPECT_EQ(s["hits"][0]["text"], "Beta.");
  EXPECT_EQ(cli->Delete("/api/v1/docs/" + std::to_string(id))->status, 204);
  EXPECT_EQ(cli->Get("/api/v1/docs/" + std::to_string(id))->status, 404);
  EXPECT_EQ(cli->Delete("/api/v1/docs/999999")->status, 404);
}

TEST_F(AssistantTest, FloodIsAnsweredBusy) {
  start(/*max_heavy_ops=*/1);
  // A streamed answer holds the only admission slot until the flood is over, then hangs up (it does not have to
  // run to its end: on two shared cores a 1,000-token answer can take minutes).
  std::atomic<bool> flood_over{false};
  std::promise<void> streaming;
  std::once_flag first_chunk;
  std::thread holder([&] {
    httplib::Client c("127.0.0.1", srv->port());
    c.set_read_timeout(120, 0);
    auto req = long_stream([&](const char*, size_t, uint64_t, uint64_t) {
      std::call_once(first_chunk, [&] { streaming.set_value(); });
      return !flood_over.load();
    });
    httplib::Response res;
    httplib::Error err;
    c.send(req, res, err);
  });
  if (streaming.get_future().wait_for(60s) != std::future_status::ready) {
    flood_over = true;
    holder.join();
    FAIL() << "the holding answer never started streaming";
  }
  // ...so a flood of requests is answered 429 at once instead of queueing without bound.
  int busy = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = cli->Post("/v1/chat/completions",
                       json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 1}}.dump(), "application/json");
    ASSERT_TRUE(r);
    if (r->status == 429) {
      ++busy;
      EXPECT_EQ(json::parse(r->body)["error"]["type"], "busy");
    }
  }
  flood_over = true;
  holder.join();
  EXPECT_GE(busy, 5) << "requests during a held slot must be refused as busy";
}

TEST_F(AssistantTest, ClientDisconnectMidStreamCancelsTheGeneration) {
  start(/*max_heavy_ops=*/1);
  httplib::Client c1("127.0.0.1", srv->port());
  auto req = long_stream([](const char*, size_t, uint64_t, uint64_t) { return false; });  // hang up at once
  httplib::Response res;
  httplib::Error err;
  c1.send(req, res, err);
  // The server notices the closed connection and cancels; the slot frees and the outcome is counted.
  ASSERT_TRUE(eng->wait_admissions_below(1, 60s)) << "a cancelled stream must release its admission slot";
  auto r = cli->Post("/v1/chat/completions",
                     json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 1}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(ai->stats().cancelled, 1u) << "the abandoned generation must stop early, not run to max_tokens";
}

TEST_F(AssistantTest, MissedContextDeadlineStillAnswers) {
  start(3, /*rag_deadline=*/1ms);
  ai->docs()->create("x.md", "Some text to retrieve.");
  ai->schedule_indexing();
  ASSERT_TRUE(ai->wait_indexed(60s));
  // Hold the host lane so the search cannot finish before the 1 ms deadline.
  auto gate = eng->host_device()->make_event("hold");
  auto hold = eng->host_queue()->make_command_buffer("hold");
  hold.wait(gate, 1).commit();
  auto job = ai->chat({.messages = {{"user", "retrieve?"}}, .gen = {.max_tokens = 3}});
  ASSERT_TRUE(job);
  job->wait();
  EXPECT_TRUE(job->rag_missed_deadline.load());
  EXPECT_FALSE(job->result->tokens.empty()) << "the answer goes out without the context";
  gate->signal(1);
  hold.wait_until_completed();
}

}  // namespace

namespace {

// More chats than decode slots at once: they decode together, the extra one waits for a slot, all complete,
// each gives the answer it gives alone (greedy), and a prompt too long for the context is refused at once
// (ContextLengthError) without disturbing the others.
TEST_F(AssistantTest, ConcurrentChatsDecodeTogetherAndAllComplete) {
  start(/*max_heavy_ops=*/8);
  auto request = [](const std::string& q) {
    return ut::engine::ChatRequest{.messages = {{"user", q}},
                                   .gen = {.sampling = {.temperature = 0.f}, .max_tokens = 6, .ignore_eog = true}};
  };
  std::vector<std::shared_ptr<ut::engine::ChatJob>> jobs;
  for (int i = 0; i < 5; ++i) {
    jobs.push_back(ai->chat(request("question " + std::to_string(i) + " about queues")));
    ASSERT_TRUE(jobs.back());
  }
  std::string huge;
  for (int i = 0; i < 3000; ++i) huge += "w" + std::to_string(i) + " ";
  EXPECT_THROW(ai->chat(request(huge)), ut::ml::ContextLengthError);
  for (auto& j : jobs) {
    ASSERT_TRUE(j->done->wait(1, 60s)) << "a chat never finished";
    j->wait();
    EXPECT_EQ(j->result->tokens.size(), 6u);
  }
  for (int i : {0, 4}) {  // alone now: the same tokens
    auto solo = ai->chat(request("question " + std::to_string(i) + " about queues"));
    solo->wait();
    EXPECT_EQ(solo->result->tokens, jobs[static_cast<std::size_t>(i)]->result->tokens) << "chat " << i;
  }
  EXPECT_EQ(ai->stats().chats, 7u);
  EXPECT_EQ(ai->stats().failed, 0u);
}

bool is_short_id(const std::string& id) {
  return !id.empty() && id.find_first_of(" :\t") == std::string::npos;
}

TEST_F(AssistantTest, ModelIdsAreShortWithADescriptionAndAcceptDefaultAndTheOldName) {
  start();
  const auto models = json::parse(cli->Get("/v1/models")->body);
  ASSERT_EQ(models["data"].size(), 2u);
  json chat, embed;
  for (const auto& m : models["data"]) {
    EXPECT_TRUE(is_short_id(m["id"].get<std::string>())) << m;
    EXPECT_EQ(m["object"], "model");
    EXPECT_TRUE(m["description"].is_string()) << m;
    EXPECT_TRUE(m["created"].is_number_integer()) << m;
    EXPECT_NE(std::find(m["aliases"].begin(), m["aliases"].end(), "default"), m["aliases"].end()) << m;
    (m["type"] == "chat" ? chat : embed) = m;
  }
  ASSERT_FALSE(chat.is_null());
  ASSERT_FALSE(embed.is_null());
  EXPECT_EQ(chat["id"], ut::ml::model_name_of(ai->chat_model_name()).id);
  EXPECT_EQ(embed["id"], ut::ml::model_name_of(ai->embed_model_name()).id);
  const json msgs = {{{"role", "user"}, {"content", "which package provides ls?"}}};
  for (const std::string& name : {std::string("default"), chat["id"].get<std::string>(), ai->chat_model_name()}) {
    const auto j = post("/v1/chat/completions", {{"model", name}, {"messages", msgs}, {"max_tokens", 2}}, 200);
    EXPECT_EQ(j["model"], chat["id"]) << "asked for '" << name << "': the answer names the model by its id";
  }
  const auto no_model = post("/v1/chat/completions", {{"messages", msgs}, {"max_tokens", 2}}, 200);
  EXPECT_EQ(no_model["model"], chat["id"]);
  for (const std::string& name : {std::string("default"), embed["id"].get<std::string>(), ai->embed_model_name()}) {
    const auto j = post("/v1/embeddings", {{"model", name}, {"input", "apt"}}, 200);
    EXPECT_EQ(j["model"], embed["id"]);
  }
  const std::string unknown = "model-" + std::to_string(std::random_device{}());
  EXPECT_EQ(post("/v1/chat/completions", {{"model", unknown}, {"messages", msgs}}, 404)["error"]["type"],
            "model_not_found");
  EXPECT_EQ(post("/v1/embeddings", {{"model", unknown}, {"input", "apt"}}, 404)["error"]["type"], "model_not_found");
  if (chat["id"] != embed["id"]) post("/v1/embeddings", {{"model", chat["id"]}, {"input", "apt"}}, 404);
}

TEST_F(AssistantTest, ModelIdsComeFromTheProjectsNamesOrTheFileStem) {
  // The project's convention "slug: description" gives both; other names leave the id to the file.
  const auto a = ut::ml::model_name_of("debian-tinyllama: Llama decoder trained on Debian package descriptions",
                                       "/x/debian-llama-spm-q8_0.gguf");
  EXPECT_EQ(a.id, "debian-tinyllama");
  EXPECT_EQ(a.description, "Llama decoder trained on Debian package descriptions");
  const auto b = ut::ml::model_name_of("Qwen2.5 0.5B Instruct", "/models/Qwen2.5-0.5B-Instruct-Q8_0.gguf");
  EXPECT_EQ(b.id, "Qwen2.5-0.5B-Instruct-Q8_0");
  EXPECT_EQ(b.description, "Qwen2.5 0.5B Instruct");
  EXPECT_EQ(ut::ml::model_name_of("x", "/m/my model: v2.gguf").id, "my-model-v2");
  EXPECT_EQ(ut::ml::model_name_of("tiny llama (random weights)").id, "tiny-llama-random-weights");
  // A user's file: its stem, read through the same inspection the server uses.
  dir = std::filesystem::path(::testing::TempDir()) / ("ut_model_ids_" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  const auto user = dir / "phi-mini-q4.gguf";  // general.name "tiny llama (random weights, llama-spm vocab)"
  ut::ml::write_synthetic_model(ut::ml::SynthSpec::tiny_decoder(), user.string());
  const auto info = ut::ml::Model::inspect(user.string());
  EXPECT_EQ(info.id, "phi-mini-q4");
  EXPECT_EQ(info.description, info.name);
  EXPECT_EQ(info.name, ut::ml::SynthSpec::tiny_decoder().name);
  const std::string trained = ut::engine::trained_models_dir();
  if (trained.empty()) GTEST_SKIP() << "the trained models are switched off (UT_TRAINED_MODELS_DIR)";
  EXPECT_EQ(ut::ml::Model::inspect(trained + "/debian-llama-spm-f16.gguf").id, "debian-tinyllama");
  EXPECT_EQ(ut::ml::Model::inspect(trained + "/debian-bert-bge-f16.gguf").id, "debian-minilm");
}

TEST_F(AssistantTest, ModelsNamedByTheOperatorAreListedAndAnswerToTheirName) {
  start();
  const std::string name = "local-chat-" + std::to_string(std::random_device{}() % 1000);
  ut::server::Server named(*eng, ut::server::ServerOptions{.port = 0});
  named.add_routes([&](httplib::Server& h) {
    ut::server::add_openai_routes(h, *ai, {.chat_model_id = name, .embed_model_id = "my-embedder"});
  });
  named.start();
  httplib::Client c("127.0.0.1", named.port());
  c.set_read_timeout(60, 0);
  const auto models = json::parse(c.Get("/v1/models")->body);
  std::vector<std::string> ids;
  for (const auto& m : models["data"]) ids.push_back(m["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{name, "my-embedder"}));
  const json msgs = {{{"role", "user"}, {"content", "hi"}}};
  for (const std::string& m : {name, std::string("default"), ai->chat_model_name()}) {
    auto r = c.Post("/v1/chat/completions", json{{"model", m}, {"messages", msgs}, {"max_tokens", 2}}.dump(),
                    "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << m << ": " << r->body;
    EXPECT_EQ(json::parse(r->body)["model"], name);
  }
  auto r = c.Post("/v1/embeddings", json{{"model", "my-embedder"}, {"input", "x"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  named.stop();
}

TEST_F(AssistantTest, DocumentsShowTheirSource) {
  start();
  const std::string source = "/srv/notes/apt-" + std::to_string(std::random_device{}() % 100000) + ".md";
  const auto with =
      post("/api/v1/docs", {{"title", "APT pinning"}, {"body", "Pin a version."}, {"source", source}}, 201);
  const auto without = post("/api/v1/docs", {{"title", "Scratch"}, {"body", "No file behind it."}}, 201);
  post("/api/v1/docs", {{"title", "x"}, {"body", "y"}, {"source", 7}}, 400);
  const auto list = json::parse(cli->Get("/api/v1/docs")->body)["documents"];
  ASSERT_EQ(list.size(), 2u);
  for (const auto& d : list) {
    if (d["id"] == with["id"]) {
      EXPECT_EQ(d["title"], "APT pinning");
      EXPECT_EQ(d["source"], source);
    } else {
      EXPECT_EQ(d["id"], without["id"]);
      EXPECT_TRUE(d["source"].is_null()) << d;
    }
  }
  const auto one = json::parse(cli->Get("/api/v1/docs/" + std::to_string(with["id"].get<uint64_t>()))->body);
  EXPECT_EQ(one["title"], "APT pinning");
  EXPECT_EQ(one["source"], source);
  EXPECT_EQ(one["body"], "Pin a version.");
}

// A small JSON Schema check (type, enum, required, properties, additionalProperties, items, oneOf, $ref into the
// document's components): enough for the schemas server/openapi.json uses. Returns the first mismatch, or "".
std::string schema_mismatch(const json& doc, json schema, const json& v, const std::string& at) {
  while (schema.contains("$ref")) {
    const std::string ref = schema["$ref"];  // "#/components/schemas/X"
    schema = doc.at(json::json_pointer(ref.substr(1)));
  }
  if (schema.contains("oneOf")) {
    for (const auto& alt : schema["oneOf"])
      if (schema_mismatch(doc, alt, v, at).empty()) return "";
    return at + ": matches none of oneOf";
  }
  if (schema.contains("type")) {
    const json types = schema["type"].is_array() ? schema["type"] : json::array({schema["type"]});
    bool ok = false;
    for (const auto& t : types) {
      ok = ok || (t == "object" && v.is_object()) || (t == "array" && v.is_array()) || (t == "string" && v.is_string()) ||
           (t == "integer" && v.is_number_integer()) || (t == "number" && v.is_number()) ||
           (t == "boolean" && v.is_boolean()) || (t == "null" && v.is_null());
    }
    if (!ok) return at + ": " + v.dump().substr(0, 80) + " is not " + types.dump();
  }
  if (schema.contains("enum") && std::find(schema["enum"].begin(), schema["enum"].end(), v) == schema["enum"].end())
    return at + ": " + v.dump() + " is not one of " + schema["enum"].dump();
  if (v.is_object()) {
    for (const auto& r : schema.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return at + ": missing " + r.get<std::string>();
    for (const auto& [k, x] : v.items()) {
      json sub;
      if (schema.contains("properties") && schema["properties"].contains(k)) sub = schema["properties"][k];
      else if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object())
        sub = schema["additionalProperties"];
      if (!sub.is_null())
        if (auto m = schema_mismatch(doc, sub, x, at + "." + k); !m.empty()) return m;
    }
  }
  if (v.is_array() && schema.contains("items"))
    for (std::size_t i = 0; i < v.size(); ++i)
      if (auto m = schema_mismatch(doc, schema["items"], v[i], at + "[" + std::to_string(i) + "]"); !m.empty()) return m;
  return "";
}

// The schema of a route's response with `status` and content type application/json.
json response_schema(const json& doc, const std::string& path, const std::string& method, int status) {
  json r = doc["paths"][path][method]["responses"][std::to_string(status)];
  if (r.contains("$ref")) r = doc.at(json::json_pointer(r["$ref"].get<std::string>().substr(1)));
  return r["content"]["application/json"]["schema"];
}

TEST_F(AssistantTest, EveryRegisteredRouteIsInTheOpenApiDocumentAndRealResponsesValidate) {
  start();
  auto r = cli->Get("/openapi.json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json doc = json::parse(r->body);
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  // Both ways: what the server registers is documented, and the document lists nothing the server lacks.
  const auto routes = srv->routes();
  ASSERT_GE(routes.size(), 17u);
  for (const auto& route : routes) {
    std::string method = route.method;
    std::transform(method.begin(), method.end(), method.begin(), ::tolower);
    ASSERT_TRUE(doc["paths"].contains(route.path)) << route.path << " is served but not in openapi.json";
    EXPECT_TRUE(doc["paths"][route.path].contains(method)) << route.method << " " << route.path;
    EXPECT_TRUE(doc["paths"][route.path][method].contains("responses")) << route.method << " " << route.path;
  }
  for (const auto& [path, ops] : doc["paths"].items())
    for (const auto& [method, op] : ops.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      EXPECT_NE(std::find(routes.begin(), routes.end(), ut::server::Route{upper, path}), routes.end())
          << upper << " " << path << " is documented but not served";
    }

  // Real answers against their schemas, errors included.
  auto check = [&](const std::string& path, const std::string& method, int status, const std::string& body) {
    const std::string m = schema_mismatch(doc, response_schema(doc, path, method, status), json::parse(body), "$");
    EXPECT_EQ(m, "") << method << " " << path << " " << status << ": " << body.substr(0, 300);
  };
  const auto get = [&](const std::string& path) {
    auto g = cli->Get(path);
    EXPECT_TRUE(g && g->status == 200) << path;
    return g ? g->body : std::string("{}");
  };
  check("/healthz", "get", 200, get("/healthz"));
  check("/api/v1/metal/realtime-stats", "get", 200, get("/api/v1/metal/realtime-stats"));
  check("/api/v1/trace", "get", 200, get("/api/v1/trace?seconds=1"));
  check("/v1/models", "get", 200, get("/v1/models"));
  check("/api/v1/guards", "get", 200, get("/api/v1/guards"));
  const std::string source = "/srv/notes/queues-" + std::to_string(std::random_device{}() % 1000) + ".md";
  const json created = post("/api/v1/docs", {{"title", "Queues"}, {"body", "Queues run command buffers."},
                                             {"source", source}}, 201);
  check("/api/v1/docs", "post", 201, created.dump());
  const std::string id = std::to_string(created["id"].get<uint64_t>());
  check("/api/v1/docs", "get", 200, get("/api/v1/docs"));
  check("/api/v1/docs/{id}", "get", 200, get("/api/v1/docs/" + id));
  auto put = cli->Put("/api/v1/docs/" + id, json{{"body", "Queues run command buffers in order."}}.dump(),
                      "application/json");
  ASSERT_TRUE(put);
  check("/api/v1/docs/{id}", "put", 200, put->body);
  check("/api/v1/docs/search", "post", 200, post("/api/v1/docs/search", {{"query", "queues"}, {"k", 2}}, 200).dump());
  check("/api/v1/sql", "post", 200,
        post("/api/v1/sql", {{"sql", "SELECT 42 AS n, 'x' AS s, 1.5 AS d, true AS b, NULL AS z"}}, 200).dump());
  check("/api/v1/sql", "post", 400, post("/api/v1/sql", {{"sql", "SELEC nothing"}}, 400).dump());
  check("/api/v1/sql", "post", 403, post("/api/v1/sql", {{"sql", "CREATE TABLE t(i INT)"}, {"write", true}}, 403).dump());
  check("/v1/embeddings", "post", 200, post("/v1/embeddings", {{"input", {"apt", "dpkg"}}}, 200).dump());
  check("/v1/embeddings", "post", 404, post("/v1/embeddings", {{"model", "nope"}, {"input", "apt"}}, 404).dump());
  const json msgs = {{{"role", "user"}, {"content", "which package provides ls?"}}};
  check("/v1/chat/completions", "post", 200,
        post("/v1/chat/completions", {{"messages", msgs}, {"max_tokens", 3}}, 200).dump());
  check("/v1/chat/completions", "post", 400, post("/v1/chat/completions", {{"messages", "hi"}}, 400).dump());
  check("/v1/chat/completions", "post", 200,
        post("/v1/chat/completions", {{"messages", msgs}, {"max_tokens", 3}, {"logprobs", true}, {"top_logprobs", 2}},
             200).dump());
  // A tool without arguments, forced: the answer is a tool call (the grammar leaves the model no other choice).
  const json tool_call = post("/v1/chat/completions",
                              {{"messages", msgs}, {"max_tokens", 60}, {"temperature", 0},
                               {"tools", {{{"type", "function"}, {"function", {{"name", "now"}}}}}},
                               {"tool_choice", "required"}}, 200);
  EXPECT_EQ(tool_call["choices"][0]["finish_reason"], "tool_calls") << tool_call.dump();
  check("/v1/chat/completions", "post", 200, tool_call.dump());
  auto del = cli->Delete("/api/v1/docs/" + id);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 204);
  auto gone = cli->Get("/api/v1/docs/" + id);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  check("/api/v1/docs/{id}", "get", 404, gone->body);
}

}  // namespace
