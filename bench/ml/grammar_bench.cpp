#include "bench/ml/grammar_bench.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/report.h"
#include "timeline/error.h"
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

// The way JSON mode sampled before: llama.cpp's grammar sampler first in the chain, so it filters the whole
// vocabulary at every token (what a bare llama.cpp loop with a grammar does). Returns {tokens, decode tokens/s}.
std::pair<int, double> whole_vocabulary(llama_context* ctx, const ut::ml::Model& m, const std::vector<int32_t>& prompt,
                                        const ut::ml::SamplingOptions& s, const std::string& grammar, int max_tokens) {
  llama_memory_clear(llama_get_memory(ctx), true);
  llama_sampler* smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(smpl, llama_sampler_init_grammar(m.vocab(), grammar.c_str(), "root"));
  if (s.temperature <= 0) {
    llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
  } else {
    llama_sampler_chain_add(smpl, llama_sampler_init_top_k(s.top_k));
    llama_sampler_chain_add(smpl, llama_sampler_init_top_p(s.top_p, 1));
    llama_sampler_chain_add(smpl, llama_sampler_init_temp(s.temperature));
    llama_sampler_chain_add(smpl, llama_sampler_init_dist(s.seed));
  }
  std::vector<int32_t> p = prompt;
  if (llama_decode(ctx, llama_batch_get_one(p.data(), static_cast<int32_t>(p.size()))) != 0)
    throw ut::ml::ModelError("[run_grammar_bench] prefill failed");
  llama_token tok = llama_sampler_sample(smpl, ctx, -1);
  const auto t1 = std::chrono::steady_clock::now();
  int n = 1;
  while (!m.is_end_of_generation(tok) && n < max_tokens) {
    if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0) throw ut::ml::ModelError("[run_grammar_bench] decode failed");
    tok = llama_sampler_sample(smpl, ctx, -1);
    ++n;
  }
  if (m.is_end_of_generation(tok)) --n;  // as GenerateResult counts: the end token is not an answer token
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  llama_sampler_free(smpl);
  return {n, n > 1 && ms > 0 ? (n - 1) * 1000.0 / ms : 0.0};
}

}  // namespace

int run_grammar_bench(const GrammarBenchConfig& cfg, const std::string& json_path) {
  using namespace ut::ml;
  auto model = Model::load(cfg.model, ModelKind::decoder);
  Generator gen(model, {.n_ctx = 1024, .threads = cfg.threads});
  const std::vector<ChatMessage> chat = {
      {"system", "Answer with a JSON object with the keys package, section, description and depends."},
      {"user", "Describe the Debian package apt."}};
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 1024;
  cp.n_batch = 1024;
  cp.n_threads = cp.n_threads_batch = cfg.threads > 0 ? cfg.threads : model->compute_threads();
  cp.no_perf = true;
  llama_context* bare = llama_init_from_model(model->native(), cp);
  if (!bare) throw ModelError("[run_grammar_bench] could not create a context");
  const auto prompt = gen.tokenize_chat(chat);
  Report report("grammar");
  report.config() = {{"model", cfg.model}, {"reps", cfg.reps}, {"max_tokens", cfg.max_tokens},
                     {"threads", cp.n_threads}};
  std::printf("%s, %d answers per mode and side, interleaved (medians)\n%-20s %-14s %10s %8s\n", cfg.model.c_str(),
              cfg.reps, "mode", "side", "tokens/s", "tokens");
  const char* kWhole = "whole vocabulary";  // the grammar over every token's candidates (before)
  for (const bool json_object : {false, true})
    for (const float temperature : {0.0f, 0.7f}) {
      if (!json_object && temperature > 0) continue;  // free text greedy is the reference
      std::vector<double> tps, tokens, w_tps, w_tokens;
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
        if (!json_object) continue;
        const auto [n, rate] = whole_vocabulary(bare, *model, prompt, o.sampling, o.grammar, cfg.max_tokens);
        w_tps.push_back(rate);
        w_tokens.push_back(n);
      }
      const std::string case_name = std::string(json_object ? "json_object" : "text") + (temperature > 0 ? " t=0.7" : " greedy");
      std::printf("%-20s %-14s %10.1f %8.0f\n", case_name.c_str(), "ours", median(tps), median(tokens));
      for (double v : tps) report.add(case_name, "ours", "decode_tokens_per_s", "1/s", v);
      for (double v : tokens) report.add(case_name, "ours", "tokens", "tokens", v);
      if (!json_object) continue;
      std::printf("%-20s %-14s %10.1f %8.0f\n", case_name.c_str(), kWhole, median(w_tps), median(w_tokens));
      for (double v : w_tps) report.add(case_name, kWhole, "decode_tokens_per_s", "1/s", v);
      for (double v : w_tokens) report.add(case_name, kWhole, "tokens", "tokens", v);
    }
  llama_free(bare);
  report.add_note("ours: the drawn token is checked against the grammar, which filters the whole vocabulary only "
                  "when it rejects it; whole vocabulary: llama.cpp's grammar sampler first in the chain at every "
                  "token (how JSON mode sampled before). Greedy answers are the same tokens on both sides");
  report.add_note("decode tokens/s excludes the first token; an answer of one token counts as 0");
  report.write(json_path);
  std::printf("saved %s\n", json_path.c_str());
  return 0;
}

}  // namespace ut::bench
