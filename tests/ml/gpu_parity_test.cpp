// CPU vs CUDA: the same model file on both placements gives the same embeddings (within a stated tolerance)
// and the same greedy tokens. GPU tests skip, saying why, where ggml's CUDA backend found no GPU (CI); under
// UT_REQUIRE_GPU=1 (the GPU check) that is a failure.
#include <gtest/gtest.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "tests/common/skip.h"
#include "tests/ml/fixture.h"
#include "timeline/device.h"
#include "workloads/ml/embedder.h"
#include "workloads/ml/generator.h"
#include "workloads/ml/runtime.h"
#include "workloads/ml/synth.h"

namespace ut::ml {
namespace {

// Embeddings are L2-normalised; F16 weights with different summation orders (cuBLAS vs ggml-cpu) move
// components by ~1e-3. A real placement bug (wrong pooling, a layer skipped) gives cosines far below this.
constexpr double kMinCosine = 0.999;
constexpr double kMaxAbsDiff = 0.02;
// Greedy tokens may only differ where the CPU's two best logits are this close (a numerical tie).
constexpr float kTieMargin = 0.05f;

#define SKIP_WITHOUT_GPU()                                                                                  \
  do {                                                                                                     \
    if (Runtime::gpu_name().empty())                                                                       \
      UT_SKIP_NO_GPU("no GPU: ggml's CUDA backend (" + Runtime::cuda_dir() +                               \
                     "/libggml-cuda.so, scripts/build-ggml-cuda.sh) is absent or found no device");        \
  } while (0)

// The project's trained model of `spec`, or "" where it is not present.
std::string trained(const SynthSpec& spec) {
  const std::string p = test::debian_models_dir() + "/" + spec.file_name;
  return std::filesystem::exists(p) ? p : "";
}

void expect_same_embeddings(const std::string& path, std::mt19937_64& rng) {
  auto dev = Device::create({.backend = "cpu"});
  auto heap = dev->make_heap({.size = 16 << 20, .mode = StorageMode::shared, .label = "B_embed"});
  auto cpu = Model::load(path, ModelKind::embedder, {.placement = Placement::cpu});
  auto gpu = Model::load(path, ModelKind::embedder, {.placement = Placement::gpu});
  ASSERT_FALSE(cpu->on_gpu());
  ASSERT_TRUE(gpu->on_gpu());
  Embedder ec(cpu, heap), eg(gpu, heap);
  const auto texts = test::random_sentences(rng, 40, 2, 60);
  const auto a = ec.embed(texts);
  const auto b = eg.embed(texts);
  ASSERT_EQ(a.count, b.count);
  ASSERT_EQ(a.dim, b.dim);
  double worst_cos = 1, worst_abs = 0;
  for (std::size_t i = 0; i < a.count; ++i) {
    auto x = a.row(i), y = b.row(i);
    double dot = 0;
    for (std::size_t d = 0; d < a.dim; ++d) {
      dot += double(x[d]) * y[d];
      worst_abs = std::max(worst_abs, std::abs(double(x[d]) - y[d]));
    }
    worst_cos = std::min(worst_cos, dot);  // both rows have unit length
  }
  std::printf("[ gpu-parity ] %s: %zu embeddings, min cosine %.6f, max |diff| %.5f\n",
              std::filesystem::path(path).filename().c_str(), a.count, worst_cos, worst_abs);
  EXPECT_GE(worst_cos, kMinCosine);
  EXPECT_LE(worst_abs, kMaxAbsDiff);
}

// The CPU model's gap between its two best next-token logits after `tokens`.
float cpu_top2_gap(const Model& m, const std::vector<int32_t>& tokens) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(tokens.size() + 8);
  cp.n_threads = cp.n_threads_batch = Runtime::threads();
  llama_context* ctx = llama_init_from_model(m.native(), cp);
  if (!ctx) throw ModelError("[cpu_top2_gap] context failed");
  std::vector<int32_t> t = tokens;
  if (llama_decode(ctx, llama_batch_get_one(t.data(), static_cast<int32_t>(t.size()))) != 0) {
    llama_free(ctx);
    throw ModelError("[cpu_top2_gap] decode failed");
  }
  const float* logits = llama_get_logits_ith(ctx, -1);
  std::vector<float> l(logits, logits + m.n_vocab());
  std::partial_sort(l.begin(), l.begin() + 2, l.end(), std::greater<>());
  llama_free(ctx);
  return l[0] - l[1];
}

void expect_same_greedy_tokens(const std::string& path, const std::string& question, int n) {
  auto cpu = Model::load(path, ModelKind::decoder, {.placement = Placement::cpu});
  auto gpu = Model::load(path, ModelKind::decoder, {.placement = Placement::gpu});
  Generator gc(cpu), gg(gpu);
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.max_tokens = n;
  o.ignore_eog = true;
  const auto ids = gc.tokenize_chat({{"user", question}});
  const auto a = gc.generate(ids, o);
  const auto b = gg.generate(ids, o);
  ASSERT_EQ(a.tokens.size(), static_cast<std::size_t>(n));
  ASSERT_EQ(b.tokens.size(), static_cast<std::size_t>(n));
  std::size_t same = 0;
  while (same < a.tokens.size() && a.tokens[same] == b.tokens[same]) ++same;
  std::printf("[ gpu-parity ] %s: %zu of %d greedy tokens equal\n", std::filesystem::path(path).filename().c_str(),
              same, n);
  if (same == a.tokens.size()) return;
  std::vector<int32_t> ctx = ids;
  ctx.insert(ctx.end(), a.tokens.begin(), a.tokens.begin() + static_cast<std::ptrdiff_t>(same));
  const float gap = cpu_top2_gap(*cpu, ctx);
  EXPECT_LT(gap, kTieMargin) << "CPU and GPU first differ at token " << same << " (CPU " << a.tokens[same]
                             << ", GPU " << b.tokens[same] << ") where the CPU's best logit leads by " << gap;
}

TEST(GpuParity, GpuPlacementWithoutAGpuIsAClearError) {
  if (!Runtime::gpu_name().empty()) GTEST_SKIP() << "a GPU is present (" << Runtime::gpu_name() << ")";
  try {
    Model::load(test::tiny_decoder_path(), ModelKind::decoder, {.placement = Placement::gpu});
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("no GPU backend"), std::string::npos) << e.what();
  }
  auto m = Model::load(test::tiny_decoder_path(), ModelKind::decoder);  // automatic: the CPU here
  EXPECT_FALSE(m->on_gpu());
}

TEST(GpuParity, TinyEmbedderCpuAndCudaAgree) {
  SKIP_WITHOUT_GPU();
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + ", " + Runtime::gpu_name());
  std::mt19937_64 rng(seed);
  expect_same_embeddings(test::tiny_embedder_path(), rng);
}

TEST(GpuParity, TinyDecoderGreedyTokensMatch) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(test::fresh_seed());
  std::string prompt;
  for (const auto& s : test::random_sentences(rng, 6)) prompt += s + " ";
  expect_same_greedy_tokens(test::tiny_decoder_path(), prompt, 48);
}

TEST(GpuParity, TrainedModelsCpuAndCudaAgree) {
  SKIP_WITHOUT_GPU();
  const std::string emb = trained(SynthSpec::debian_embedder()), dec = trained(SynthSpec::debian_decoder());
  ASSERT_FALSE(emb.empty()) << "the trained embedder is missing (models/debian, UT_DEBIAN_MODELS_DIR)";
  ASSERT_FALSE(dec.empty()) << "the trained decoder is missing (models/debian, UT_DEBIAN_MODELS_DIR)";
  std::mt19937_64 rng(test::fresh_seed());
  expect_same_embeddings(emb, rng);
  expect_same_greedy_tokens(dec, "Which package provides a tool to convert images between formats?", 64);
}

}  // namespace
}  // namespace ut::ml
