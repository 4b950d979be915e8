// `ut bench models`: how good the project's trained models are, against honest baselines, through llama.cpp —
// retrieval recall@1/5/10 of held-out packages (ours vs BM25 over the same text), the decoder's validation
// perplexity (F16 and Q8_0), and greedy answers with and without retrieved context.
//
//   ut::bench::ModelsBenchOptions o;
//   o.quick = true;
//   int rc = ut::bench::run_models_bench(o);   // needs data/corpus and data/examples (scripts/train-models.sh prepare)
#pragma once

#include <string>

namespace ut::bench {

struct ModelsBenchOptions {
  std::string corpus = "data/corpus", examples = "data/examples", models = "models/debian", json = "ut-bench-models.json";
  bool quick = false;
};

// Returns 0; throws ut::Error when the corpus, the examples or the models are missing.
int run_models_bench(const ModelsBenchOptions& o);

}  // namespace ut::bench
