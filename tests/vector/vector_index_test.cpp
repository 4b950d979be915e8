#include "workloads/vector/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "timeline/error.h"

namespace {

using ut::vector::ExactIndex;
using ut::vector::HnswIndex;
using ut::vector::Hit;

std::vector<float> random_unit(std::mt19937_64& rng, std::size_t dim) {
  std::normal_distribution<float> d;
  std::vector<float> v(dim);
  double n = 0;
  for (auto& x : v) {
    x = d(rng);
    n += static_cast<double>(x) * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

TEST(ExactIndex, MatchesNaiveSortAndHandlesRemoval) {
  std::mt19937_64 rng(std::random_device{}());
  const std::size_t dim = 32, n = 500;
  ExactIndex idx(dim);
  std::vector<std::vector<float>> vs;
  for (std::size_t i = 0; i < n; ++i) {
    vs.push_back(random_unit(rng, dim));
    idx.upsert(i * 3 + 1, vs.back());
  }
  for (std::size_t i = 0; i < n; i += 5) ASSERT_TRUE(idx.remove(i * 3 + 1));
  EXPECT_FALSE(idx.remove(999999));
  const auto q = random_unit(rng, dim);
  std::vector<std::pair<float, uint64_t>> naive;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 5 == 0) continue;
    float s = 0;
    for (std::size_t d = 0; d < dim; ++d) s += vs[i][d] * q[d];
    naive.push_back({-s, i * 3 + 1});
  }
  std::sort(naive.begin(), naive.end());
  auto hits = idx.search(q, 10);
  ASSERT_EQ(hits.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(hits[i].id, naive[i].second);
    EXPECT_NEAR(hits[i].score, -naive[i].first, 1e-5);
  }
  EXPECT_EQ(idx.size(), n - n / 5);
  EXPECT_THROW((void)idx.search(std::vector<float>(dim + 1), 3), ut::UsageError);
}

// Share of the exact top-10 that the HNSW index returns, over `queries` fresh random unit queries.
double recall_at_10(const HnswIndex& ann, const ExactIndex& exact, std::mt19937_64& rng, std::size_t dim,
                    std::size_t queries) {
  double found = 0;
  for (std::size_t qi = 0; qi < queries; ++qi) {
    const auto q = random_unit(rng, dim);
    std::set<uint64_t> truth;
    for (auto& h : exact.search(q, 10)) truth.insert(h.id);
    for (auto& h : ann.search(q, 10)) found += truth.count(h.id);
  }
  return found / (10.0 * static_cast<double>(queries));
}

// recall@10 of the HNSW index against exact search on random 384-d unit vectors.
TEST(HnswIndex, RecallAtTenAgainstExactSearch) {
  std::mt19937_64 rng(std::random_device{}());
  const std::size_t dim = 384, n = 4000, queries = 100;
  HnswIndex ann(dim);
  ExactIndex exact(dim);
  for (std::size_t i = 0; i < n; ++i) {
    auto v = random_unit(rng, dim);
    ann.upsert(i, v);
    exact.upsert(i, v);
  }
  const double recall = recall_at_10(ann, exact, rng, dim, queries);
  std::printf("recall@10 = %.3f (n=%zu, dim=%zu, M=32, ef=256)\n", recall, n, dim);
  EXPECT_GE(recall, 0.95);
}

// The parallel bulk insert builds a graph as good as the one-at-a-time one, and rejects repeated ids.
TEST(HnswIndex, ParallelBulkInsertKeepsRecall) {
  std::mt19937_64 rng(std::random_device{}());
  const std::size_t dim = 96, n = 6000, queries = 100;
  std::vector<uint64_t> ids(n);
  std::vector<float> m;
  ExactIndex exact(dim);
  for (std::size_t i = 0; i < n; ++i) {
    ids[i] = rng() >> 4;
    auto v = random_unit(rng, dim);
    exact.upsert(ids[i], v);
    m.insert(m.end(), v.begin(), v.end());
  }
  HnswIndex ann(dim);
  ann.upsert(ids[0], std::span<const float>(m.data(), dim));  // an existing id is replaced, not added twice
  ann.upsert_many(ids, m, 4);
  EXPECT_EQ(ann.size(), n);
  EXPECT_GE(recall_at_10(ann, exact, rng, dim, queries), 0.95);
  const std::vector<uint64_t> twice{7, 7};
  EXPECT_THROW(ann.upsert_many(twice, std::vector<float>(2 * dim, 0.1f)), ut::UsageError);
  EXPECT_THROW(ann.upsert_many(ids, std::vector<float>(dim)), ut::UsageError);
}

TEST(HnswIndex, DeletesAreNeverReturnedAndUpsertReplaces) {
  std::mt19937_64 rng(std::random_device{}());
  const std::size_t dim = 16;
  HnswIndex ann(dim);
  std::vector<std::vector<float>> vs;
  for (uint64_t i = 0; i < 300; ++i) {
    vs.push_back(random_unit(rng, dim));
    ann.upsert(i, vs.back());
  }
  for (uint64_t i = 0; i < 300; i += 2) ASSERT_TRUE(ann.remove(i));
  EXPECT_EQ(ann.size(), 150u);
  for (int t = 0; t < 50; ++t) {
    for (auto& h : ann.search(vs[static_cast<std::size_t>(t * 2)], 20)) EXPECT_EQ(h.id % 2, 1u) << "removed id returned";
  }
  // Re-insert an id with a new vector: it comes back, and the new vector finds it.
  auto v = random_unit(rng, dim);
  ann.upsert(0, v);
  auto hits = ann.search(v, 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 0u);
  EXPECT_NEAR(hits[0].score, 1.0f, 1e-4);
}

// Steady edits (insert a new id, remove an old one) keep the index bounded: removed vectors are dropped by a
// rebuild once they outnumber the live ones, and search after the rebuilds still agrees with exact search.
TEST(HnswIndex, SteadyEditsStayBoundedAndSearchStaysRight) {
  std::mt19937_64 rng(std::random_device{}());
  const std::size_t dim = 16, live = 200;
  HnswIndex ann(dim);
  ExactIndex exact(dim);
  uint64_t next = 0;
  for (; next < live; ++next) {
    const auto v = random_unit(rng, dim);
    ann.upsert(next, v);
    exact.upsert(next, v);
  }
  for (int edit = 0; edit < 3000; ++edit, ++next) {  // each edit: a new chunk id in, the oldest out
    const auto v = random_unit(rng, dim);
    ann.upsert(next, v);
    exact.upsert(next, v);
    ASSERT_TRUE(ann.remove(next - live));
    ASSERT_TRUE(exact.remove(next - live));
    ASSERT_LE(ann.removed(), 1024u) << "removed vectors pile up";
  }
  EXPECT_GE(ann.compactions(), 2u);
  EXPECT_EQ(ann.size(), live);
  std::size_t found = 0;
  for (int q = 0; q < 50; ++q) {
    const auto query = random_unit(rng, dim);
    const auto want = exact.search(query, 10);
    const auto got = ann.search(query, 10);
    for (const auto& g : got) {
      EXPECT_GE(g.id, next - live) << "a removed id came back";
      found += std::count_if(want.begin(), want.end(), [&](const Hit& w) { return w.id == g.id; });
    }
  }
  EXPECT_GE(static_cast<double>(found) / (50 * 10), 0.95) << "recall@10 after rebuilds";
}

TEST(HnswIndex, SaveLoadRoundTripAndCorruptFile) {
  std::mt19937_64 rng(std::random_device{}());
  const std::size_t dim = 24;
  HnswIndex ann(dim);
  for (uint64_t i = 0; i < 200; ++i) ann.upsert(i, random_unit(rng, dim));
  ann.remove(7);
  const std::string path = ::testing::TempDir() + "/ut_hnsw_test.idx";
  ann.save(path);
  auto back = HnswIndex::load(path, dim);
  EXPECT_EQ(back->size(), 199u);
  const auto q = random_unit(rng, dim);
  auto a = ann.search(q, 5), b = back->search(q, 5);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].id, b[i].id);
  EXPECT_THROW((void)HnswIndex::load(path, dim + 1), ut::Error);
  EXPECT_THROW((void)HnswIndex::load(path + ".missing", dim), ut::Error);
  std::remove(path.c_str());
}

}  // namespace
