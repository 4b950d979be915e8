// ReferenceForward (the oracle of an own decode path) against llama.cpp on the same GGUF file: logits at every
// position of a random token sequence, for a random-weight Llama, a random-weight Qwen2 (q/k/v biases, untied
// output, NEOX RoPE, grouped KV heads) and the project's trained decoder.
#include <gtest/gtest.h>

#include <llama.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "tests/ml/fixture.h"
#include "workloads/ml/model.h"
#include "workloads/ml/reference_forward.h"
#include "workloads/ml/synth.h"

namespace ut::ml::test {
namespace {

struct Agreement {
  double max_abs_diff = 0, max_abs_logit = 0;
  int positions = 0, same_argmax = 0;
};

// llama.cpp's logits for every position of `tokens` (one decode, logits everywhere) against the reference's.
Agreement compare(const std::string& path, const std::vector<int32_t>& tokens) {
  auto model = Model::load(path, ModelKind::decoder);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(tokens.size());
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model->native(), cp);
  EXPECT_NE(ctx, nullptr);
  llama_batch b = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    b.token[i] = tokens[i];
    b.pos[i] = static_cast<llama_pos>(i);
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = 1;
  }
  b.n_tokens = static_cast<int32_t>(tokens.size());
  EXPECT_EQ(llama_decode(ctx, b), 0);
  ReferenceForward ref(path);
  Agreement a;
  const int n_vocab = ref.shape().n_vocab;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::vector<float> mine = ref.step(tokens[i]);
    const float* theirs = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
    for (int v = 0; v < n_vocab; ++v) {
      a.max_abs_diff = std::max(a.max_abs_diff, std::abs(static_cast<double>(mine[static_cast<std::size_t>(v)]) - theirs[v]));
      a.max_abs_logit = std::max(a.max_abs_logit, std::abs(static_cast<double>(theirs[v])));
    }
    const auto am = std::max_element(mine.begin(), mine.end()) - mine.begin();
    const auto at = std::max_element(theirs, theirs + n_vocab) - theirs;
    a.same_argmax += am == at;
    ++a.positions;
  }
  llama_batch_free(b);
  llama_free(ctx);
  return a;
}

std::vector<int32_t> random_tokens(int n_vocab, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<int32_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = pick(rng);
  return t;
}

// llama.cpp's CPU kernels multiply F16 weights with activations rounded to F16 and accumulate in F32: measured
// differences are 0.03-0.1% of the largest logit; 0.3% is allowed. RoPE on the wrong pairs gave 0.8-1% on the
// random models and 50% on the trained one (mutation check), so each model alone catches it.
void expect_agreement(const std::string& path, int n_tokens) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("UT_TEST_SEED=" + std::to_string(seed) + " " + path);
  const Agreement a = compare(path, random_tokens(ReferenceForward(path).shape().n_vocab, n_tokens, seed));
  std::printf("[ reference ] %s: %d positions, max |diff| %.5f (logits up to %.3f), same arg-max at %d\n",
              std::filesystem::path(path).filename().c_str(), a.positions, a.max_abs_diff, a.max_abs_logit,
              a.same_argmax);
  EXPECT_LE(a.max_abs_diff, 0.003 * a.max_abs_logit + 1e-4);
  EXPECT_GE(a.same_argmax, a.positions - 1) << "at most one near-tie may flip";
}

TEST(ReferenceForward, RandomLlamaMatchesLlamaCppAtEveryPosition) { expect_agreement(tiny_decoder_path(), 48); }

TEST(ReferenceForward, RandomQwen2WithBiasesAndGroupedKvMatchesLlamaCpp) {
  SynthSpec s = SynthSpec::tiny_decoder();
  s.file_name = "tiny-qwen2-reference.gguf";
  s.arch = "qwen2";
  s.vocab = "qwen2";
  s.n_head = 4;
  s.n_head_kv = 2;
  s.qkv_bias = true;
  s.tied_output = false;
  s.rope_base = 1000000.0f;
  const std::string path = temp_dir() + "/" + s.file_name;
  write_synthetic_model(s, path);
  expect_agreement(path, 32);
}

TEST(ReferenceForward, TrainedDecoderMatchesLlamaCpp) {
  const std::string path = debian_models_dir() + "/debian-llama-spm-f16.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no trained decoder at " << path;
  expect_agreement(path, 64);
}

TEST(ReferenceForward, RefusesWhatItDoesNotImplement) {
  EXPECT_THROW(ReferenceForward{tiny_embedder_path()}, ModelError);  // bert
  EXPECT_THROW(ReferenceForward{temp_dir() + "/no-such-file.gguf"}, ModelError);
  ReferenceForward ref(tiny_decoder_path());
  EXPECT_THROW(ref.step(-1), ModelError);
  EXPECT_THROW(ref.step(ref.shape().n_vocab), ModelError);
}

}  // namespace
}  // namespace ut::ml::test
