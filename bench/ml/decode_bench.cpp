#include "bench/ml/decode_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "bench/ml/bare_llama.h"
#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "workloads/ml/gpu_decoder.h"
#include "workloads/ml/runtime.h"
#include "workloads/ml/synth.h"

namespace ut::bench {

using namespace ut::ml;

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) { return summarize(v).median.value_or(0.0); }

std::vector<int32_t> random_prompt(std::mt19937_64& rng, int n_vocab, int n) {
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<int32_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = pick(rng);
  return t;
}

std::string decoder_path(const DecodeBenchConfig& cfg, const std::string& tmp) {
  if (!cfg.model.empty()) return cfg.model;
  const SynthSpec spec = SynthSpec::qwen25_05b();
  const std::string in_dir = cfg.models_dir + "/" + spec.file_name;
  if (std::filesystem::exists(in_dir)) return in_dir;
  const std::string path = tmp + "/" + spec.file_name;
  std::printf("writing %s (random weights, %s shape) ...\n", path.c_str(), spec.name.c_str());
  std::fflush(stdout);
  write_synthetic_model(spec, path);
  return path;
}

// Device-to-device copy bandwidth through the timeline (a copy command on the CUDA queue, 2 GiB), bytes read +
// written per second: what streaming every weight once per token costs at best. Five copies after a warm-up.
std::vector<double> copy_bandwidth(Device& dev, Queue& q) {
  constexpr std::size_t kBytes = std::size_t{2} << 30;
  Buffer a = dev.make_buffer(kBytes, StorageMode::device, "bandwidth.src");
  Buffer b = dev.make_buffer(kBytes, StorageMode::device, "bandwidth.dst");
  std::vector<double> rates;
  for (int r = 0; r < 6; ++r) {
    const auto t0 = Clock::now();
    auto cb = q.make_command_buffer("bandwidth");
    cb.copy(a, 0, b, 0, kBytes).commit();
    cb.wait_until_completed();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r > 0) rates.push_back(2.0 * kBytes / s);
  }
  return rates;
}

}  // namespace

int run_and_report_decode_bench(const DecodeBenchConfig& cfg, const std::string& json_path) {
  Runtime::ensure();
  std::string why;
  for (const auto& b : Device::backends())
    if (b.name == "cuda" && !b.available) why = b.reason;
  if (why.empty() && !cfg.own_only && Runtime::gpu_name().empty())
    why = "ggml's CUDA backend found no GPU (" + Runtime::cuda_dir() + "; --own-only measures our side alone)";
  if (!why.empty()) throw UsageError("[ut bench decode] needs a CUDA GPU: " + why);
  const ScratchDir scratch("ut-bench-decode");
  const std::string path = decoder_path(cfg, scratch.path());

  auto dev = Device::create({.backend = "cuda"});
  auto q_ml = dev->make_queue({.kind = QueueKind::compute, .label = "Q_ml"});
  const int n_ctx = std::max(1024, cfg.prompt + cfg.tokens + 16);
  auto t_load = Clock::now();
  GpuDecoder own(dev, q_ml, path, {.n_ctx = n_ctx});
  const double own_load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  ModelPtr model;
  CtxPtr bare;
  if (!cfg.own_only) {
    model = Model::load(path, ModelKind::decoder, {.placement = Placement::gpu});
    bare = bare_decoder_ctx(*model, n_ctx, 512);
  }
  std::printf("decode: %s on %s (own path loaded in %.1f s, %.0f MB of F16 weights)\n",
              std::filesystem::path(path).filename().c_str(), dev->caps().name.c_str(), own_load_s,
              own.weight_bytes() / 1e6);

  std::mt19937_64 rng(20261207);
  const int n_vocab = own.shape().n_vocab;
  own.set_overlap_launches(false);
  own.generate(random_prompt(rng, n_vocab, 16), 8);  // warm-up, both ways: the step's graphs are captured here
  own.reset();
  own.set_overlap_launches(true);
  own.generate(random_prompt(rng, n_vocab, 16), 8);
  if (bare) bare_generate(bare.get(), random_prompt(rng, n_vocab, 16), 512, 8, BareSampling::argmax);

  const std::string dc = "decode " + std::to_string(cfg.tokens) + " tokens, batch 1, greedy";
  std::vector<double> own_tps, own_plain_tps, llama_argmax, llama_chain;
  const auto own_run = [&](const std::vector<int32_t>& prompt, bool overlap, std::vector<double>& out) {
    own.set_overlap_launches(overlap);
    own.reset();
    own.feed(prompt);
    const auto t0 = Clock::now();
    own.generate({}, cfg.tokens);  // tokens - 1 steps: the first token came from the prompt's last step
    out.push_back((cfg.tokens - 1) / std::chrono::duration<double>(Clock::now() - t0).count());
  };
  for (int r = 0; r < cfg.reps; ++r) {
    const auto prompt = random_prompt(rng, n_vocab, cfg.prompt);
    const std::function<void()> runs[] = {
        [&] { own_run(prompt, true, own_tps); },
        [&] { own_run(prompt, false, own_plain_tps); },
        [&] {
          if (bare) llama_argmax.push_back(bare_generate(bare.get(), prompt, 512, cfg.tokens, BareSampling::argmax).second);
        },
        [&] {
          if (bare) llama_chain.push_back(bare_generate(bare.get(), prompt, 512, cfg.tokens, BareSampling::chain).second);
        }};
    for (int k = 0; k < 4; ++k) runs[(r + k) % 4]();
    std::printf("  rep %d: own %.0f tokens/s (plain stream order %.0f), llama.cpp %.0f (arg-max) / %.0f (sampler chain)\n",
                r + 1, own_tps.back(), own_plain_tps.back(), bare ? llama_argmax.back() : 0.0,
                bare ? llama_chain.back() : 0.0);
  }
  const auto rates = copy_bandwidth(*dev, *q_ml);
  const double weight_bytes = static_cast<double>(own.weight_bytes());
  const double roofline = rates.empty() ? 0.0 : median(rates) / weight_bytes;

  std::vector<double> batched;
  if (cfg.chats > 0 && model) {
    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < cfg.chats; ++i) prompts.push_back(random_prompt(rng, n_vocab, 128));
    for (int r = 0; r < cfg.reps; ++r)
      batched.push_back(bare_batched_tps(*model, prompts, std::min(cfg.tokens, 128), BareSampling::argmax));
  }

  Report rep("decode");
  rep.set_device(dev->caps());
  rep.config() = {{"model", std::filesystem::path(path).filename().string()},
                  {"tokens", cfg.tokens},
                  {"prompt_tokens", cfg.prompt},
                  {"reps", cfg.reps},
                  {"chats", cfg.chats},
                  {"own_only", cfg.own_only},
                  {"roofline", "median device-to-device copy rate (bytes read + written) through a copy command on the same queue / F16 weight bytes"},
                  {"llama_cpp", "bare loop on llama.cpp's CUDA backend, all layers on the GPU, one llama_decode per token"},
                  {"own", "GpuDecoder: F16 weights, one command buffer per step on a CUDA queue, replayed as a CUDA graph"}};
  rep.add(dc, "ours (own CUDA path)", "tokens_per_s", "tokens/s", own_tps);
  rep.add(dc, "ours, kernels in plain stream order", "tokens_per_s", "tokens/s", own_plain_tps);
  rep.add(dc, "llama.cpp, arg-max", "tokens_per_s", "tokens/s", llama_argmax);
  rep.add(dc, "llama.cpp, sampler chain", "tokens_per_s", "tokens/s", llama_chain);
  rep.add("copy bandwidth", "device", "copy_bytes_per_s", "B/s", rates);
  if (!batched.empty()) rep.add("batched decode chats=" + std::to_string(cfg.chats), "llama.cpp, arg-max", "tokens_per_s", "tokens/s", batched);
  const double own_m = median(own_tps);
  const double llama_m = model ? std::max(median(llama_argmax), median(llama_chain)) : 0.0;
  rep.add_goal({.kpi = "batch-1 decode, share of the copy-bandwidth roofline", .goal = ">= 0.5x roofline",
                .case_name = dc, .metric = "tokens_per_s", .value = own_m, .met = roofline > 0 && own_m >= 0.5 * roofline,
                .detail = "roofline " + std::to_string(static_cast<int>(roofline)) + " tokens/s (median copy bandwidth / weight bytes)"});
  if (model)
    rep.add_goal({.kpi = "batch-1 decode vs llama.cpp on the same card", .goal = ">= 2.8x llama.cpp", .case_name = dc,
                  .metric = "tokens_per_s", .value = own_m, .met = own_m >= 2.8 * llama_m,
                  .peer = "llama.cpp (its faster sampling)", .peer_value = llama_m});
  else
    rep.add_note("--own-only: llama.cpp did not run (no comparison in this file)");
  rep.add_note("not measured (the own path has no batched decode, GEMM prefill or embedder yet): own_batch16_tok_s, "
               "ttft_rag_ms_p50, embeddings_per_s");
  auto j = rep.to_json();
  const auto num_or_null = [](double v) { return v > 0 ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
  j["own_decode"] = {{"device", dev->caps().name},
                     {"commit", build_info().commit},
                     {"roofline_tok_s", num_or_null(roofline)},
                     {"own_decode_tok_s", num_or_null(own_m)},
                     {"llama_cpp_decode_tok_s", num_or_null(llama_m)},
                     {"own_batch16_tok_s", nullptr},
                     {"llama_cpp_batch16_tok_s", num_or_null(batched.empty() ? 0 : median(batched))},
                     {"ttft_rag_ms_p50", nullptr},
                     {"embeddings_per_s", nullptr}};
  std::ofstream(json_path) << j.dump(2) << "\n";
  std::printf("own path %.0f tokens/s, llama.cpp %.0f tokens/s (%.2fx), roofline %.0f tokens/s (own at %.0f%%)%s\n",
              own_m, llama_m, llama_m > 0 ? own_m / llama_m : 0.0, roofline, roofline > 0 ? 100 * own_m / roofline : 0.0,
              batched.empty() ? "" : (", llama.cpp 16 chats " + std::to_string(static_cast<int>(median(batched))) + " tokens/s").c_str());
  std::printf("saved %s\n", json_path.c_str());
  return 0;
}

}  // namespace ut::bench
