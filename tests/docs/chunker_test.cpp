#include "workloads/docs/chunker.h"

#include <gtest/gtest.h>
#include <iconv.h>

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

// Found by the chunker fuzz target: an overlong word right after the overlap made a chunk of the overlap alone,
// a piece of the previous chunk repeated (and embedded twice). Every chunk must hold text no earlier one holds.
TEST(Chunker, NoChunkRepeatsOnlyTheOverlap) {
  // Word pieces: each word costs ceil(bytes / 4) tokens, so the 40-byte word (10) fits no chunk beside others.
  auto pieces = [](std::string_view s) {
    std::size_t n = 0, word = 0;
    for (char c : s) {
      if (c == ' ') n += (word + 3) / 4, word = 0;
      else ++word;
    }
    return n + (word + 3) / 4;
  };
  const std::string doc = "short words then " + std::string(40, 'x') + " and more. End.";
  const auto chunks = chunk_text(doc, pieces, {.max_tokens = 8, .overlap_tokens = 2});
  ASSERT_GE(chunks.size(), 3u);
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    EXPECT_GT(chunks[i].begin, chunks[i - 1].begin) << i;
    EXPECT_GT(chunks[i].end, chunks[i - 1].end) << "chunk " << i << " '" << chunks[i].text << "' ends where chunk "
                                               << i - 1 << " '" << chunks[i - 1].text << "' ends";
  }
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

// make_valid_utf8 against glibc's iconv as the independent validator: random bytes come out valid, valid text
// (encoded here from random code points) comes out unchanged, and the known bad forms are replaced byte by byte.
static bool iconv_accepts(const std::string& s) {
  iconv_t cd = iconv_open("UTF-8", "UTF-8");
  std::string in = s, out(s.size() * 2 + 16, '\0');
  char* ip = in.data();
  char* op = out.data();
  std::size_t il = in.size(), ol = out.size();
  const bool ok = iconv(cd, &ip, &il, &op, &ol) != static_cast<std::size_t>(-1) && il == 0;
  iconv_close(cd);
  return ok;
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    std::string bytes(1 + rng() % 64, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng() & 0xFF);
    std::string fixed = bytes;
    ut::vector::make_valid_utf8(fixed);
    EXPECT_TRUE(iconv_accepts(fixed));
    std::string valid;
    for (int k = 0; k < 20; ++k) {
      uint32_t cp = static_cast<uint32_t>(rng() % 0x110000);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
      if (cp < 0x80) {
        valid += static_cast<char>(cp);
      } else if (cp < 0x800) {
        valid += static_cast<char>(0xC0 | (cp >> 6));
        valid += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        valid += static_cast<char>(0xE0 | (cp >> 12));
        valid += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        valid += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        valid += static_cast<char>(0xF0 | (cp >> 18));
        valid += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        valid += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        valid += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    ASSERT_TRUE(iconv_accepts(valid));
    std::string same = valid;
    EXPECT_EQ(ut::vector::make_valid_utf8(same), 0u);
    EXPECT_EQ(same, valid);
  }
  const std::string fffd = "\xEF\xBF\xBD";
  for (const auto& [in, replaced] : std::vector<std::pair<std::string, std::size_t>>{
           {"caf\xE9", 1},              // Latin-1
           {"\xC0\xAF", 2},            // overlong '/'
           {"\xED\xA0\x80", 3},        // a UTF-16 surrogate
           {"\xF4\x90\x80\x80", 4},    // past U+10FFFF
           {"ok\xE2\x82", 2}}) {       // cut short
    std::string s = in;
    EXPECT_EQ(ut::vector::make_valid_utf8(s), replaced) << in;
    EXPECT_TRUE(iconv_accepts(s));
    EXPECT_NE(s.find(fffd), std::string::npos);
  }
}
