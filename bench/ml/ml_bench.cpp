#include "bench/ml/ml_bench.h"

#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <unistd.h>

#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "timeline/device.h"
#include "bench/ml/bare_llama.h"
#include "workloads/ml/batched_generator.h"
#include "workloads/ml/cpu_threadpool.h"
#include "workloads/ml/lane.h"
#include "workloads/ml/runtime.h"
#include "workloads/ml/synth.h"

namespace ut::bench {

using namespace ut::ml;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The median of the repetitions (the report's summary statistic; a best-of would only show the luckiest run).
double median_of(const std::vector<double>& v) { return summarize(v).median.value_or(0.0); }

constexpr const char* kBare = "bare llama.cpp";  // the peer's side in the report (llama.cpp's sampler chain)
constexpr const char* kBareArgmax = "bare llama.cpp, arg-max";  // the same loop taking the arg-max, as ours does

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  return "unknown CPU";
}

std::vector<std::string> sentences(std::mt19937_64& rng, int n) {
  static const char* words[] = {"the",  "engine", "renders", "a",      "frame",  "while", "the",   "model",
                                "reads", "rows",  "from",    "DuckDB", "and",    "every", "query", "streams",
                                "fast", "small",  "vector",  "search", "finds",  "notes", "about", "budgets"};
  std::uniform_int_distribution<int> len(6, 12);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(words) - 1);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    for (int w = len(rng); w > 0; --w) s += std::string(words[pick(rng)]) + (w > 1 ? " " : ".");
    out.push_back(s);
  }
  return out;
}

// Exactly n prompt tokens of ordinary text.
std::vector<int32_t> prompt_of(const Model& m, int n, std::mt19937_64& rng) {
  std::vector<int32_t> toks = m.tokenize(sentences(rng, 1)[0], true);
  while (static_cast<int>(toks.size()) < n) {
    auto more = m.tokenize(" " + sentences(rng, 1)[0], false);
    toks.insert(toks.end(), more.begin(), more.end());
  }
  toks.resize(static_cast<std::size_t>(n));
  return toks;
}

// Ours on the same work: the BatchedGenerator's decode-only steps, timed around step(). Each such step's
// llama_decode and sampling times go to step_ms / sample_ms.
BatchPoint batched_tps(const ModelPtr& m, const std::vector<std::vector<int32_t>>& prompts, int n_gen,
                       std::vector<double>& step_ms, std::vector<double>& sample_ms) {
  const int n = static_cast<int>(prompts.size());
  BatchedGenerator g(m, {.slots = n, .n_ctx = 1024, .step_tokens = 512});
  GenerateOptions o;
  o.sampling.temperature = 0.0f;
  o.max_tokens = n_gen;
  o.ignore_eog = true;
  for (const auto& p : prompts) g.submit(p, o, [](GenerateResult, std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  BatchPoint bp{.chats = n};
  double ms = 0;
  int tokens = 0, steps = 0;
  for (;;) {
    const auto t = Clock::now();
    const bool more = g.step();
    const BatchStep s = g.last_step();
    if (s.prefilled == 0 && s.decoded == n) {  // every chat decoding: the phase the bare loop times
      ms += ms_between(t, Clock::now());
      tokens += s.decoded;
      bp.step_ms += s.ms;
      bp.sample_ms += s.sample_ms;
      step_ms.push_back(s.ms);
      sample_ms.push_back(s.sample_ms);
      ++steps;
    }
    if (!more) break;
  }
  if (steps > 0) {
    bp.tokens_per_s = tokens * 1000.0 / ms;
    bp.step_ms /= steps;
    bp.sample_ms /= steps;
  }
  return bp;
}

// --- our lane -------------------------------------------------------------------------------------------
struct LaneGen {
  MlLane& lane;
  std::shared_ptr<Generator> gen;
  // Commit -> first token popped from the ring (ttft), and decode tokens/s seen by the reader.
  std::pair<double, double> run(const std::vector<int32_t>& prompt, int n_gen, double* max_step = nullptr,
                                bool reset = true) {
    if (reset) gen->reset();
    RingBuffer<StreamToken> ring(static_cast<std::size_t>(n_gen) + 8);
    GenerateOptions o;
    o.sampling.temperature = 0.0f;
    o.max_tokens = n_gen;
    o.ignore_eog = true;  // like the bare loop: always n_gen tokens
    o.ring = &ring;
    auto out = std::make_shared<GenerateResult>();
    auto done = lane.device()->make_event("E_gen");
    const auto t0 = Clock::now();
    lane.generate(gen, [prompt] { return prompt; }, o, out, done, 1);
    Clock::time_point first{}, last{};
    int n = 0;
    while (auto t = ring.pop_wait(600s)) {
      if (t->last) break;
      last = Clock::now();
      if (n++ == 0) first = last;
    }
    done->wait(1);
    if (max_step) *max_step = out->max_step_ms;
    return {ms_between(t0, first), n > 1 ? (n - 1) * 1000.0 / ms_between(first, last) : 0.0};
  }
};

std::string find_or_make(const std::string& dir, const SynthSpec& real, const SynthSpec& tiny,
                         const std::string& tmp, bool& is_real) {
  const std::string p = dir + "/" + real.file_name;
  if (std::filesystem::exists(p)) {
    is_real = true;
    return p;
  }
  is_real = false;
  const std::string t = tmp + "/" + tiny.file_name;
  if (!std::filesystem::exists(t)) write_synthetic_model(tiny, t);
  return t;
}

// The embedder: batches of 1..256 sentences, then one batch through Q_ml against the bare loop, interleaved.
void measure_embeddings(const MlBenchConfig& cfg, const std::string& emb_path, const DevicePtr& dev, MlLane& lane,
                        std::mt19937_64& rng, MlBenchReport& rep, Report& samples,
                        const std::function<void(const std::string&)>& progress) {
  auto model = Model::load(emb_path, ModelKind::embedder);
  rep.embed_model = model->info().name + " (" + std::filesystem::path(emb_path).filename().string() + ")";
  progress("embeddings: " + rep.embed_model);
  auto heap = dev->make_heap({.size = 64 << 20, .mode = StorageMode::shared, .label = "B_embed"});
  Embedder emb(model, heap);  // default packing: 1024 tokens / 64 inputs per decode
  emb.embed(sentences(rng, 4));  // warm-up
  for (int b : cfg.embed_batches) {
    auto texts = sentences(rng, b);
    std::vector<double> ms;
    std::size_t tokens = 0;
    const std::string c = "embed batch=" + std::to_string(b);
    for (int r = 0; r < cfg.reps; ++r) {
      const auto t0 = Clock::now();
      auto res = emb.embed(texts);
      ms.push_back(ms_between(t0, Clock::now()));
      tokens = res.total_tokens;
      samples.add(c, "ours", "embeddings_per_s", "1/s", b * 1000.0 / ms.back());
      samples.add(c, "ours", "batch_ms", "ms", ms.back());
      samples.add(c, "ours", "tokens_per_s", "tokens/s", static_cast<double>(tokens) * 1000.0 / ms.back());
    }
    const double m = median_of(ms);
    rep.embed.push_back({b, b * 1000.0 / m, static_cast<double>(tokens) * 1000.0 / m, m});
    progress("  batch " + std::to_string(b) + ": " + std::to_string(static_cast<int>(b * 1000.0 / m)) +
             " embeddings/s");
  }
  // Lane vs bare on one batch, interleaved.
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = 1024;
  cp.n_seq_max = 64;
  cp.n_threads = cp.n_threads_batch = model->compute_threads();
  cp.embeddings = true;
  cp.no_perf = true;
  CtxPtr bare(llama_init_from_model(model->native(), cp));
  if (!bare) throw ModelError("[run_ml_bench] bare embedding context failed");
  attach_bare_pool(bare.get());
  auto texts = sentences(rng, rep.embed_overhead_batch);
  std::vector<double> lane_ms, bare_ms;
  // A batch takes milliseconds on a GPU: more repetitions there make the lane-vs-bare ratio stable.
  for (int r = 0; r < (model->on_gpu() ? 20 : std::max(cfg.reps, 3)); ++r) {
    bare_ms.push_back(bare_embed_ms(*model, bare.get(), texts));
    auto job = std::make_shared<EmbedJob>();
    job->texts = texts;
    auto e = dev->make_event("E_embed");
    const auto t0 = Clock::now();
    auto cb = lane.queue()->make_command_buffer("embed");
    MlLane::encode_embed(cb, emb, job).signal(e, 1).commit();
    e->wait(1);
    lane_ms.push_back(ms_between(t0, Clock::now()));
  }
  const std::string c = "embed batch=" + std::to_string(rep.embed_overhead_batch) + " through Q_ml";
  samples.add(c, "ours", "embed_ms", "ms", lane_ms);
  samples.add(c, kBare, "embed_ms", "ms", bare_ms);
  rep.embed_lane_ms = median_of(lane_ms);
  rep.embed_bare_ms = median_of(bare_ms);
}

// Time to first token per prompt length (ours and bare, interleaved), prefill chunk sizes, prefix reuse.
void measure_prefill(const MlBenchConfig& cfg, const ModelPtr& model, LaneGen& ours, llama_context* bare, int n_ctx,
                     MlLane& lane, std::mt19937_64& rng, MlBenchReport& rep, Report& samples,
                     const std::function<void(const std::string&)>& progress) {
  for (int n : cfg.ttft_prompts) {
    auto prompt = prompt_of(*model, n, rng);
    std::vector<double> a, b;
    const int reps = model->on_gpu() ? 10 : n >= 2048 ? 1 : cfg.reps;
    double step = 0;
    for (int r = 0; r < reps; ++r) {
      a.push_back(ours.run(prompt, 1, &step).first);
      b.push_back(bare_generate(bare, prompt, 512, 1).first);
    }
    samples.add("prompt=" + std::to_string(n), "ours", "ttft_ms", "ms", a);
    samples.add("prompt=" + std::to_string(n), kBare, "ttft_ms", "ms", b);
    rep.ttft.push_back({n, 512, median_of(a), median_of(b), step});
    progress("  ttft " + std::to_string(n) + " tokens: " + std::to_string(static_cast<int>(median_of(a))) +
             " ms (bare " + std::to_string(static_cast<int>(median_of(b))) + " ms)");
  }
  for (int c : cfg.prefill_chunks) {
    LaneGen g{lane, std::make_shared<Generator>(model, GeneratorOptions{.n_ctx = n_ctx, .prefill_chunk = c})};
    double step = 0;
    const double ms = g.run(prompt_of(*model, 512, rng), 1, &step).first;
    const std::string k = "prompt=512 chunk=" + std::to_string(c);
    samples.add(k, "ours", "ttft_ms", "ms", ms);
    samples.add(k, "ours", "longest_step_ms", "ms", step);
    rep.chunks.push_back({512, c, ms, -1, step});
    progress("  prefill chunk " + std::to_string(c) + ": ttft " + std::to_string(static_cast<int>(ms)) +
             " ms, longest step " + std::to_string(static_cast<int>(step)) + " ms");
  }
  if (cfg.quick) return;
  // Second turn of a conversation: 512 tokens already in the KV cache, 32 new ones.
  auto turn1 = prompt_of(*model, 512, rng);
  auto turn2 = turn1;
  auto more = prompt_of(*model, 33, rng);
  turn2.insert(turn2.end(), more.begin() + 1, more.end());
  ours.run(turn1, 1);
  rep.reuse_ms = ours.run(turn2, 1, nullptr, /*reset=*/false).first;
  rep.no_reuse_ms = ours.run(turn2, 1).first;
  samples.add("second turn, 512 cached + 32 new tokens", "ours", "ttft_ms", "ms", rep.reuse_ms);
  samples.add("second turn, 512 cached + 32 new tokens", "ours, no prefix reuse", "ttft_ms", "ms", rep.no_reuse_ms);
  progress("  second turn (512 cached + 32 new tokens): ttft " + std::to_string(static_cast<int>(rep.reuse_ms)) +
           " ms with prefix reuse, " + std::to_string(static_cast<int>(rep.no_reuse_ms)) + " ms without");
}

// Decode speed of one chat (ours and bare), the copy-bandwidth roofline on a GPU, and concurrent chats decoded
// together.
void measure_decode(const MlBenchConfig& cfg, const ModelPtr& model, LaneGen& ours, llama_context* bare,
                    std::mt19937_64& rng, MlBenchReport& rep, Report& samples,
                    const std::function<void(const std::string&)>& progress) {
  rep.decode_tokens = cfg.decode_tokens;
  const std::string dc = "decode " + std::to_string(cfg.decode_tokens) + " tokens, greedy";
  std::vector<double> a, b, b_argmax;
  for (int r = 0; r < cfg.reps; ++r) {  // the three interleaved, on the same prompt, each first in turn: the
    auto prompt = prompt_of(*model, 32, rng);  // one after a different loop pays for waking its thread pool
    const std::function<void()> runs[] = {
        [&] { a.push_back(ours.run(prompt, cfg.decode_tokens).second); },
        [&] { b_argmax.push_back(bare_generate(bare, prompt, 512, cfg.decode_tokens, BareSampling::argmax).second); },
        [&] { b.push_back(bare_generate(bare, prompt, 512, cfg.decode_tokens).second); }};
    for (int k = 0; k < 3; ++k) runs[(r + k) % 3]();
  }
  samples.add(dc, "ours", "tokens_per_s", "tokens/s", a);
  samples.add(dc, kBare, "tokens_per_s", "tokens/s", b);
  samples.add(dc, kBareArgmax, "tokens_per_s", "tokens/s", b_argmax);
  rep.decode_tps = median_of(a);
  rep.decode_bare_tps = median_of(b);
  rep.decode_bare_argmax_tps = median_of(b_argmax);
  rep.decoder_weight_bytes = static_cast<double>(model->size_bytes());
  if (model->on_gpu()) {
    const auto rates = copy_bandwidth(Runtime::gpu_device());
    samples.add("copy bandwidth", "ours", "copy_bytes_per_s", "B/s", rates);
    rep.copy_bytes_per_s = median_of(rates);
    if (rep.copy_bytes_per_s > 0) rep.roofline_tps = rep.copy_bytes_per_s / rep.decoder_weight_bytes;
  }
  progress("  decode: " + std::to_string(static_cast<int>(rep.decode_tps)) + " tokens/s (bare: arg-max " +
           std::to_string(static_cast<int>(rep.decode_bare_argmax_tps)) + ", sampler chain " +
           std::to_string(static_cast<int>(rep.decode_bare_tps)) + ")");
  for (int n : cfg.batch_chats) {
    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < n; ++i) prompts.push_back(prompt_of(*model, 128, rng));
    const std::string c = "batched decode chats=" + std::to_string(n);
    std::vector<double> ours_tps, bare_tps_v, bare_argmax_v, step_ms, sample_ms, rep_step, rep_sample;
    for (int r = 0; r < cfg.reps; ++r) {
      const auto bp = batched_tps(model, prompts, cfg.decode_tokens, step_ms, sample_ms);
      const double bare_tps = bare_batched_tps(*model, prompts, cfg.decode_tokens);
      const double bare_am = bare_batched_tps(*model, prompts, cfg.decode_tokens, BareSampling::argmax);
      ours_tps.push_back(bp.tokens_per_s);
      rep_step.push_back(bp.step_ms);
      rep_sample.push_back(bp.sample_ms);
      bare_tps_v.push_back(bare_tps);
      bare_argmax_v.push_back(bare_am);
      samples.add(c, "ours", "tokens_per_s", "tokens/s", bp.tokens_per_s);
      samples.add(c, kBare, "tokens_per_s", "tokens/s", bare_tps);
      samples.add(c, kBareArgmax, "tokens_per_s", "tokens/s", bare_am);
    }
    samples.add(c, "ours", "step_ms", "ms", step_ms);
    samples.add(c, "ours", "sample_ms", "ms", sample_ms);
    const BatchPoint point{.chats = n, .tokens_per_s = median_of(ours_tps), .bare_tokens_per_s = median_of(bare_tps_v),
                          .bare_argmax_tokens_per_s = median_of(bare_argmax_v), .step_ms = median_of(rep_step),
                          .sample_ms = median_of(rep_sample)};
    rep.batched.push_back(point);
    char line[200];
    std::snprintf(line, sizeof line,
                  "  %2d chats together: %.0f tokens/s (bare: arg-max %.0f, sampler chain %.0f); step %.2f ms + "
                  "sampling %.2f ms",
                  n, point.tokens_per_s, point.bare_argmax_tokens_per_s, point.bare_tokens_per_s, point.step_ms,
                  point.sample_ms);
    progress(line);
  }
}

}  // namespace

MlBenchConfig with_defaults(const MlBenchConfig& in) {
  MlBenchConfig cfg = in;
  if (cfg.embed_batches.empty())
    cfg.embed_batches = cfg.quick ? std::vector<int>{1, 8, 32} : std::vector<int>{1, 2, 4, 8, 16, 32, 64, 128, 256};
  if (cfg.ttft_prompts.empty()) cfg.ttft_prompts = cfg.quick ? std::vector<int>{128} : std::vector<int>{128, 512, 2048};
  if (cfg.prefill_chunks.empty() && !cfg.quick) cfg.prefill_chunks = {64, 256, 512};
  if (cfg.decode_tokens <= 0) cfg.decode_tokens = cfg.quick ? 16 : 64;
  if (cfg.reps <= 0) cfg.reps = cfg.quick ? 3 : 5;
  if (cfg.batch_chats.empty()) cfg.batch_chats = cfg.quick ? std::vector<int>{1, 4} : std::vector<int>{1, 4, 16};
  return cfg;
}

MlBenchReport run_ml_bench(const MlBenchConfig& cfg_in, const std::function<void(const std::string&)>& progress,
                           Report& samples) {
  const auto t_start = Clock::now();
  const MlBenchConfig cfg = with_defaults(cfg_in);
  Runtime::ensure();
  MlBenchReport rep;
  rep.machine = cpu_model_name();
  rep.threads = Runtime::threads();
  rep.llama_system_info = Runtime::system_info();
  rep.gpu = Runtime::gpu_name();
  rep.load_before = loadavg();
  const ScratchDir scratch("ut-bench-ml");
  const std::string& tmp = scratch.path();
  bool real_e = false, real_d = false;
  const std::string emb_path =
      find_or_make(cfg.models_dir, SynthSpec::bge_small(), SynthSpec::tiny_embedder(), tmp, real_e);
  const std::string dec_path =
      find_or_make(cfg.models_dir, SynthSpec::qwen25_05b(), SynthSpec::tiny_decoder(), tmp, real_d);
  rep.real_models = real_e && real_d;

  auto dev = Device::create({.backend = "cpu"});
  MlLane lane(dev);
  std::mt19937_64 rng(1234);
  measure_embeddings(cfg, emb_path, dev, lane, rng, rep, samples, progress);

  auto model = Model::load(dec_path, ModelKind::decoder);
  rep.decode_model = model->info().name + " (" + std::filesystem::path(dec_path).filename().string() + ")";
  progress("generation: " + rep.decode_model);
  const int max_prompt = *std::max_element(cfg.ttft_prompts.begin(), cfg.ttft_prompts.end());
  const int n_ctx = std::max(4096, max_prompt + cfg.decode_tokens + 16);
  LaneGen ours{lane, std::make_shared<Generator>(model, GeneratorOptions{.n_ctx = n_ctx, .prefill_chunk = 512})};
  CtxPtr bare = bare_decoder_ctx(*model, n_ctx, 512);
  ours.run(prompt_of(*model, 16, rng), 2);  // warm-up
  bare_generate(bare.get(), prompt_of(*model, 16, rng), 512, 2);
  measure_prefill(cfg, model, ours, bare.get(), n_ctx, lane, rng, rep, samples, progress);
  measure_decode(cfg, model, ours, bare.get(), rng, rep, samples, progress);
  rep.load_after = loadavg();
  rep.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  return rep;
}

}  // namespace ut::bench
