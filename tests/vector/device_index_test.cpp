// Exact top-k as timeline kernels (CPU backend here; the GPU with UT_BACKEND=cuda) against ExactIndex.
// ctest runs every test of this file twice: as vector.* on the CPU and as vector.device.cuda on the GPU.
#include "workloads/vector/device_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "tests/common/skip.h"
#include "timeline/device.h"
#include "timeline/error.h"

namespace {

std::string backend() {
  const char* b = std::getenv("UT_BACKEND");
  return b && *b ? b : "cpu";
}

ut::DevicePtr device_or_skip_reason(std::string& reason) {
  for (const auto& b : ut::Device::backends()) {
    if (b.name == backend() && !b.available) {
      reason = "backend '" + b.name + "' is not available here: " + b.reason;
      return nullptr;
    }
  }
  return ut::Device::create({.backend = backend()});
}

// dim 384: the wide (float4) scores kernel; 12: wide with a half-filled last K step; 30: the scalar kernel.
// n is not a multiple of any tile or of the top-k's 16384-row parts.
class DeviceExactIndexDims : public ::testing::TestWithParam<std::size_t> {};

TEST_P(DeviceExactIndexDims, EqualsCpuExactSearchOnRandomVectors) {
  std::string reason;
  auto dev = device_or_skip_reason(reason);
  if (!dev) UT_SKIP_NO_GPU(reason);
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  const std::size_t dim = GetParam(), n = dev->caps().is_gpu ? 50'003 : 3'001, nq = 70, k = 10;
  std::vector<float> m(n * dim), qs(nq * dim);
  std::vector<uint64_t> ids(n);
  ut::vector::ExactIndex exact(dim);
  for (std::size_t i = 0; i < n; ++i) {
    double norm = 0;
    for (std::size_t d = 0; d < dim; ++d) norm += std::pow(m[i * dim + d] = nd(rng), 2);
    for (std::size_t d = 0; d < dim; ++d) m[i * dim + d] /= static_cast<float>(std::sqrt(norm));
    ids[i] = rng() >> 8;
    exact.upsert(ids[i], std::span<const float>(m.data() + i * dim, dim));
  }
  for (auto& x : qs) x = nd(rng);
  ut::vector::DeviceExactIndex idx(*dev, dim, n + 100);
  idx.assign(ids, m);
  auto q = dev->make_queue({.kind = ut::QueueKind::compute});
  auto got = idx.search(*q, qs, nq, k);
  ASSERT_EQ(got.size(), nq);
  for (std::size_t i = 0; i < nq; ++i) {
    auto want = exact.search(std::span<const float>(qs.data() + i * dim, dim), k);
    ASSERT_EQ(got[i].size(), k);
    for (std::size_t j = 0; j < k; ++j) {
      // Same ranking; where two scores are within rounding of each other the order may swap.
      EXPECT_NEAR(got[i][j].score, want[j].score, 1e-4f * (1 + std::abs(want[j].score))) << i << "," << j;
      if (got[i][j].id != want[j].id) {
        EXPECT_NEAR(got[i][j].score, want[j].score, 1e-5f) << "different id without a near-tie at " << i << "," << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dims, DeviceExactIndexDims, ::testing::Values(384, 12, 30));

TEST(DeviceExactIndex, BadArguments) {
  std::string reason;
  auto dev = device_or_skip_reason(reason);
  if (!dev) UT_SKIP_NO_GPU(reason);
  ut::vector::DeviceExactIndex idx(*dev, 8, 4);
  std::vector<uint64_t> ids(5);
  std::vector<float> m(40);
  EXPECT_THROW(idx.assign(ids, m), ut::UsageError);
  auto q = dev->make_queue({});
  std::vector<float> query(8);
  EXPECT_THROW((void)idx.search(*q, query, 1, 17), ut::UsageError);
  EXPECT_TRUE(idx.search(*q, query, 1, 5)[0].empty()) << "empty index: no hits";
}

}  // namespace
