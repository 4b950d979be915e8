#include "bench/ml/grammar_bench.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/report.h"
#include "timeline/error.h"
#include "workloads/ml/gen_run.h"
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

// CPU time of this thread in ms: sampling runs on one thread, and other processes' load does not count in it.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Rows of logits of prompt + answer, one per answer token (the row that predicted it), decoded in one batch.
std::vector<std::vector<float>> answer_rows(llama_context* ctx, const ut::ml::Model& m, std::vector<int32_t> all,
                                            std::size_t prompt_size) {
  llama_memory_clear(llama_get_memory(ctx), true);
  llama_batch b = llama_batch_init(static_cast<int32_t>(all.size()), 0, 1);
  for (std::size_t i = 0; i < all.size(); ++i) {
    b.token[i] = all[i];
    b.pos[i] = static_cast<llama_pos>(i);
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = i + 1 >= prompt_size;
  }
  b.n_tokens = static_cast<int32_t>(all.size());
  const int32_t rc = llama_decode(ctx, b);
  llama_batch_free(b);
  if (rc != 0) throw ut::ml::ModelError("[run_grammar_bench] decode of the answer failed");
  std::vector<std::vector<float>> rows;
  for (std::size_t i = prompt_size - 1; i + 1 < all.size(); ++i) {
    const float* l = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
    rows.emplace_back(l, l + m.n_vocab());
  }
  return rows;
}

// Sampling alone, replayed over the same rows: ms of CPU per token, ours and the grammar over the whole vocabulary.
std::pair<double, double> sampling_ms(const ut::ml::Model& m, const std::vector<std::vector<float>>& rows,
                                      const std::vector<int32_t>& prompt, const ut::ml::GenerateOptions& o) {
  ut::ml::GenRun ours(m, prompt, o);
  double t0 = thread_cpu_ms();
  std::size_t n = 0;  // tokens sampled (a sampled answer may end early)
  for (const auto& r : rows)
    if (++n, m.is_end_of_generation(ours.sample(r.data()))) break;
  const double ours_ms = (thread_cpu_ms() - t0) / static_cast<double>(n);
  llama_sampler* smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(smpl, llama_sampler_init_grammar(m.vocab(), o.grammar.c_str(), "root"));
  if (o.sampling.temperature <= 0) {
    llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
  } else {
    llama_sampler_chain_add(smpl, llama_sampler_init_top_k(o.sampling.top_k));
    llama_sampler_chain_add(smpl, llama_sampler_init_top_p(o.sampling.top_p, 1));
    llama_sampler_chain_add(smpl, llama_sampler_init_temp(o.sampling.temperature));
    llama_sampler_chain_add(smpl, llama_sampler_init_dist(o.sampling.seed));
  }
  std::vector<llama_token_data> cur;
  t0 = thread_cpu_ms();
  n = 0;
  for (const auto& r : rows) {
    ++n;
    cur.resize(r.size());
    for (std::size_t t = 0; t < r.size(); ++t) cur[t] = {static_cast<llama_token>(t), r[t], 0.0f};
    llama_token_data_array arr{cur.data(), cur.size(), -1, false};
    llama_sampler_apply(smpl, &arr);
    const llama_token tok = cur[static_cast<std::size_t>(arr.selected)].id;
    llama_sampler_accept(smpl, tok);
    if (m.is_end_of_generation(tok)) break;
  }
  const double whole_ms = (thread_cpu_ms() - t0) / static_cast<double>(n);
  llama_sampler_free(smpl);
  return {ours_ms, whole_ms};
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
  // The sampling cost alone, load-independent: a greedy JSON answer of max_tokens (end masked) replayed.
  GenerateOptions o;
  o.sampling.temperature = 0.0f;
  o.max_tokens = cfg.max_tokens;
  o.grammar = json_object_grammar();
  const auto answer = gen.chat(chat, o);
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), answer.tokens.begin(), answer.tokens.end());
  const auto rows = answer_rows(bare, *model, all, prompt.size());
  for (const float temperature : {0.0f, 0.7f}) {
    std::vector<double> ours_ms, whole_ms;
    for (int rep = 1; rep <= cfg.reps; ++rep) {
      o.sampling.temperature = temperature;
      o.sampling.seed = static_cast<uint32_t>(rep);
      const auto [a, w] = sampling_ms(*model, rows, prompt, o);
      ours_ms.push_back(a);
      whole_ms.push_back(w);
    }
    const std::string case_name = std::string("json_object sampling ") + (temperature > 0 ? "t=0.7" : "greedy");
    std::printf("%-28s ms of CPU per token: ours %.3f, %s %.3f (%zu rows)\n", case_name.c_str(), median(ours_ms),
                kWhole, median(whole_ms), rows.size());
    for (double v : ours_ms) report.add(case_name, "ours", "sample_cpu_ms_per_token", "ms", v);
    for (double v : whole_ms) report.add(case_name, kWhole, "sample_cpu_ms_per_token", "ms", v);
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
