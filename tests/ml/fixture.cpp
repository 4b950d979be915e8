#include "tests/ml/fixture.h"

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include <gtest/gtest.h>
#include <llama.h>

#include "workloads/ml/model.h"
#include "workloads/ml/runtime.h"
#include "workloads/ml/synth.h"

namespace ut::ml::test {
namespace {

// The tiny test models run fastest on one thread, and ctest runs test processes side by side: llama.cpp's
// CPU threads wait for each other at every op, so two of them on an oversubscribed 2-core machine run a tiny
// model up to hundreds of times slower (measured: 0.19 ms vs 62 ms per token). An explicit setting wins.
const bool kOneThread = (::setenv("UT_ML_THREADS", "1", /*overwrite=*/0), true);

// Written on first use (each ctest process runs one test and needs at most two models).
struct TempDir {
  std::string path;
  TempDir() {
    path = (std::filesystem::temp_directory_path() / ("ut-ml-tests-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::string& dir() {
  static TempDir d;
  return d.path;
}

std::string written(const SynthSpec& spec) {
  const std::string p = dir() + "/" + spec.file_name;
  write_synthetic_model(spec, p);
  return p;
}

}  // namespace

const std::string& temp_dir() { return dir(); }
const std::string& tiny_embedder_path() {
  static const std::string p = written(SynthSpec::tiny_embedder());
  return p;
}
const std::string& tiny_decoder_path() {
  static const std::string p = written(SynthSpec::tiny_decoder());
  return p;
}
const std::string& tiny_qwen2_path() {
  static const std::string p = [] {
    SynthSpec s = SynthSpec::tiny_decoder();
    s.file_name = "tiny-qwen2-random.gguf";
    s.arch = "qwen2";
    s.vocab = "qwen2";
    s.n_head = 4;
    s.n_head_kv = 2;
    s.n_ff = 2304;  // rows over 2,048 columns: the own decoder's split-column down projection, with a partial stretch
    s.qkv_bias = true;
    s.tied_output = false;
    s.rope_base = 1000000.0f;
    return written(s);
  }();
  return p;
}
std::string vocab_path(const std::string& name) { return Runtime::vocab_dir() + "/ggml-vocab-" + name + ".gguf"; }

// $UT_TEST_SEED replays a failed run (its seed is in the failure's trace).
uint64_t fresh_seed() {
  if (const char* s = std::getenv("UT_TEST_SEED"); s && *s) return std::strtoull(s, nullptr, 10);
  return (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

std::vector<int32_t> random_tokens(int n_vocab, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<int32_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = pick(rng);
  return t;
}

std::vector<std::string> random_sentences(std::mt19937_64& rng, std::size_t n, int min_words, int max_words) {
  static const char* words[] = {"the",    "queue",  "signals", "an",     "event",   "when",   "tokens", "arrive",
                                "model",  "vector", "search",  "finds",  "nearest", "chunks", "of",     "text",
                                "render", "frame",  "never",   "waits",  "for",     "data",   "SQL",    "rows",
                                "embed",  "quick",  "brown",   "fox",    "jumps",   "over",   "lazy",   "dog",
                                "heap",   "buffer", "ring",    "stream", "Unicode", "café",   "naïve",  "42"};
  std::uniform_int_distribution<int> len(min_words, max_words);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(words) - 1);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string s;
    const int k = len(rng);
    for (int w = 0; w < k; ++w) s += (w ? " " : "") + std::string(words[pick(rng)]);
    out.push_back(s + ".");
  }
  return out;
}

std::string debian_models_dir() {
  const char* env = std::getenv("UT_DEBIAN_MODELS_DIR");
  return env && *env ? env : UT_SOURCE_DIR "/models/debian";
}

std::vector<std::vector<float>> llama_logits_at_every_position(const Model& model, const std::vector<int32_t>& tokens) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = std::max<uint32_t>(512, static_cast<uint32_t>(tokens.size()));
  cp.n_threads = cp.n_threads_batch = 1;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model.native(), cp);
  EXPECT_NE(ctx, nullptr);
  if (!ctx) return {};
  llama_batch b = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    b.token[i] = tokens[i];
    b.pos[i] = static_cast<llama_pos>(i);
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = true;
  }
  b.n_tokens = static_cast<int32_t>(tokens.size());
  EXPECT_EQ(llama_decode(ctx, b), 0);
  std::vector<std::vector<float>> rows;
  const int n = model.n_vocab();
  for (int i = 0; i < b.n_tokens; ++i) {
    const float* l = llama_get_logits_ith(ctx, i);
    rows.emplace_back(l, l + n);
  }
  llama_batch_free(b);
  llama_free(ctx);
  return rows;
}

}  // namespace ut::ml::test
