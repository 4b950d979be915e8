// llama.cpp's own tokenizer vectors (models/ggml-vocab-*.gguf.inp/.out) through our adapter, vocab-only.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "tests/ml/fixture.h"
#include "workloads/ml/model.h"

namespace ut::ml {
namespace {

struct Case {
  std::string text;
  std::vector<int32_t> tokens;
};

// Same format as llama.cpp's tests/test-tokenizer-0.cpp: inputs separated by "\n__ggml_vocab_test__\n",
// one line of space-separated ids per input.
std::vector<Case> read_cases(const std::string& vocab) {
  const std::string base = test::vocab_path(vocab);
  std::ifstream inp(base + ".inp", std::ios::binary), out(base + ".out");
  EXPECT_TRUE(inp && out) << "missing " << base << ".inp/.out";
  const std::string raw((std::istreambuf_iterator<char>(inp)), std::istreambuf_iterator<char>());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (std::size_t pos = 0; pos < raw.size();) {
    const std::size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(raw.substr(pos));
      break;
    }
    texts.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<Case> cases;
  std::string line;
  for (std::size_t i = 0; std::getline(out, line); ++i) {
    Case c;
    c.text = i < texts.size() ? texts[i] : std::string();
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.tokens.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size()) << vocab;
  return cases;
}

class TokenizerVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerVectors, MatchLlamaCppReference) {
  const std::string vocab = GetParam();
  auto model = Model::load_vocab(test::vocab_path(vocab));
  EXPECT_EQ(model->kind(), ModelKind::vocab_only);
  const auto cases = read_cases(vocab);
  ASSERT_GE(cases.size(), 40u);
  int failures = 0;
  for (const auto& c : cases) {
    const auto got = model->tokenize(c.text, /*add_special=*/false, /*parse_special=*/false);
    if (got != c.tokens) {
      ++failures;
      ADD_FAILURE() << vocab << ": '" << c.text << "' gave " << got.size() << " tokens, expected "
                    << c.tokens.size();
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST_P(TokenizerVectors, DetokenizeRoundTripsPlainText) {
  auto model = Model::load_vocab(test::vocab_path(GetParam()));
  const std::string text = "Hello world, the queue signals an event.";
  auto ids = model->tokenize(text, false);
  std::string back = model->detokenize(ids);
  // bert lower-cases; SPM may add a leading space.
  if (!back.empty() && back.front() == ' ') back.erase(0, 1);
  std::string lower = text;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_TRUE(back == text || back == lower) << back;
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerVectors, ::testing::Values("bert-bge", "llama-spm", "qwen2"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace ut::ml
