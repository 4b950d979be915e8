// Embedder: pooled, L2-normalised embeddings in a shared-heap Buffer; truncation reported.
#include <gtest/gtest.h>

#include <atomic>

#include <cmath>

#include "tests/ml/fixture.h"
#include "timeline/device.h"
#include "workloads/ml/embedder.h"

namespace ut::ml {
namespace {

class EmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::fresh_seed();
    rng_.seed(seed_);
    device_ = Device::create({.backend = "cpu"});
    heap_ = device_->make_heap({.size = 8 << 20, .mode = StorageMode::shared, .label = "B_embed"});
    model_ = Model::load(test::tiny_embedder_path(), ModelKind::embedder);
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  DevicePtr device_;
  HeapPtr heap_;
  ModelPtr model_;
};

double norm(std::span<const float> v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s);
}

TEST_F(EmbedderTest, NormalisedRowsInTheSharedHeap) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  Embedder emb(model_, heap_);
  EXPECT_EQ(emb.dim(), 64);
  EXPECT_STREQ(emb.pooling(), "mean");
  const auto texts = test::random_sentences(rng_, 17);
  const auto used_before = heap_->used();
  EmbedResult r = emb.embed(texts);
  ASSERT_EQ(r.count, texts.size());
  EXPECT_GE(heap_->used(), used_before + texts.size() * 64 * sizeof(float));
  EXPECT_EQ(&r.vectors.heap(), heap_.get());
  for (std::size_t i = 0; i < r.count; ++i) EXPECT_NEAR(norm(r.row(i)), 1.0, 1e-4) << i;
  EXPECT_EQ(r.truncated_count, 0u);
  // Different texts give different vectors.
  double dot = 0;
  for (std::size_t d = 0; d < r.dim; ++d) dot += double(r.row(0)[d]) * r.row(1)[d];
  if (texts[0] != texts[1]) {
    EXPECT_LT(dot, 0.99999);
  }
}

TEST_F(EmbedderTest, DeterministicAcrossCallsAndInstances) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const auto texts = test::random_sentences(rng_, 5);
  Embedder a(model_, heap_);
  Embedder b(model_, heap_);
  auto r1 = a.embed(texts);
  auto r2 = a.embed(texts);
  auto r3 = b.embed(texts);
  for (std::size_t i = 0; i < texts.size(); ++i)
    for (std::size_t d = 0; d < r1.dim; ++d) {
      EXPECT_EQ(r1.row(i)[d], r2.row(i)[d]);
      EXPECT_EQ(r1.row(i)[d], r3.row(i)[d]);
    }
}

TEST_F(EmbedderTest, BatchEqualsOneByOne) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const auto texts = test::random_sentences(rng_, 24, 1, 30);
  // Small batches force several llama_decode calls with mixed packing.
  Embedder batched(model_, heap_, {.batch_tokens = 128, .max_seqs = 7});
  Embedder single(model_, heap_, {.batch_tokens = 128, .max_seqs = 1});
  auto rb = batched.embed(texts);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto r1 = single.embed({texts[i]});
    double dot = 0;
    for (std::size_t d = 0; d < rb.dim; ++d) {
      EXPECT_NEAR(rb.row(i)[d], r1.row(0)[d], 2e-4) << "text " << i << " dim " << d;
      dot += double(rb.row(i)[d]) * r1.row(0)[d];
    }
    EXPECT_GT(dot, 0.9999) << i;
  }
}

TEST_F(EmbedderTest, TruncationIsReported) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  Embedder emb(model_, heap_, {.max_tokens = 16});
  EXPECT_EQ(emb.max_tokens(), 16);
  auto texts = test::random_sentences(rng_, 3, 2, 4);
  texts.push_back(test::random_sentences(rng_, 1, 40, 60)[0]);  // far over 16 tokens
  auto r = emb.embed(texts);
  EXPECT_EQ(r.truncated_count, 1u);
  EXPECT_FALSE(r.truncated[0]);
  EXPECT_TRUE(r.truncated[3]);
  EXPECT_GT(r.input_tokens[3], 16);
  EXPECT_NEAR(norm(r.row(3)), 1.0, 1e-4);
  EXPECT_LE(r.total_tokens, 4u * 16u);
  // Only the first 15 tokens (+ the final separator) count: two long texts that differ after them embed alike,
  // while without truncation they differ.
  const std::string head = texts[3];
  auto same = emb.embed({head + " tail one", head + " another ending entirely"});
  EXPECT_EQ(same.truncated_count, 2u);
  for (std::size_t d = 0; d < same.dim; ++d) EXPECT_EQ(same.row(0)[d], same.row(1)[d]);
  Embedder full(model_, heap_);
  auto differ = full.embed({head + " tail one", head + " another ending entirely"});
  EXPECT_EQ(differ.truncated_count, 0u);
  double dot = 0;
  for (std::size_t d = 0; d < differ.dim; ++d) dot += double(differ.row(0)[d]) * differ.row(1)[d];
  EXPECT_LT(dot, 0.999999);
}

TEST_F(EmbedderTest, EmbedIntoAnExistingBufferAndErrors) {
  Embedder emb(model_, heap_);
  Buffer out = heap_->allocate(4 * 64 * sizeof(float), 256, "B_embed rows");
  auto r = emb.embed_into({"alpha", "beta"}, out, 2);
  EXPECT_EQ(r.first_row, 2u);
  EXPECT_NEAR(norm(r.row(1)), 1.0, 1e-4);
  EXPECT_EQ(r.row(1).data(), out.span<const float>().data() + 3 * 64);
  EXPECT_THROW(emb.embed_into({"a", "b", "c"}, out, 2), UsageError);
  auto decoder = Model::load(test::tiny_decoder_path(), ModelKind::decoder);
  EXPECT_THROW(Embedder(decoder, heap_), ModelError);
  auto tiny_heap = device_->make_heap({.size = 4096, .label = "tiny"});
  Embedder small(model_, tiny_heap);
  EXPECT_THROW(small.embed(test::random_sentences(rng_, 64)), OutOfMemoryError);
}

}  // namespace
}  // namespace ut::ml

namespace ut::ml {
namespace {

// The abort check: asked while a call computes; true stops the call (nothing returned) and the next call, with a
// check that says go on, gives the same rows as an embedder that never had one.
TEST_F(EmbedderTest, AbortCheckStopsACallAndLeavesTheNextOneExact) {
  SCOPED_TRACE("UT_TEST_SEED=" + std::to_string(seed_));
  const auto texts = test::random_sentences(rng_, 24, 4, 30);
  Embedder plain(model_, heap_), e(model_, heap_);
  std::atomic<int> asked{0};
  e.set_abort_check([&] { return ++asked > 0; });
  EXPECT_THROW(e.embed(texts), EmbedAborted);
  EXPECT_GT(asked.load(), 0);
  const int stopped_after = asked.load();
  e.set_abort_check([&] { ++asked; return false; });
  const auto a = e.embed(texts);
  EXPECT_GT(asked.load(), stopped_after);  // asked again, said go on
  e.set_abort_check(nullptr);
  const auto b = plain.embed(texts);
  ASSERT_EQ(a.count, b.count);
  for (std::size_t i = 0; i < a.count; ++i)
    for (std::size_t d = 0; d < a.dim; ++d) ASSERT_EQ(a.row(i)[d], b.row(i)[d]) << i << "," << d;
}

}  // namespace
}  // namespace ut::ml
