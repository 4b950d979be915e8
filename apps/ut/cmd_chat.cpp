// `ut chat [MESSAGE]`: chat in the terminal, the answer streamed token by token, with retrieval from the
// documents in the database (ut ingest puts them there). Without MESSAGE it reads one question per line.
// With --json nothing streams: each answer is one JSON object on a line of stdout (text, tokens, timings,
// sources), for scripts.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "apps/ut/commands.h"
#include "engine/runtime.h"
#include "timeline/error.h"

namespace ut::app {
namespace {

struct ChatOptions {
  std::string message;
  std::string db = "ut-engine.duckdb";
  std::string embed_model, chat_model;
  int max_tokens = 128;
  float temperature = 0.7f;
  uint32_t seed = 42;
  int rag_k = 0;  // 0: the engine's choice for the model
  bool no_rag = false;
  bool json = false;
};

// One answer as a JSON object (invalid UTF-8 from the model written as U+FFFD).
std::string answer_json(const engine::ChatJob& job) {
  const auto& r = *job.result;
  nlohmann::json sources = nlohmann::json::array();
  if (job.rag_ready)
    for (auto& h : job.sources)
      sources.push_back({{"document", h.title}, {"doc_id", h.doc_id}, {"chunk", h.ord}, {"score", h.score}});
  nlohmann::json j{{"text", r.text},
                   {"finish_reason", ml::to_string(r.reason)},
                   {"tokens", {{"prompt", r.prompt_tokens}, {"completion", r.tokens.size()}}},
                   {"timings", {{"rag_ms", job.rag_ms}, {"first_token_ms", r.ttft_ms}, {"decode_ms", r.decode_ms},
                                {"tokens_per_s", r.decode_tokens_per_s()}}},
                   {"sources", sources}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int chat(const ChatOptions& o) {
  // llama.cpp places the models itself (GPU when present); the engine's own queues stay on the CPU here.
  engine::RuntimeConfig rc{.engine = {.backend = "cpu"}, .db_path = o.db, .embed_model = o.embed_model,
                           .chat_model = o.chat_model, .heartbeat = false};
  rc.assistant.rag_k = static_cast<std::size_t>(o.rag_k);
  engine::Runtime rt(rc);
  if (rt.random_weights() && o.chat_model.empty())
    std::fprintf(stderr, "(default models have random weights: the answer is meaningless text; pass --chat-model)\n");
  engine::Assistant& ai = rt.assistant();
  std::vector<ml::ChatMessage> history;
  auto ask = [&](const std::string& q) {
    history.push_back({"user", q});
    auto job = ai.chat({.messages = history,
                        .gen = {.sampling = {.temperature = o.temperature, .seed = o.seed}, .max_tokens = o.max_tokens},
                        .retrieve = !o.no_rag});
    if (!job) throw Error("the engine is busy");
    if (o.json) {
      job->wait();
      std::printf("%s\n", answer_json(*job).c_str());
      std::fflush(stdout);
      history.push_back({"assistant", job->result->text});
      return;
    }
    job->stream([](const ml::StreamToken* t) {
      if (t) {
        std::fputs(t->text.c_str(), stdout);
        std::fflush(stdout);
      }
      return true;
    });
    job->wait();
    std::printf("\n");
    if (job->rag_ready && !job->sources.empty()) {
      std::printf("sources:");
      for (auto& s : job->sources) std::printf("  [%s #%u %.2f]", s.title.c_str(), s.ord, s.score);
      std::printf("\n");
    }
    const auto& r = *job->result;
    std::fprintf(stderr, "(%zu tokens, first token %.0f ms, %.1f tokens/s, %s)\n", r.tokens.size(), r.ttft_ms,
                 r.decode_tokens_per_s(), ml::to_string(r.reason));
    history.push_back({"assistant", r.text});
  };
  if (!o.message.empty()) {
    ask(o.message);
    return 0;
  }
  std::string line;
  if (!o.json) std::fprintf(stderr, "> ");
  while (std::getline(std::cin, line)) {
    if (!line.empty()) ask(line);
    if (!o.json) std::fprintf(stderr, "> ");
  }
  return 0;
}

}  // namespace

void add_chat_commands(CLI::App& app, CLI::App&, int& rc) {
  auto o = std::make_shared<ChatOptions>();
  auto* c = app.add_subcommand("chat", "Chat in the terminal: the answer streams token by token, with retrieval from the\n"
                                       "documents stored by `ut ingest`; without MESSAGE, one question per line from stdin");
  c->add_option("message", o->message, "The question (omit for an interactive session)");
  c->add_option("--db", o->db, "DuckDB file with the documents")->capture_default_str();
  c->add_option("--chat-model", o->chat_model, "GGUF chat model (default: the project's small models)");
  c->add_option("--embed-model", o->embed_model, "GGUF embedding model (default: the project's small models)");
  c->add_option("--max-tokens", o->max_tokens, "Tokens to generate")->capture_default_str()->check(CLI::Range(1, 4096));
  c->add_option("--temperature", o->temperature, "Sampling temperature (0: greedy)")->capture_default_str();
  c->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  c->add_option("--rag-k", o->rag_k, kRagKHelp)->capture_default_str()->check(CLI::Range(0, 32));
  c->add_flag("--no-rag", o->no_rag, "Answer without retrieval");
  c->add_flag("--json", o->json, "Each answer as one JSON object on stdout (text, tokens, timings, sources)");
  c->callback([o, &rc] { rc = chat(*o); });
}

}  // namespace ut::app
