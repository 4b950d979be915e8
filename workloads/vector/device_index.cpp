#include "workloads/vector/device_index.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "timeline/error.h"

namespace ut::vector {
namespace {

void cpu_scores(const DispatchContext& c) {
  const auto& a = c.constants<ScoresArgs>();
  const float* q = c.buffer<float>(0);
  const float* v = c.buffer<float>(1);
  float* s = c.buffer<float>(2);
  for (uint32_t i = 0; i < a.nq; ++i) {
    for (uint32_t r = 0; r < a.n; ++r) {
      float acc = 0;
      for (uint32_t d = 0; d < a.dim; ++d) acc += q[std::size_t{i} * a.dim + d] * v[std::size_t{r} * a.dim + d];
      s[std::size_t{i} * a.n + r] = acc;
    }
  }
}

void cpu_topk(const DispatchContext& c) {
  const auto& a = c.constants<TopkArgs>();
  const float* s = c.buffer<float>(0);
  float* out_s = c.buffer<float>(1);
  uint32_t* out_r = c.buffer<uint32_t>(2);
  std::vector<uint32_t> rows(a.n);
  for (uint32_t i = 0; i < a.nq; ++i) {
    const float* row = s + std::size_t{i} * a.n;
    for (uint32_t r = 0; r < a.n; ++r) rows[r] = r;
    const uint32_t k = std::min(a.k, a.n);
    std::partial_sort(rows.begin(), rows.begin() + k, rows.end(),
                      [&](uint32_t x, uint32_t y) { return row[x] != row[y] ? row[x] > row[y] : x < y; });
    for (uint32_t j = 0; j < a.k; ++j) {
      out_r[std::size_t{i} * a.k + j] = j < k ? rows[j] : UINT32_MAX;
      out_s[std::size_t{i} * a.k + j] = j < k ? row[rows[j]] : -3.0f;
    }
  }
}

}  // namespace

void register_vector_kernels() {
  kernels().add("vector.scores", "cpu", cpu_scores);
  kernels().add("vector.topk", "cpu", cpu_topk);
#ifdef UT_HAVE_CUDA
  register_vector_cuda_kernels();
#endif
}

DeviceExactIndex::DeviceExactIndex(Device& device, std::size_t dim, std::size_t capacity)
    : device_(device), dim_(dim), capacity_(capacity) {
  if (dim == 0 || capacity == 0) throw UsageError("[DeviceExactIndex::DeviceExactIndex] dim and capacity must be > 0");
  register_vector_kernels();
  vectors_ = device_.make_buffer(capacity * dim * sizeof(float), StorageMode::device, "vector.matrix");
  // Keep the scores matrix near 256 MB: batch × capacity floats.
  batch_ = std::clamp<std::size_t>((std::size_t{64} << 20) / capacity, 1, 1024);
  queries_host_ = device_.make_buffer(batch_ * dim * sizeof(float), StorageMode::shared, "vector.queries");
  queries_dev_ = device_.make_buffer(batch_ * dim * sizeof(float), StorageMode::device, "vector.queries.dev");
  scores_ = device_.make_buffer(batch_ * capacity * sizeof(float), StorageMode::device, "vector.scores");
  top_scores_dev_ = device_.make_buffer(batch_ * kMaxK * sizeof(float), StorageMode::device, "vector.top.scores");
  top_rows_dev_ = device_.make_buffer(batch_ * kMaxK * sizeof(uint32_t), StorageMode::device, "vector.top.rows");
  const std::size_t parts = topk_parts(static_cast<uint32_t>(capacity));
  part_scores_ = device_.make_buffer(batch_ * parts * kMaxK * sizeof(float), StorageMode::device, "vector.part.scores");
  part_rows_ = device_.make_buffer(batch_ * parts * kMaxK * sizeof(uint32_t), StorageMode::device, "vector.part.rows");
  top_scores_host_ = device_.make_buffer(batch_ * kMaxK * sizeof(float), StorageMode::shared, "vector.top.scores.host");
  top_rows_host_ = device_.make_buffer(batch_ * kMaxK * sizeof(uint32_t), StorageMode::shared, "vector.top.rows.host");
}

void DeviceExactIndex::assign(std::span<const uint64_t> ids, std::span<const float> matrix) {
  if (ids.size() > capacity_) {
    throw UsageError("[DeviceExactIndex::assign] " + std::to_string(ids.size()) + " vectors exceed the capacity " +
                     std::to_string(capacity_));
  }
  if (matrix.size() != ids.size() * dim_) throw UsageError("[DeviceExactIndex::assign] matrix is not ids.size() × dim");
  ids_.assign(ids.begin(), ids.end());
  if (ids.empty()) return;
  // Upload through a shared staging buffer and the queue's copy (the copy engine on CUDA).
  auto staging = device_.make_buffer(matrix.size_bytes(), StorageMode::shared, "vector.staging");
  std::memcpy(staging.contents(), matrix.data(), matrix.size_bytes());
  auto q = device_.make_queue({.kind = QueueKind::transfer, .label = "vector.upload"});
  auto cb = q->make_command_buffer("upload vectors");
  cb.copy(staging, 0, vectors_, 0, matrix.size_bytes()).commit();
  cb.wait_until_completed();
}

std::vector<std::vector<Hit>> DeviceExactIndex::search(Queue& queue, std::span<const float> queries, std::size_t nq,
                                                       std::size_t k) {
  if (k == 0 || k > kMaxK) throw UsageError("[DeviceExactIndex::search] k must be in 1.." + std::to_string(kMaxK));
  if (queries.size() != nq * dim_) throw UsageError("[DeviceExactIndex::search] queries is not nq × dim floats");
  std::vector<std::vector<Hit>> out(nq);
  const auto n = static_cast<uint32_t>(ids_.size());
  if (n == 0) return out;
  for (std::size_t first = 0; first < nq; first += batch_) {
    const auto b = static_cast<uint32_t>(std::min(batch_, nq - first));
    std::memcpy(queries_host_.contents(), queries.data() + first * dim_, b * dim_ * sizeof(float));
    auto cb = queue.make_command_buffer("vector.search");
    cb.copy(queries_host_, 0, queries_dev_, 0, b * dim_ * sizeof(float))
        .dispatch("vector.scores", Grid{b, n}, DispatchArgs::make({queries_dev_, vectors_, scores_},
                                                                  ScoresArgs{b, n, static_cast<uint32_t>(dim_)}))
        .dispatch("vector.topk", Grid{b},
                  DispatchArgs::make({scores_, top_scores_dev_, top_rows_dev_, part_scores_, part_rows_},
                                     TopkArgs{b, n, static_cast<uint32_t>(k)}))
        .copy(top_scores_dev_, 0, top_scores_host_, 0, b * k * sizeof(float))
        .copy(top_rows_dev_, 0, top_rows_host_, 0, b * k * sizeof(uint32_t))
        .commit();
    cb.wait_until_completed();
    const auto s = top_scores_host_.span<float>();
    const auto r = top_rows_host_.span<uint32_t>();
    for (uint32_t i = 0; i < b; ++i) {
      auto& hits = out[first + i];
      for (std::size_t j = 0; j < k; ++j) {
        const uint32_t row = r[i * k + j];
        if (row < n) hits.push_back({ids_[row], s[i * k + j]});
      }
    }
  }
  return out;
}

}  // namespace ut::vector
