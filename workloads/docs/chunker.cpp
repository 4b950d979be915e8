#include "workloads/docs/chunker.h"

#include <algorithm>

#include "timeline/error.h"

namespace ut::vector {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A unit is a sentence (or, for over-long sentences, a word); `para_end` marks the last unit of a paragraph.
struct Unit {
  std::size_t begin, end;
  bool para_end;
  std::size_t tokens;
};

std::vector<Unit> split_units(std::string_view text, const TokenCounter& count, std::size_t budget) {
  std::vector<Unit> units;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    while (i < n && is_space(text[i])) ++i;
    if (i >= n) break;
    // Sentence: up to . ! ? followed by whitespace, or a blank line (paragraph end), or the end.
    std::size_t j = i;
    bool para_end = false;
    while (j < n) {
      const char c = text[j];
      if (c == '\n' && j + 1 < n && (text[j + 1] == '\n' || (text[j + 1] == '\r' && j + 2 < n && text[j + 2] == '\n'))) {
        para_end = true;
        break;
      }
      ++j;
      if ((c == '.' || c == '!' || c == '?') && (j == n || is_space(text[j]))) break;
    }
    std::size_t end = j;
    while (end > i && is_space(text[end - 1])) --end;
    if (j >= n) para_end = true;
    // A blank line right after the sentence also ends the paragraph.
    std::size_t k = j;
    int newlines = 0;
    while (k < n && is_space(text[k])) newlines += text[k++] == '\n';
    if (newlines >= 2) para_end = true;
    const std::size_t t = count(text.substr(i, end - i));
    if (t <= budget) {
      units.push_back({i, end, para_end, t});
    } else {
      // Over-long sentence: fall back to words.
      std::size_t w = i;
      while (w < end) {
        while (w < end && is_space(text[w])) ++w;
        std::size_t we = w;
        while (we < end && !is_space(text[we])) ++we;
        if (we > w) units.push_back({w, we, false, count(text.substr(w, we - w))});
        w = we;
      }
      if (!units.empty()) units.back().para_end = para_end;
    }
    i = j;
  }
  return units;
}

}  // namespace

uint64_t content_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::size_t count_words(std::string_view s) {
  std::size_t n = 0;
  bool in = false;
  for (char c : s) {
    if (is_space(c)) {
      in = false;
    } else if (!in) {
      in = true;
      ++n;
    }
  }
  return n;
}

std::vector<Chunk> chunk_text(std::string_view text, const TokenCounter& count, const ChunkerOptions& opt) {
  if (opt.max_tokens == 0) throw UsageError("[chunk_text] max_tokens must be > 0");
  if (opt.overlap_tokens >= opt.max_tokens) throw UsageError("[chunk_text] overlap_tokens must be < max_tokens");
  if (!count) throw UsageError("[chunk_text] no token counter");
  const std::vector<Unit> units = split_units(text, count, opt.max_tokens);
  std::vector<Chunk> chunks;
  auto emit = [&](std::size_t first, std::size_t last) {  // units [first, last]
    Chunk c;
    c.begin = units[first].begin;
    c.end = units[last].end;
    c.text = std::string(text.substr(c.begin, c.end - c.begin));
    c.tokens = count(c.text);
    c.oversized = c.tokens > opt.max_tokens;
    c.hash = content_hash(c.text);
    chunks.push_back(std::move(c));
  };
  std::size_t start = 0, fresh = 0;  // fresh: the first unit that no chunk emitted so far holds
  while (start < units.size()) {
    std::size_t used = 0, last = start;
    std::size_t i = start;
    for (; i < units.size(); ++i) {
      // Units are joined with the separator text between them; counting the joined text is exact for
      // tokenizers that merge across spaces, so re-count the candidate range when it is close to the budget.
      const std::size_t add = units[i].tokens;
      if (i > start && used + add > opt.max_tokens) break;
      if (i > start && used + add + 2 > opt.max_tokens &&
          count(text.substr(units[start].begin, units[i].end - units[start].begin)) > opt.max_tokens) {
        break;
      }
      used += add;
      last = i;
      if (units[i].para_end && used * 2 >= opt.max_tokens) break;
    }
    if (last < fresh) {
      // Only the overlap fitted (the next unit is too big to join it): such a chunk would repeat a piece of the
      // previous one and add nothing, so this chunk starts without overlap.
      start = fresh;
      continue;
    }
    emit(start, last);
    if (last + 1 >= units.size()) break;
    fresh = last + 1;
    // Overlap: step back over trailing sentences of this chunk while they fit the overlap budget.
    std::size_t next = last + 1, back = 0;
    while (next > start + 1 && back + units[next - 1].tokens <= opt.overlap_tokens && !units[next - 1].para_end) {
      back += units[next - 1].tokens;
      --next;
    }
    start = next;
  }
  return chunks;
}

std::size_t make_valid_utf8(std::string& text) {
  std::string out;
  std::size_t replaced = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0, copied = 0;  // bytes [copied, i) are valid and not yet in `out`
  while (i < n) {
    const unsigned char c = p[i];
    std::size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) len = 1, cp = c;
    else if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    bool ok = len > 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong 3/4-byte forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (ok && len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok && len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ok = false;
    if (ok) {
      i += len;
      continue;
    }
    out.append(text, copied, i - copied);
    out += "\xEF\xBF\xBD";
    ++replaced;
    copied = ++i;
  }
  if (replaced == 0) return 0;
  out.append(text, copied, n - copied);
  text = std::move(out);
  return replaced;
}

}  // namespace ut::vector
