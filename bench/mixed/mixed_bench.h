// `ut bench mixed`: the plan's tick, for real — chats with retrieval, SQL aggregations and document edits with
// re-embedding, all at once on the engine's queues while the UI heartbeat runs — against exactly the same work
// done one step after another (the sequential baseline), in the same run. On a GPU machine every lane uses the
// GPU: the engine's device is CUDA, the models run on it, the data path's kernels aggregate there.
//
//   ut::bench::MixedBenchOptions o;
//   o.quick = true;
//   int rc = ut::bench::run_mixed_bench(o);   // prints the table, saves o.json_path
#pragma once

#include <cstdint>
#include <string>

namespace ut::bench {

struct MixedBenchOptions {
  bool quick = false;
  int chats = 3, tokens = 32, queries = 6, edits = 8;
  int rounds = 5;                       // sequential + concurrent rounds (medians over them); --quick: 1
  uint64_t rows = 2'000'000;
  std::string json_path = "ut-bench-mixed.json";
  std::string embed_model, chat_model;  // empty: the project's default models
  std::string backend;                  // the engine's device; empty: the best available (CUDA on a GPU machine)
  int reserve_sms = 0;                  // EngineConfig::reserve_sms (-1: auto)
};

// Returns 0; throws ut::Error when the set-up fails (documents not embedded, a chat refused).
int run_mixed_bench(MixedBenchOptions o);

}  // namespace ut::bench
