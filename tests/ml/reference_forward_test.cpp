// ReferenceForward (the oracle of an own decode path) against llama.cpp on the same GGUF file: logits at every
// position of a random token sequence, for a random-weight Llama, a random-weight Qwen2 (q/k/v biases, untied
// output, NEOX RoPE, grouped KV heads) and the project's trained decoder.
#include <gtest/gtest.h>

#include <llama.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
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
  const auto rows = llama_logits_at_every_position(*model, tokens);
  ReferenceForward ref(path);
  Agreement a;
  const int n_vocab = ref.shape().n_vocab;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::vector<float> mine = ref.step(tokens[i]);
    const float* theirs = rows.at(i).data();
    for (int v = 0; v < n_vocab; ++v) {
      a.max_abs_diff = std::max(a.max_abs_diff, std::abs(static_cast<double>(mine[static_cast<std::size_t>(v)]) - theirs[v]));
      a.max_abs_logit = std::max(a.max_abs_logit, std::abs(static_cast<double>(theirs[v])));
    }
    const auto am = std::max_element(mine.begin(), mine.end()) - mine.begin();
    const auto at = std::max_element(theirs, theirs + n_vocab) - theirs;
    a.same_argmax += am == at;
    ++a.positions;
  }
  return a;
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

TEST(ReferenceForward, RandomQwen2WithBiasesAndGroupedKvMatchesLlamaCpp) { expect_agreement(tiny_qwen2_path(), 32); }

TEST(ReferenceForward, TrainedDecoderMatchesLlamaCpp) {
  const std::string path = debian_models_dir() + "/debian-llama-spm-f16.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no trained decoder at " << path;
  expect_agreement(path, 64);
}

// Greedy continuation of a random prompt, token by token, in both: llama.cpp (one llama_decode per token, the
// arg-max of its logits) and the reference. Equal sequences, except that a divergence is accepted at a near-tie:
// a position where the reference's two best logits are closer than the rounding difference allowed above.
void expect_same_greedy(const std::string& path, int n_prompt, int n_gen) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("UT_TEST_SEED=" + std::to_string(seed) + " " + path);
  ReferenceForward ref(path);
  const int n_vocab = ref.shape().n_vocab;
  std::vector<int32_t> prompt = random_tokens(n_vocab, n_prompt, seed);
  auto model = Model::load(path, ModelKind::decoder);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_prompt + n_gen);
  cp.n_threads = cp.n_threads_batch = 1;  // one token per decode: more threads only spin at ggml's barriers
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model->native(), cp);
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(llama_decode(ctx, llama_batch_get_one(prompt.data(), n_prompt)), 0);
  std::vector<float> mine;
  for (int32_t t : prompt) mine = ref.step(t);
  int same = 0;
  for (int i = 0; i < n_gen; ++i) {
    const float* theirs = llama_get_logits_ith(ctx, -1);
    int32_t a = static_cast<int32_t>(std::max_element(theirs, theirs + n_vocab) - theirs);
    const int32_t b = static_cast<int32_t>(std::max_element(mine.begin(), mine.end()) - mine.begin());
    if (a != b) {
      std::vector<float> sorted(mine);
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      const double allowed = 0.003 * std::abs(sorted[0]) + 1e-4;
      EXPECT_LE(sorted[0] - sorted[1], 2 * allowed) << "diverged at generated token " << i << " without a near-tie";
      break;  // after a tie the two continuations are different sequences
    }
    ++same;
    ASSERT_EQ(llama_decode(ctx, llama_batch_get_one(&a, 1)), 0);
    mine = ref.step(b);
  }
  std::printf("[ reference ] %s: greedy %d of %d tokens equal\n", std::filesystem::path(path).filename().c_str(), same,
              n_gen);
  llama_free(ctx);
}

TEST(ReferenceForward, GreedySequencesEqualLlamaCpps) {
  expect_same_greedy(tiny_decoder_path(), 16, 128);
  const std::string trained = debian_models_dir() + "/debian-llama-spm-f16.gguf";
  if (std::filesystem::exists(trained)) expect_same_greedy(trained, 16, 128);
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
