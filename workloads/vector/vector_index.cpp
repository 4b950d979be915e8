#include "workloads/vector/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "timeline/error.h"

namespace ut::vector {

std::vector<Hit> top_k(std::span<const float> scores, std::span<const uint64_t> ids, std::size_t k) {
  std::vector<Hit> hits(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i) hits[i] = {ids[i], scores[i]};
  k = std::min(k, hits.size());
  auto better = [](const Hit& a, const Hit& b) { return a.score != b.score ? a.score > b.score : a.id < b.id; };
  std::partial_sort(hits.begin(), hits.begin() + static_cast<long>(k), hits.end(), better);
  hits.resize(k);
  return hits;
}

// ---------------------------------------------------------------------------------------------- HnswIndex

HnswIndex::HnswIndex(std::size_t dim, HnswParams params)
    : dim_(dim), params_(params), space_(std::make_unique<hnswlib::InnerProductSpace>(dim)) {
  if (dim == 0) throw UsageError("[HnswIndex::HnswIndex] dim must be > 0");
  index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), params_.initial_capacity, params_.M,
                                                             params_.ef_construction);
  index_->setEf(params_.ef_search);
}

HnswIndex::~HnswIndex() = default;

void HnswIndex::check(std::span<const float> v, const char* method) const {
  if (v.size() != dim_) {
    throw UsageError(std::string("[HnswIndex::") + method + "] vector has " + std::to_string(v.size()) +
                     " floats, the index has dim " + std::to_string(dim_));
  }
}

void HnswIndex::upsert(uint64_t id, std::span<const float> v) {
  check(v, "upsert");
  std::unique_lock lock(mutex_);
  if (index_->cur_element_count + 1 > index_->max_elements_) {
    index_->resizeIndex(std::max<std::size_t>(16, index_->max_elements_ * 2));
  }
  // hnswlib replaces the vector of an existing label and clears its tombstone.
  index_->addPoint(v.data(), id);
  live_[id] = true;
}

void HnswIndex::upsert_many(std::span<const uint64_t> ids, std::span<const float> matrix, unsigned threads) {
  if (matrix.size() != ids.size() * dim_)
    throw UsageError("[HnswIndex::upsert_many] matrix has " + std::to_string(matrix.size()) + " floats, not ids (" +
                     std::to_string(ids.size()) + ") × dim (" + std::to_string(dim_) + ")");
  {
    std::unordered_set<uint64_t> seen(ids.begin(), ids.end());
    if (seen.size() != ids.size()) throw UsageError("[HnswIndex::upsert_many] ids repeat");
  }
  std::unique_lock lock(mutex_);
  const std::size_t need = index_->cur_element_count + ids.size();
  if (need > index_->max_elements_) index_->resizeIndex(std::max<std::size_t>(need, index_->max_elements_ * 2));
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(1, ids.size() / 64)));
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    try {
      // Small strides keep the threads on nearby rows (the graph grows evenly) without a shared queue per row.
      for (std::size_t b; (b = next.fetch_add(16)) < ids.size();)
        for (std::size_t i = b; i < std::min(b + 16, ids.size()); ++i) index_->addPoint(matrix.data() + i * dim_, ids[i]);
    } catch (...) {
      std::lock_guard g(failure_mutex);
      if (!failure) failure = std::current_exception();
      next.store(ids.size());
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (uint64_t id : ids) live_[id] = true;
  if (failure) std::rethrow_exception(failure);
}

bool HnswIndex::remove(uint64_t id) {
  std::unique_lock lock(mutex_);
  auto it = live_.find(id);
  if (it == live_.end() || !it->second) return false;
  index_->markDelete(id);
  it->second = false;
  compact_if_mostly_removed();
  return true;
}

// hnswlib (Debian's 0.6) never reuses a removed vector's slot: an index under steady edits would grow without
// bound. Once removed vectors outnumber live ones (and 1,024), the live ones are re-inserted into a fresh graph:
// amortised, a removal pays for one re-insertion; the rebuild holds the write lock (searches wait for it).
void HnswIndex::compact_if_mostly_removed() {
  const std::size_t removed = index_->num_deleted_, live = index_->cur_element_count - removed;
  if (removed <= std::max<std::size_t>(1024, live)) return;
  auto fresh = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space_.get(), std::max(params_.initial_capacity, 2 * live), params_.M, params_.ef_construction);
  fresh->setEf(params_.ef_search);
  for (const auto& [id, present] : live_)
    if (present) fresh->addPoint(index_->getDataByLabel<float>(id).data(), id);
  index_ = std::move(fresh);  // only now forget the removed ids (a failed rebuild leaves everything as it was)
  std::erase_if(live_, [](const auto& e) { return !e.second; });
  ++compactions_;
}

std::vector<Hit> HnswIndex::search(std::span<const float> query, std::size_t k) const {
  check(query, "search");
  std::shared_lock lock(mutex_);
  std::vector<Hit> hits;
  if (k == 0 || index_->cur_element_count == 0) return hits;
  auto pq = index_->searchKnn(query.data(), k);
  hits.reserve(pq.size());
  while (!pq.empty()) {
    // hnswlib's inner-product "distance" is 1 - dot.
    hits.push_back({pq.top().second, 1.0f - pq.top().first});
    pq.pop();
  }
  std::reverse(hits.begin(), hits.end());
  return hits;
}

std::size_t HnswIndex::removed() const {
  std::shared_lock lock(mutex_);
  return index_->num_deleted_;
}

std::size_t HnswIndex::compactions() const {
  std::shared_lock lock(mutex_);
  return compactions_;
}

std::size_t HnswIndex::size() const {
  std::shared_lock lock(mutex_);
  std::size_t n = 0;
  for (auto& [id, present] : live_) n += present ? 1 : 0;
  return n;
}

void HnswIndex::set_ef_search(std::size_t ef) {
  std::unique_lock lock(mutex_);
  params_.ef_search = ef;
  index_->setEf(ef);
}

void HnswIndex::save(const std::string& path) const {
  std::shared_lock lock(mutex_);
  const std::string tmp = path + ".tmp";
  try {
    index_->saveIndex(tmp);
  } catch (const std::exception& e) {
    throw Error("[HnswIndex::save] cannot write '" + tmp + "': " + e.what());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("[HnswIndex::save] cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

std::unique_ptr<HnswIndex> HnswIndex::load(const std::string& path, std::size_t dim, HnswParams params) {
  if (!std::filesystem::exists(path)) throw Error("[HnswIndex::load] no index file '" + path + "'");
  auto idx = std::make_unique<HnswIndex>(dim, params);
  try {
    idx->index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(idx->space_.get(), path, false, 0);
  } catch (const std::exception& e) {
    throw Error("[HnswIndex::load] '" + path + "' is not a valid index for dim " + std::to_string(dim) + ": " + e.what());
  }
  auto& h = *idx->index_;
  // The file stores where the vector and the label sit in each element: their distance is the vector size.
  const std::size_t file_dim = (h.label_offset_ - h.offsetData_) / sizeof(float);
  if (file_dim != dim) {
    throw Error("[HnswIndex::load] '" + path + "' holds vectors of " + std::to_string(file_dim) + " floats, expected " +
                std::to_string(dim));
  }
  h.setEf(params.ef_search);
  for (std::size_t i = 0; i < h.cur_element_count; ++i) {
    const auto label = h.getExternalLabel(static_cast<hnswlib::tableint>(i));
    idx->live_[label] = !h.isMarkedDeleted(static_cast<hnswlib::tableint>(i));
  }
  return idx;
}

// --------------------------------------------------------------------------------------------- ExactIndex

void ExactIndex::upsert(uint64_t id, std::span<const float> v) {
  if (v.size() != dim_) {
    throw UsageError("[ExactIndex::upsert] vector has " + std::to_string(v.size()) + " floats, the index has dim " +
                     std::to_string(dim_));
  }
  std::unique_lock lock(mutex_);
  auto it = row_.find(id);
  std::size_t r;
  if (it != row_.end()) {
    r = it->second;
  } else {
    r = ids_.size();
    ids_.push_back(id);
    data_.resize(data_.size() + dim_);
    row_[id] = r;
  }
  std::copy(v.begin(), v.end(), data_.begin() + static_cast<long>(r * dim_));
}

bool ExactIndex::remove(uint64_t id) {
  std::unique_lock lock(mutex_);
  auto it = row_.find(id);
  if (it == row_.end()) return false;
  const std::size_t r = it->second, last = ids_.size() - 1;
  if (r != last) {
    std::copy(data_.begin() + static_cast<long>(last * dim_), data_.begin() + static_cast<long>((last + 1) * dim_),
              data_.begin() + static_cast<long>(r * dim_));
    ids_[r] = ids_[last];
    row_[ids_[r]] = r;
  }
  ids_.pop_back();
  data_.resize(data_.size() - dim_);
  row_.erase(it);
  return true;
}

std::vector<Hit> ExactIndex::search(std::span<const float> query, std::size_t k) const {
  if (query.size() != dim_) {
    throw UsageError("[ExactIndex::search] query has " + std::to_string(query.size()) + " floats, the index has dim " +
                     std::to_string(dim_));
  }
  std::shared_lock lock(mutex_);
  std::vector<float> scores(ids_.size());
  for (std::size_t r = 0; r < ids_.size(); ++r) {
    const float* row = data_.data() + r * dim_;
    float s = 0;
    for (std::size_t d = 0; d < dim_; ++d) s += row[d] * query[d];
    scores[r] = s;
  }
  return top_k(scores, ids_, k);
}

std::size_t ExactIndex::size() const {
  std::shared_lock lock(mutex_);
  return ids_.size();
}

void ExactIndex::snapshot(std::vector<float>& matrix, std::vector<uint64_t>& ids) const {
  std::shared_lock lock(mutex_);
  matrix = data_;
  ids = ids_;
}

}  // namespace ut::vector
