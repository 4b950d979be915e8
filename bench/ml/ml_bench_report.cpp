// The text table and JSON of `ut bench ml` (and of the stand-alone ut_ml_bench the GPU machine runs).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

#include "bench/ml/ml_bench.h"
#include "workloads/ml/runtime.h"

namespace ut::bench {

using ml::Runtime;

int run_and_report_ml_bench(const MlBenchConfig& cfg, const std::string& json_path) {
  const std::string gpu = Runtime::gpu_name();
  const std::string backend = gpu.empty() ? "llama.cpp v0.5.0 CPU" : "llama.cpp v0.5.0 CUDA on " + gpu;
  std::printf("ut bench ml%s — %s\n", cfg.quick ? " (quick)" : "", backend.c_str());
  const auto r = run_ml_bench(cfg, [](const std::string& line) {
    std::printf("  .. %s\n", line.c_str());
    std::fflush(stdout);
  });
  std::printf("\nmachine: %s, %d threads; load average %s before, %s after (best of %d runs shown)%s\n",
              r.machine.c_str(), r.threads, r.load_before.c_str(), r.load_after.c_str(), cfg.quick ? 2 : 3,
              r.real_models ? "" : "  [real-size models missing: tiny test models used; run `ut models synth --real`]");
  std::printf("embedder: %s\n", r.embed_model.c_str());
  std::printf("  %-8s %14s %14s %10s\n", "batch", "embeddings/s", "tokens/s", "ms");
  for (const auto& p : r.embed)
    std::printf("  %-8d %14.1f %14.0f %10.2f\n", p.batch, p.embeddings_per_s, p.tokens_per_s, p.ms);
  const double e_over = r.embed_bare_ms > 0 ? (r.embed_lane_ms / r.embed_bare_ms - 1.0) * 100.0 : 0.0;
  std::printf("  batch %d through Q_ml: %.2f ms, bare llama.cpp: %.2f ms, overhead %+.1f%%\n", r.embed_overhead_batch,
              r.embed_lane_ms, r.embed_bare_ms, e_over);
  std::printf("decoder: %s\n", r.decode_model.c_str());
  std::printf("  %-14s %12s %12s %10s\n", "prompt tokens", "TTFT ms", "bare ms", "overhead");
  for (const auto& p : r.ttft)
    std::printf("  %-14d %12.1f %12.1f %+9.1f%%\n", p.prompt_tokens, p.ms, p.bare_ms, (p.ms / p.bare_ms - 1.0) * 100.0);
  for (const auto& p : r.chunks)
    std::printf("  prefill chunk %-4d (512-token prompt): TTFT %.1f ms, longest single step %.1f ms\n", p.chunk, p.ms,
                p.max_step_ms);
  if (r.reuse_ms >= 0)
    std::printf("  second turn (512 cached + 32 new tokens): TTFT %.1f ms with prefix reuse, %.1f ms without\n",
                r.reuse_ms, r.no_reuse_ms);
  const double d_over = r.decode_bare_tps > 0 ? (1.0 - r.decode_tps / r.decode_bare_tps) * 100.0 : 0.0;
  std::printf("  decode (%d tokens, greedy): %.1f tokens/s, bare llama.cpp %.1f tokens/s, overhead %+.1f%%\n",
              r.decode_tokens, r.decode_tps, r.decode_bare_tps, d_over);
  if (r.roofline_tps > 0)
    std::printf("  roofline: %.1f MB of weights per token at %.0f GB/s measured copy bandwidth = %.0f tokens/s; "
                "decode reaches %.1f%% of it\n",
                r.decoder_weight_bytes / 1e6, r.copy_bytes_per_s / 1e9, r.roofline_tps,
                100.0 * r.decode_tps / r.roofline_tps);
  for (const auto& b : r.batched)
    std::printf("  %2d chats decoded together: %.1f tokens/s in all, bare llama.cpp %.1f (%.2fx); per step %.2f ms "
                "decode + %.2f ms sampling\n",
                b.chats, b.tokens_per_s, b.bare_tokens_per_s,
                b.bare_tokens_per_s > 0 ? b.tokens_per_s / b.bare_tokens_per_s : 0.0, b.step_ms, b.sample_ms);
  std::printf("total %.1f s\n", r.seconds);

  nlohmann::json j;
  j["suite"] = "ml";
  j["quick"] = cfg.quick;
  j["machine"] = {{"cpu", r.machine},           {"threads", r.threads},
                  {"backend", backend},         {"gpu", gpu},
                  {"llama_system_info", r.llama_system_info},
                  {"loadavg_before", r.load_before}, {"loadavg_after", r.load_after}};
  j["statistic"] = "best of repetitions (ours and bare interleaved)";
  j["real_size_models"] = r.real_models;
  j["embedder"] = r.embed_model;
  for (const auto& p : r.embed)
    j["embeddings"].push_back({{"batch", p.batch}, {"embeddings_per_s", p.embeddings_per_s},
                               {"tokens_per_s", p.tokens_per_s}, {"ms", p.ms}});
  j["embed_overhead"] = {{"batch", r.embed_overhead_batch}, {"lane_ms", r.embed_lane_ms},
                         {"bare_ms", r.embed_bare_ms}, {"overhead_pct", e_over}};
  j["decoder"] = r.decode_model;
  for (const auto& p : r.ttft)
    j["ttft"].push_back({{"prompt_tokens", p.prompt_tokens}, {"prefill_chunk", p.chunk}, {"ms", p.ms},
                         {"bare_ms", p.bare_ms}, {"overhead_pct", (p.ms / p.bare_ms - 1.0) * 100.0}});
  for (const auto& p : r.chunks)
    j["prefill_chunks"].push_back({{"prompt_tokens", p.prompt_tokens}, {"prefill_chunk", p.chunk},
                                   {"ttft_ms", p.ms}, {"longest_step_ms", p.max_step_ms}});
  if (r.reuse_ms >= 0)
    j["prefix_reuse"] = {{"cached_tokens", 512}, {"new_tokens", 32}, {"ttft_ms", r.reuse_ms},
                         {"ttft_without_reuse_ms", r.no_reuse_ms}};
  j["decode"] = {{"tokens", r.decode_tokens}, {"tokens_per_s", r.decode_tps},
                 {"bare_tokens_per_s", r.decode_bare_tps}, {"overhead_pct", d_over}};
  for (const auto& b : r.batched)
    j["batched_decode"].push_back({{"chats", b.chats}, {"tokens_per_s", b.tokens_per_s},
                                   {"bare_tokens_per_s", b.bare_tokens_per_s}, {"step_ms", b.step_ms},
                                   {"sample_ms", b.sample_ms}});
  if (r.roofline_tps > 0)
    j["decode_roofline"] = {{"weight_bytes", r.decoder_weight_bytes}, {"copy_bytes_per_s", r.copy_bytes_per_s},
                            {"roofline_tokens_per_s", r.roofline_tps},
                            {"fraction_of_roofline", r.decode_tps / r.roofline_tps}};
  j["seconds"] = r.seconds;
  std::ofstream(json_path) << j.dump(2) << "\n";
  std::printf("saved %s\n", json_path.c_str());
  return 0;
}

}  // namespace ut::bench
