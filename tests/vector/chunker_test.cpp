#include "workloads/vector/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "timeline/error.h"

namespace {

using ut::vector::chunk_text;
using ut::vector::ChunkerOptions;
using ut::vector::count_words;

std::string random_doc(std::mt19937_64& rng, int paragraphs) {
  static const char* words[] = {"queue", "event", "heap", "kernel", "frame", "token", "vector", "index",
                                "query", "table", "render", "signal", "wait", "buffer", "stream", "model"};
  std::string doc;
  for (int p = 0; p < paragraphs; ++p) {
    const int sentences = 1 + static_cast<int>(rng() % 6);
    for (int s = 0; s < sentences; ++s) {
      const int n = 3 + static_cast<int>(rng() % 15);
      for (int w = 0; w < n; ++w) {
        doc += words[rng() % 16];
        doc += w + 1 == n ? "." : " ";
      }
      doc += " ";
    }
    doc += "\n\n";
  }
  return doc;
}

TEST(Chunker, RespectsBudgetCoversTextAndOverlaps) {
  std::mt19937_64 rng(std::random_device{}());
  for (int trial = 0; trial < 50; ++trial) {
    const std::string doc = random_doc(rng, 1 + static_cast<int>(rng() % 20));
    ChunkerOptions opt{.max_tokens = 20 + rng() % 60, .overlap_tokens = rng() % 10};
    auto chunks = chunk_text(doc, count_words, opt);
    ASSERT_FALSE(chunks.empty());
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_LE(chunks[i].tokens, opt.max_tokens);
      EXPECT_EQ(chunks[i].text, doc.substr(chunks[i].begin, chunks[i].end - chunks[i].begin));
      if (i > 0) {
        EXPECT_GT(chunks[i].begin, chunks[i - 1].begin) << "chunks advance";
        EXPECT_LE(chunks[i].begin, chunks[i - 1].end + 3) << "no gap between chunks";
      }
    }
    // Every word of the document is in some chunk: the last chunk reaches the last word.
    std::size_t last_non_space = doc.find_last_not_of(" \n");
    EXPECT_EQ(chunks.back().end, last_non_space + 1);
  }
}

TEST(Chunker, PrefersParagraphAndSentenceEnds) {
  const std::string doc = "One two three four. Five six seven eight.\n\nNine ten eleven twelve. Thirteen fourteen.";
  auto chunks = chunk_text(doc, count_words, {.max_tokens = 8, .overlap_tokens = 0});
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "One two three four. Five six seven eight.");
  EXPECT_EQ(chunks[1].text, "Nine ten eleven twelve. Thirteen fourteen.");
}

TEST(Chunker, OverlongSentenceSplitsAtWords) {
  std::string doc;
  for (int i = 0; i < 25; ++i) doc += "w" + std::to_string(i) + " ";
  auto chunks = chunk_text(doc, count_words, {.max_tokens = 10, .overlap_tokens = 0});
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].tokens, 10u);
  EXPECT_EQ(chunks[2].tokens, 5u);
}

TEST(Chunker, EditChangesOnlyTheAffectedChunkHashes) {
  std::mt19937_64 rng(std::random_device{}());
  const std::string doc = random_doc(rng, 12);
  const ChunkerOptions opt{.max_tokens = 40, .overlap_tokens = 0};
  auto before = chunk_text(doc, count_words, opt);
  ASSERT_GE(before.size(), 3u);
  // Edit one word inside the middle chunk without changing its length in words.
  const auto& mid = before[before.size() / 2];
  std::string edited = doc;
  const std::size_t at = edited.find(' ', mid.begin);
  ASSERT_LT(at, mid.end);
  edited.insert(at, "X");
  auto after = chunk_text(edited, count_words, opt);
  ASSERT_EQ(after.size(), before.size());
  std::size_t changed = 0;
  for (std::size_t i = 0; i < before.size(); ++i) changed += before[i].hash != after[i].hash;
  EXPECT_EQ(changed, 1u);
  EXPECT_NE(before[before.size() / 2].hash, after[before.size() / 2].hash);
}

TEST(Chunker, BadOptionsAreUsageErrors) {
  EXPECT_THROW(chunk_text("a b", count_words, {.max_tokens = 0}), ut::UsageError);
  EXPECT_THROW(chunk_text("a b", count_words, {.max_tokens = 4, .overlap_tokens = 4}), ut::UsageError);
  EXPECT_TRUE(chunk_text("", count_words).empty());
}

}  // namespace
