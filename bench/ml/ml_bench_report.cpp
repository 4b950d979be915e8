// The text table and JSON of `ut bench ml` (and of the stand-alone ut_ml_bench the GPU machine runs).
#include <algorithm>
#include <cstdio>

#include "bench/ml/ml_bench.h"
#include "bench/report.h"
#include "workloads/ml/runtime.h"

namespace ut::bench {

using ml::Runtime;

namespace {

// The goals of the plan that one ML run checks, at the medians of its repetitions (as the table shows them);
// only on the real-size models: the tiny test models say nothing about them.
void add_goals(Report& report, const MlBenchReport& r) {
  if (!r.real_models) return;
  for (const auto& p : r.ttft)
    if (p.prompt_tokens == 512)
      report.add_goal({.kpi = "time to first token, 512-token prompt (0.5B shape)", .goal = "<= 25 ms",
                       .case_name = "prompt=512", .metric = "ttft_ms", .value = p.ms, .met = p.ms <= 25,
                       .peer = "bare llama.cpp", .peer_value = p.bare_ms});
  const EmbedPoint* peak = nullptr;
  for (const auto& e : r.embed)
    if (!peak || e.embeddings_per_s > peak->embeddings_per_s) peak = &e;
  if (peak)
    report.add_goal({.kpi = "bge-small embeddings/s, best batch size", .goal = ">= 20000 1/s",
                     .case_name = "embed batch=" + std::to_string(peak->batch), .metric = "embeddings_per_s",
                     .value = peak->embeddings_per_s, .met = peak->embeddings_per_s >= 20000});
  report.add_goal({.kpi = "embedding a batch of 32 through Q_ml vs bare llama.cpp", .goal = "<= 1.05x bare llama.cpp",
                   .case_name = "embed batch=" + std::to_string(r.embed_overhead_batch) + " through Q_ml",
                   .metric = "embed_ms", .value = r.embed_lane_ms, .met = r.embed_lane_ms <= 1.05 * r.embed_bare_ms,
                   .peer = "bare llama.cpp", .peer_value = r.embed_bare_ms});
  // The bare loop at its best of the two ways it samples (both are in the samples): taking the arg-max as our lane
  // does, or through llama.cpp's sampler chain (on the tiny CPU model the chain measured faster, unexplained).
  const bool chain_best = r.decode_bare_tps > r.decode_bare_argmax_tps;
  const double bare_best = chain_best ? r.decode_bare_tps : r.decode_bare_argmax_tps;
  report.add_goal({.kpi = "one chat's decode through the ML lane vs bare llama.cpp", .goal = ">= 0.95x bare llama.cpp",
                   .case_name = "decode " + std::to_string(r.decode_tokens) + " tokens, greedy",
                   .metric = "tokens_per_s", .value = r.decode_tps, .met = r.decode_tps >= 0.95 * bare_best,
                   .peer = chain_best ? "bare llama.cpp" : "bare llama.cpp, arg-max", .peer_value = bare_best,
                   .caveat = "the bare loop's better sampling of two: arg-max " +
                             std::to_string(static_cast<int>(r.decode_bare_argmax_tps)) + ", sampler chain " +
                             std::to_string(static_cast<int>(r.decode_bare_tps)) + " tokens/s"});
}

void add_config(Report& report, const MlBenchConfig& in, const MlBenchReport& r, const std::string& backend) {
  const MlBenchConfig cfg = with_defaults(in);
  report.config() = {{"quick", cfg.quick},
                     {"models_dir", cfg.models_dir},
                     {"embedder", r.embed_model},
                     {"decoder", r.decode_model},
                     {"real_size_models", r.real_models},
                     {"reps", cfg.reps},
                     {"embed_batches", cfg.embed_batches},
                     {"ttft_prompts", cfg.ttft_prompts},
                     {"prefill_chunk", 512},
                     {"prefill_chunks", cfg.prefill_chunks},
                     {"decode_tokens", cfg.decode_tokens},
                     {"batch_chats", cfg.batch_chats},
                     {"threads", r.threads},
                     {"llama_backend", backend},
                     {"llama_system_info", r.llama_system_info},
                     {"loadavg_before", r.load_before},
                     {"loadavg_after", r.load_after},
                     {"weight_bytes", r.decoder_weight_bytes},
                     {"seconds", r.seconds}};
  if (r.gpu.empty()) report.set_device("cpu", r.machine, "llama.cpp v0.5.0 CPU", static_cast<unsigned>(r.threads));
  else report.set_device("cuda", r.gpu, "llama.cpp v0.5.0 CUDA");
  report.add_note("the console table and the goals show the medians of the repetitions; the samples hold every "
                  "repetition");
  report.add_note("decode rows have two bare llama.cpp loops on the same persistent CPU threadpool as ours: \"bare "
                  "llama.cpp\" samples every token through llama_sampler_sample (the sampler chain), \"bare llama.cpp, "
                  "arg-max\" takes the arg-max of the logits as our lane does for greedy chats; the goal compares "
                  "against the faster of the two");
  if (!r.real_models)
    report.add_note("real-size models missing: tiny test models used (`ut models synth --real`); no goals checked");
}

}  // namespace

int run_and_report_ml_bench(const MlBenchConfig& cfg, const std::string& json_path) {
  const std::string gpu = Runtime::gpu_name();
  const std::string backend = gpu.empty() ? "llama.cpp v0.5.0 CPU" : "llama.cpp v0.5.0 CUDA on " + gpu;
  std::printf("ut bench ml%s — %s\n", cfg.quick ? " (quick)" : "", backend.c_str());
  Report report("ml");
  const auto r = run_ml_bench(cfg, [](const std::string& line) {
    std::printf("  .. %s\n", line.c_str());
    std::fflush(stdout);
  }, report);
  std::printf("\nmachine: %s, %d threads; load average %s before, %s after (medians of %d runs shown)%s\n",
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
  const double bare_best = std::max(r.decode_bare_argmax_tps, r.decode_bare_tps);
  const double d_over = bare_best > 0 ? (1.0 - r.decode_tps / bare_best) * 100.0 : 0.0;
  std::printf("  decode (%d tokens, greedy): %.1f tokens/s; bare llama.cpp %.1f tokens/s taking the arg-max as we do, "
              "%.1f through its sampler chain; overhead against the better %+.1f%%\n",
              r.decode_tokens, r.decode_tps, r.decode_bare_argmax_tps, r.decode_bare_tps, d_over);
  if (r.roofline_tps > 0)
    std::printf("  roofline: %.1f MB of weights per token at %.0f GB/s measured copy bandwidth = %.0f tokens/s; "
                "decode reaches %.1f%% of it\n",
                r.decoder_weight_bytes / 1e6, r.copy_bytes_per_s / 1e9, r.roofline_tps,
                100.0 * r.decode_tps / r.roofline_tps);
  for (const auto& b : r.batched)
    std::printf("  %2d chats decoded together: %.1f tokens/s in all, bare llama.cpp %.1f taking the arg-max (%.2fx), "
                "%.1f through its sampler chain; per step %.2f ms decode + %.2f ms sampling\n",
                b.chats, b.tokens_per_s, b.bare_argmax_tokens_per_s,
                b.bare_argmax_tokens_per_s > 0 ? b.tokens_per_s / b.bare_argmax_tokens_per_s : 0.0, b.bare_tokens_per_s,
                b.step_ms, b.sample_ms);
  std::printf("total %.1f s\n", r.seconds);

  add_config(report, cfg, r, backend);
  add_goals(report, r);
  report.write(json_path);
  std::printf("saved %s\n", json_path.c_str());
  return 0;
}

}  // namespace ut::bench
