// `ut bench qa`: do the engine's answers name the right package? A fixed set of 50 held-out Debian questions with
// known answers (models/debian/qa-eval.jsonl, tools/train/make_qa_set.py) is asked through the Assistant — the
// same path as `ut chat` and POST /v1/chat/completions — once with retrieval over 1,000 stored package documents
// and once without; an answer is right when its first line names the package. Greedy decoding, so one run is
// the measurement (the answers are in the JSON).
//
//   ut::bench::QaBenchOptions o;
//   o.json = "docs/measurements/qa-debian-50.json";
//   int rc = ut::bench::run_qa_bench(o);   // 0; throws ut::Error without the set or the trained models
#pragma once

#include <string>

namespace ut::bench {

struct QaBenchOptions {
  std::string set = "models/debian/qa-eval.jsonl";
  std::string json = "ut-bench-qa.json";
  std::string backend;  // the engine's device (empty: the best available)
  int max_tokens = 48;  // enough for the answer's first line
  int rag_k = 0;        // sources retrieved into the context (AssistantConfig::rag_k; 0: the engine's choice)
  int limit = 0;        // ask only the first N questions (0: all)
};

int run_qa_bench(const QaBenchOptions& o);

// True when `line` names `package`: one of its words (runs of letters, digits and + . -, trailing dots dropped),
// compared without case, is the package name. Exposed for the unit test.
bool names_package(const std::string& line, const std::string& package);

}  // namespace ut::bench
