#include "workloads/vector/bm25.h"

#include <algorithm>
#include <cmath>

namespace ut::vector {

std::vector<std::string> Bm25Index::terms(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
      cur += static_cast<char>(c);
    } else if (c >= 'A' && c <= 'Z') {
      cur += static_cast<char>(c - 'A' + 'a');
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

uint32_t Bm25Index::add(std::string_view text) {
  const auto id = static_cast<uint32_t>(doc_len_.size());
  std::unordered_map<std::string, uint32_t> tf;
  const auto ts = terms(text);
  for (const auto& t : ts) ++tf[t];
  for (auto& [t, n] : tf) postings_[t].push_back({id, n});
  doc_len_.push_back(static_cast<uint32_t>(ts.size()));
  total_len_ += ts.size();
  return id;
}

std::vector<std::pair<uint32_t, float>> Bm25Index::search(std::string_view query, std::size_t k) const {
  if (doc_len_.empty() || k == 0) return {};
  const double n_docs = static_cast<double>(doc_len_.size());
  const double avg_len = static_cast<double>(total_len_) / n_docs;
  std::unordered_map<uint32_t, float> score;
  auto qt = terms(query);
  std::sort(qt.begin(), qt.end());
  qt.erase(std::unique(qt.begin(), qt.end()), qt.end());  // each query term counts once
  for (const auto& t : qt) {
    const auto it = postings_.find(t);
    if (it == postings_.end()) continue;
    const double df = static_cast<double>(it->second.size());
    const double idf = std::log(1.0 + (n_docs - df + 0.5) / (df + 0.5));  // Lucene's non-negative IDF
    for (const auto& p : it->second) {
      const double tf = p.tf;
      const double norm = k1_ * (1.0 - b_ + b_ * doc_len_[p.doc] / avg_len);
      score[p.doc] += static_cast<float>(idf * tf * (k1_ + 1.0) / (tf + norm));
    }
  }
  std::vector<std::pair<uint32_t, float>> hits(score.begin(), score.end());
  const auto better = [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; };
  const std::size_t n = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(n), hits.end(), better);
  hits.resize(n);
  return hits;
}

}  // namespace ut::vector
