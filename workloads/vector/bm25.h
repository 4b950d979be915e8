// Bm25Index: keyword search with Okapi BM25 — the honest baseline the embedding search is measured against.
//
//   ut::vector::Bm25Index idx;                        // k1 = 1.2, b = 0.75
//   idx.add("7zip\n7-Zip is a file archiver with a high compression ratio.");
//   auto hits = idx.search("file archiver", 10);      // (document id, score), best first
//
// Terms are lowercased runs of letters and digits (bytes >= 0x80 count as letters, so UTF-8 words stay whole);
// no stemming and no stop-word list: IDF discounts common words. Documents are numbered in the order added.
// Not thread-safe while adding; search() is const and may run from several threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ut::vector {

class Bm25Index {
 public:
  explicit Bm25Index(float k1 = 1.2f, float b = 0.75f) : k1_(k1), b_(b) {}

  uint32_t add(std::string_view text);
  std::vector<std::pair<uint32_t, float>> search(std::string_view query, std::size_t k) const;
  std::size_t size() const noexcept { return doc_len_.size(); }

  static std::vector<std::string> terms(std::string_view text);

 private:
  struct Posting {
    uint32_t doc;
    uint32_t tf;
  };
  float k1_, b_;
  std::unordered_map<std::string, std::vector<Posting>> postings_;
  std::vector<uint32_t> doc_len_;
  uint64_t total_len_ = 0;
};

}  // namespace ut::vector
