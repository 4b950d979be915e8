// DeviceExactIndex: exact top-k search as timeline work — a scores kernel (queries × stored vectors) and a
// top-k selection kernel dispatched on a queue of any backend (the CPU backend, or CUDA on the GPU).
//
//   auto dev = ut::Device::create();                          // cuda on the GPU machine, cpu elsewhere
//   auto q = dev->make_queue({.kind = ut::QueueKind::compute, .label = "Q_ml"});
//   ut::vector::DeviceExactIndex idx(*dev, 384, /*capacity=*/1'000'000);
//   idx.assign(ids, matrix);                                  // row-major n × 384, uploaded to device storage
//   auto hits = idx.search(*q, queries, /*nq=*/256, /*k=*/10);  // hits[i]: best first for query i
//
// Contract: k <= kMaxK. Results equal ExactIndex's up to float rounding (ties between scores closer than
// ~1e-6 may order differently). search() is one command buffer per batch of queries; it blocks the calling
// host thread until that buffer completes (the engine calls it from its ML lane). Not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "timeline/device.h"
#include "workloads/vector/vector_index.h"

namespace ut::vector {

struct ScoresArgs {
  uint32_t nq, n, dim;
};
struct TopkArgs {
  uint32_t nq, n, k;
};
// The CUDA top-k scans each query's scores in parts of 16384 rows, then merges parts × k candidates; its dispatch
// takes scratch buffers of nq × topk_parts(n) × kMaxK scores and rows (the CPU version ignores them).
constexpr uint32_t topk_parts(uint32_t n) { return n == 0 ? 1 : (n + 16383) / 16384; }

// Registers "vector.scores" and "vector.topk" for the CPU backend (and CUDA in CUDA builds). Idempotent.
void register_vector_kernels();
#ifdef UT_HAVE_CUDA
void register_vector_cuda_kernels();  // workloads/vector/kernels.cu
#endif

class DeviceExactIndex {
 public:
  static constexpr uint32_t kMaxK = 16;

  DeviceExactIndex(Device& device, std::size_t dim, std::size_t capacity);

  // Replaces the contents: ids[i] owns row i of `matrix` (ids.size() × dim floats).
  void assign(std::span<const uint64_t> ids, std::span<const float> matrix);
  std::size_t size() const noexcept { return ids_.size(); }

  std::vector<std::vector<Hit>> search(Queue& queue, std::span<const float> queries, std::size_t nq, std::size_t k);

 private:
  Device& device_;
  std::size_t dim_, capacity_;
  Buffer vectors_;             // device storage, capacity × dim
  std::vector<uint64_t> ids_;
  std::size_t batch_;          // queries per command buffer (bounds the scores matrix)
  Buffer queries_host_, queries_dev_, scores_, top_scores_dev_, top_rows_dev_, top_scores_host_, top_rows_host_;
  Buffer part_scores_, part_rows_;  // the CUDA top-k's per-part candidates
};

}  // namespace ut::vector
