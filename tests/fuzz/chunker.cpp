// Fuzz target: the document chunker and the UTF-8 repair that runs before it (workloads/docs/chunker.h).
// Input: byte 0 picks max_tokens (1..64), byte 1 the overlap (< max_tokens), byte 2 the token counter; the rest is
// the document. Checked on every input, against oracles of their own:
// - make_valid_utf8 leaves text that nlohmann::json's strict UTF-8 validator accepts, replaces nothing in text
//   that validator already accepts, and is idempotent;
// - chunk_text's contract: chunks in order (begins and ends strictly increasing), each the exact byte range of the
//   document it says, every non-space byte inside some chunk, and at most max_tokens tokens unless the chunk is
//   one word (flagged oversized).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tests/fuzz/fuzz_check.h"
#include "timeline/error.h"
#include "workloads/docs/chunker.h"

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// True when nlohmann::json (its own UTF-8 decoder) can write `s` as a JSON string without replacing anything.
bool strict_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// A word-piece-like counter: each word costs ceil(bytes / 4) tokens; whitespace costs nothing (as BERT's).
std::size_t count_pieces(std::string_view s) {
  std::size_t n = 0, word = 0;
  for (char c : s) {
    if (is_space(c)) {
      n += (word + 3) / 4;
      word = 0;
    } else {
      ++word;
    }
  }
  return n + (word + 3) / 4;
}

void check_utf8_repair(const std::string& original) {
  std::string text = original;
  const bool was_valid = strict_utf8(original);
  const std::size_t replaced = ut::vector::make_valid_utf8(text);
  FUZZ_CHECK(strict_utf8(text), "make_valid_utf8 left invalid UTF-8");
  if (was_valid) FUZZ_CHECK(replaced == 0 && text == original, "make_valid_utf8 changed valid UTF-8");
  else FUZZ_CHECK(replaced > 0, "make_valid_utf8 replaced nothing in invalid UTF-8");
  std::string again = text;
  FUZZ_CHECK(ut::vector::make_valid_utf8(again) == 0 && again == text, "make_valid_utf8 is not idempotent");
}

void check_chunks(std::string_view text, const ut::vector::TokenCounter& count, const ut::vector::ChunkerOptions& opt) {
  const auto chunks = ut::vector::chunk_text(text, count, opt);
  std::size_t covered_to = 0;  // every non-space byte before this is inside a chunk
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    FUZZ_CHECK(c.begin < c.end && c.end <= text.size(), "chunk range outside the document");
    FUZZ_CHECK(c.text == text.substr(c.begin, c.end - c.begin), "chunk text is not its byte range");
    FUZZ_CHECK(c.tokens == count(c.text), "chunk token count differs from the counter's");
    FUZZ_CHECK(c.hash == ut::vector::content_hash(c.text), "chunk hash");
    if (i > 0) FUZZ_CHECK(c.begin > chunks[i - 1].begin && c.end > chunks[i - 1].end, "chunks out of order");
    const bool one_word = c.text.find_first_of(" \t\r\n") == std::string::npos;
    FUZZ_CHECK(c.oversized == (c.tokens > opt.max_tokens), "oversized flag");
    FUZZ_CHECK(!c.oversized || one_word, "a chunk over max_tokens that is not a single word");
    for (std::size_t b = covered_to; b < c.begin; ++b) FUZZ_CHECK(is_space(text[b]), "text left out of every chunk");
    covered_to = std::max(covered_to, c.end);
  }
  for (std::size_t b = covered_to; b < text.size(); ++b) FUZZ_CHECK(is_space(text[b]), "text after the last chunk");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  ut::vector::ChunkerOptions opt;
  opt.max_tokens = 1 + data[0] % 64;
  opt.overlap_tokens = data[1] % opt.max_tokens;
  const ut::vector::TokenCounter count =
      data[2] % 2 ? ut::vector::TokenCounter(count_pieces) : ut::vector::TokenCounter(ut::vector::count_words);
  const std::string text(reinterpret_cast<const char*>(data) + 3, size - 3);
  check_utf8_repair(text);
  check_chunks(text, count, opt);
  // Bad options are a UsageError, never anything else.
  try {
    ut::vector::chunk_text(text, count, {.max_tokens = opt.max_tokens, .overlap_tokens = opt.max_tokens});
    FUZZ_CHECK(false, "overlap_tokens == max_tokens was accepted");
  } catch (const ut::UsageError&) {
  }
  return 0;
}
