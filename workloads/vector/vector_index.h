// Vector indexes over L2-normalised embeddings, scored by inner product (= cosine similarity).
//
//   ut::vector::HnswIndex ann(384);                 // approximate, hnswlib, CPU
//   ann.upsert(42, embedding);                        // insert or replace
//   ann.remove(42);                                   // later searches never return 42
//   auto hits = ann.search(query, 10);                // best first: {id, score}
//   ann.save("index.hnsw");  auto again = ut::vector::HnswIndex::load("index.hnsw", 384);
//
//   ut::vector::ExactIndex exact(384);               // exact top-k: the oracle, and the GPU path's layout
//   exact.upsert(7, v);  auto best = exact.search(query, 10);
//
// Contract: thread-safe (searches run concurrently; writes are exclusive). Vectors must have `dim` floats;
// a wrong size is a UsageError. Scores are inner products; ties break by smaller id in ExactIndex.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace ut::vector {

struct Hit {
  uint64_t id;
  float score;
};

struct HnswParams {
  // Chosen so recall@10 >= 0.95 on 384-d random unit vectors, the hardest case (tests/vector measures it).
  std::size_t M = 32;                // graph degree
  std::size_t ef_construction = 200;
  std::size_t ef_search = 256;
  std::size_t initial_capacity = 1024;  // grows by doubling
};

class HnswIndex {
 public:
  explicit HnswIndex(std::size_t dim, HnswParams params = {});
  ~HnswIndex();
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  void upsert(uint64_t id, std::span<const float> v);
  // upsert() of ids[i] -> row i of `matrix` (ids.size() × dim floats) on `threads` threads (0: every core);
  // hnswlib locks per node, so distinct ids insert in parallel. Throws UsageError on repeated ids.
  void upsert_many(std::span<const uint64_t> ids, std::span<const float> matrix, unsigned threads = 0);
  bool remove(uint64_t id);  // false if absent
  std::vector<Hit> search(std::span<const float> query, std::size_t k) const;
  std::size_t size() const;  // live (not removed) vectors
  // Removed vectors hnswlib still keeps (tombstones: their memory and graph links stay until a rebuild). Once
  // they outnumber the live vectors and 1,024, remove() rebuilds the graph from the live ones (compactions()).
  std::size_t removed() const;
  std::size_t compactions() const;
  std::size_t dim() const noexcept { return dim_; }
  void set_ef_search(std::size_t ef);

  // Writes atomically (temp file + rename). load() throws Error naming the file if it is missing or corrupt.
  void save(const std::string& path) const;
  static std::unique_ptr<HnswIndex> load(const std::string& path, std::size_t dim, HnswParams params = {});

 private:
  void check(std::span<const float> v, const char* method) const;
  void compact_if_mostly_removed();  // under the write lock
  std::size_t dim_;
  HnswParams params_;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
  std::unordered_map<uint64_t, bool> live_;  // id -> present (hnswlib keeps removed ids as tombstones)
  std::size_t compactions_ = 0;
  mutable std::shared_mutex mutex_;
};

class ExactIndex {
 public:
  explicit ExactIndex(std::size_t dim) : dim_(dim) {}

  void upsert(uint64_t id, std::span<const float> v);
  bool remove(uint64_t id);
  std::vector<Hit> search(std::span<const float> query, std::size_t k) const;
  std::size_t size() const;
  std::size_t dim() const noexcept { return dim_; }

  // Row-major copy of the stored vectors and their ids (row i has ids[i]): what a GPU top-k consumes.
  void snapshot(std::vector<float>& matrix, std::vector<uint64_t>& ids) const;

 private:
  std::size_t dim_;
  std::vector<float> data_;      // rows × dim, dense (removal moves the last row into the hole)
  std::vector<uint64_t> ids_;
  std::unordered_map<uint64_t, std::size_t> row_;
  mutable std::shared_mutex mutex_;
};

// Top-k of scores (best first, ties by smaller id): shared by the CPU exact search and tests.
std::vector<Hit> top_k(std::span<const float> scores, std::span<const uint64_t> ids, std::size_t k);

}  // namespace ut::vector
