// Chunker: splits a document into token-budgeted chunks along paragraph and sentence boundaries, with
// overlap, each with a content hash so only changed chunks are re-embedded.
//
//   ut::vector::ChunkerOptions opt{.max_tokens = 256, .overlap_tokens = 32};
//   auto count = [&](std::string_view s) { return embedder.count_tokens(s); };   // the embedder's tokenizer
//   for (const auto& c : ut::vector::chunk_text(doc, count, opt)) index(c.hash, c.text);
//
// Contract: chunks cover the text in order; each has at most max_tokens tokens by `count`, except a single
// word longer than the budget, which becomes a chunk of its own (flagged `oversized`). A chunk ends at a
// paragraph end when it is at least half full, else at a sentence end, else at a word. The next chunk starts
// with up to overlap_tokens of the previous chunk's trailing sentences, unless the text after them would not fit
// beside them: every chunk holds text that no earlier chunk holds (begins and ends strictly increase). Deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ut::vector {

using TokenCounter = std::function<std::size_t(std::string_view)>;

struct ChunkerOptions {
  std::size_t max_tokens = 256;
  std::size_t overlap_tokens = 32;
};

struct Chunk {
  std::size_t begin = 0, end = 0;  // byte range in the document
  std::string text;
  std::size_t tokens = 0;
  uint64_t hash = 0;               // content hash of text (FNV-1a 64)
  bool oversized = false;
};

std::vector<Chunk> chunk_text(std::string_view text, const TokenCounter& count, const ChunkerOptions& opt = {});

// Replaces every byte that is not part of a well-formed UTF-8 sequence (stray continuation bytes, truncated or
// overlong sequences, surrogates, > U+10FFFF) with U+FFFD, in place; returns how many were replaced. Documents
// are stored as SQL VARCHAR, which must be valid UTF-8 (Latin-1 files are the usual source).
std::size_t make_valid_utf8(std::string& text);

// A whitespace word counter, for callers without a tokenizer (and for tests).
std::size_t count_words(std::string_view s);

uint64_t content_hash(std::string_view s);

}  // namespace ut::vector
