// `ut bench serve`: load on any OpenAI-compatible server -- streamed chats alone, the same chats under a background
// embedding load, embeddings alone -- measured by one client (workloads/remote/openai_client.h), so `ut serve` and
// llama.cpp's llama-server are compared on equal terms.
//
//   ut::bench::ServeBenchOptions o{.label = "ut serve", .chat_url = "http://127.0.0.1:8080", .concurrency = {1, 4}};
//   int rc = ut::bench::run_serve_bench(o);   // 1 when no chat succeeded; prints a table, saves o.json_path
//   o.rates = {1, 2, 4};                      // open loop too: Poisson arrivals at each rate (bench/serve/open_loop.h)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ut::bench {

struct ServeBenchOptions {
  std::string label;                                // names the server in the report (default: the chat URL)
  std::string chat_url = "http://127.0.0.1:8080";
  std::string embed_url;                            // empty: chat_url
  std::string chat_model, embed_model;              // empty: picked from GET /v1/models
  std::string token;                                // bearer token; empty: none
  int chats = 16;                                   // chat requests per phase
  std::vector<int> concurrency = {1};               // one closed-loop measurement per value
  bool closed_loop = true;                          // false: skip the closed-loop chat phases
  std::vector<double> rates;                        // open loop: one phase per rate (requests/s, Poisson arrivals)
  int prompt_words = 200, max_tokens = 64;
  bool ignore_eos = true;
  int embed_clients = 2, embed_batch = 32;
  double embed_seconds = 5;                         // the embeddings-alone phase
  double warmup_s = 1;                              // embedding load before the chats start
  uint64_t seed = 1;
  double timeout_s = 120;                           // per request
  std::string json_path = "ut-bench-serve.json";
};

int run_serve_bench(const ServeBenchOptions& o);

// "1,4,16" -> {1, 4, 16}; throws std::invalid_argument unless every item is a number 1..1024.
std::vector<int> parse_concurrency(const std::string& s);
// "0.5,1,2" -> {0.5, 1, 2} (empty: none); throws std::invalid_argument unless every item is in (0, 10000].
std::vector<double> parse_rates(const std::string& s);

}  // namespace ut::bench
