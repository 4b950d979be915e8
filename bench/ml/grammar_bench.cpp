#include "bench/ml/grammar_bench.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/report.h"
#include "workloads/ml/generator.h"
#include "workloads/ml/json_grammar.h"

namespace ut::bench {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int run_grammar_bench(const GrammarBenchConfig& cfg, const std::string& json_path) {
  using namespace ut::ml;
  auto model = Model::load(cfg.model, ModelKind::decoder);
  Generator gen(model, {.n_ctx = 1024, .threads = cfg.threads});
  const std::vector<ChatMessage> chat = {
      {"system", "Answer with a JSON object with the keys package, section, description and depends."},
      {"user", "Describe the Debian package apt."}};
  Report report("grammar");
  report.config() = {{"model", cfg.model}, {"reps", cfg.reps}, {"max_tokens", cfg.max_tokens},
                     {"threads", gen.model()->compute_threads()}};
  std::printf("%s, %d answers per mode (medians)\n%-12s %-8s %10s %10s\n", cfg.model.c_str(), cfg.reps, "format",
              "sampling", "tokens/s", "tokens");
  for (const bool json_object : {false, true})
    for (const float temperature : {0.0f, 0.7f}) {
      std::vector<double> tps, tokens;
      for (int rep = 1; rep <= cfg.reps; ++rep) {
        GenerateOptions o;
        o.sampling.temperature = temperature;
        o.sampling.seed = static_cast<uint32_t>(rep);
        o.max_tokens = cfg.max_tokens;
        if (json_object) o.grammar = json_object_grammar();
        gen.reset();  // every answer computes its prompt: the same work per repetition
        const auto r = gen.chat(chat, o);
        tps.push_back(r.decode_tokens_per_s());
        tokens.push_back(static_cast<double>(r.tokens.size()));
        if (rep == 1 && json_object && temperature > 0) std::printf("  first answer: %s\n", r.text.c_str());
      }
      const char* fmt = json_object ? "json_object" : "text";
      const char* smp = temperature > 0 ? "t=0.7" : "greedy";
      std::printf("%-12s %-8s %10.1f %10.0f\n", fmt, smp, median(tps), median(tokens));
      const std::string case_name = std::string(fmt) + " " + smp;
      for (double v : tps) report.add(case_name, "ours", "decode_tokens_per_s", "1/s", v);
      for (double v : tokens) report.add(case_name, "ours", "tokens", "tokens", v);
    }
  report.add_note("decode tokens/s excludes the first token; an answer of one token counts as 0");
  report.write(json_path);
  std::printf("saved %s\n", json_path.c_str());
  return 0;
}

}  // namespace ut::bench
