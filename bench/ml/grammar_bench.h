// `ut bench grammar`: what response_format json_object costs. Decode tokens/s of the same chat answered as free
// text and under the JSON-object grammar, greedy and sampled, medians of reps: ours (the drawn token checked
// against the grammar, the whole vocabulary filtered only on a rejection) against llama.cpp's grammar sampler
// first in the chain at every token (how JSON mode sampled before), interleaved in one process.
//
//   ut::bench::GrammarBenchConfig cfg{.model = "models/debian/debian-llama-spm-f16.gguf", .reps = 5};
//   int rc = ut::bench::run_grammar_bench(cfg, "ut-bench-grammar.json");   // prints a table, writes the JSON
#pragma once

#include <string>

namespace ut::bench {

struct GrammarBenchConfig {
  std::string model = "models/debian/debian-llama-spm-f16.gguf";  // a decoder GGUF
  int reps = 5;          // answers per mode (seeds 1..reps); the median is reported
  int max_tokens = 120;
  int threads = 0;       // 0: the model's compute threads
};

int run_grammar_bench(const GrammarBenchConfig& cfg, const std::string& json_path);

}  // namespace ut::bench
