// Model loading: every bad file is a ModelError naming the file and the problem, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "tests/ml/fixture.h"
#include "workloads/ml/model.h"
#include "workloads/ml/synth.h"

namespace ut::ml {
namespace {

namespace fs = std::filesystem;
using test::temp_dir;

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string p = temp_dir() + "/" + name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Loads and expects a ModelError whose message names the file and contains `problem`.
void expect_model_error(const std::string& path, ModelKind kind, const std::string& problem) {
  try {
    Model::load(path, kind);
    FAIL() << "loading " << path << " did not throw";
  } catch (const ModelError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("[Model::", 0), 0u) << msg;
  }
}

TEST(Model, LoadsTinyEmbedderAndDecoder) {
  auto e = Model::load(test::tiny_embedder_path(), ModelKind::embedder);
  EXPECT_EQ(e->kind(), ModelKind::embedder);
  EXPECT_EQ(e->info().architecture, "bert");
  EXPECT_EQ(e->n_embd(), 64);
  EXPECT_EQ(e->n_vocab(), 30522);
  auto d = Model::load(test::tiny_decoder_path(), ModelKind::decoder);
  EXPECT_EQ(d->kind(), ModelKind::decoder);
  EXPECT_EQ(d->info().architecture, "llama");
  EXPECT_EQ(d->n_vocab(), 32000);
  EXPECT_NE(d->info().name.find("random"), std::string::npos);
  EXPECT_FALSE(d->chat_template().has_value());
}

TEST(Model, MissingFile) {
  expect_model_error(temp_dir() + "/does-not-exist.gguf", ModelKind::decoder, "file not found");
}

TEST(Model, NotAGguf) {
  expect_model_error(write_file("notes.gguf", "just some text, not a model\n"), ModelKind::decoder,
                     "not a GGUF file");
  expect_model_error(write_file("empty.gguf", ""), ModelKind::embedder, "not a GGUF file");
  expect_model_error(temp_dir(), ModelKind::embedder, "not a regular file");
}

TEST(Model, CorruptMetadata) {
  // The magic is right; the rest is fresh random bytes.
  std::mt19937_64 rng(test::fresh_seed());
  std::string bytes = "GGUF";
  for (int i = 0; i < 4096; ++i) bytes.push_back(static_cast<char>(rng() & 0xff));
  expect_model_error(write_file("corrupt.gguf", bytes), ModelKind::decoder, "corrupt or truncated GGUF metadata");
  // A real header cut inside the metadata.
  const std::string real = read_file(test::tiny_decoder_path());
  expect_model_error(write_file("cut-meta.gguf", real.substr(0, 2000)), ModelKind::decoder,
                     "corrupt or truncated GGUF metadata");
}

TEST(Model, TruncatedTensorData) {
  const std::string real = read_file(test::tiny_decoder_path());
  const std::string p = write_file("truncated.gguf", real.substr(0, real.size() * 3 / 4));
  expect_model_error(p, ModelKind::decoder, "truncated: tensor data needs");
}

TEST(Model, WrongKind) {
  expect_model_error(test::tiny_decoder_path(), ModelKind::embedder,
                     "is a decoder model (architecture 'llama') but an embedder was expected");
  expect_model_error(test::tiny_embedder_path(), ModelKind::decoder,
                     "is an embedder model (architecture 'bert') but a decoder was expected");
}

TEST(Model, VocabOnlyFileIsNotAModel) {
  expect_model_error(test::vocab_path("qwen2"), ModelKind::decoder, "holds only a vocabulary");
}

TEST(Model, LlamaRejectionIsReportedWithItsReason) {
  // A valid GGUF whose weights do not match its architecture: llama.cpp refuses it; we name its reason.
  const std::string p = temp_dir() + "/missing-tensor.gguf";
  write_synthetic_model(SynthSpec::tiny_decoder(), p);
  // Rename a required tensor by flipping a byte of its name in the header.
  std::string bytes = read_file(p);
  const auto at = bytes.find("output_norm.weight");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'X';
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  expect_model_error(p, ModelKind::decoder, "llama.cpp could not load it");
}

TEST(Model, SentencePieceVocabularyWithoutAByteTokenIsRefused) {
  // Found by the GGUF fuzz target: llama.cpp loads an SPM vocabulary that lacks a byte token, then aborts the
  // process on the first character it has to spell with it. Model refuses such a file, naming the token.
  const std::string p = temp_dir() + "/missing-byte-token.gguf";
  write_synthetic_model(SynthSpec::tiny_decoder(), p);
  std::string bytes = read_file(p);
  const auto at = bytes.find("<0x41>");  // 'A'
  ASSERT_NE(at, std::string::npos);
  bytes[at + 2] = 'y';                   // "<0y41>": same length, no longer a byte token
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  expect_model_error(p, ModelKind::decoder, "lacks the byte token <0x41>");
}

TEST(Model, VocabularyWithATokenTwiceIsRefused) {
  // Found by the GGUF fuzz target: llama.cpp aborts the process (GGML_ASSERT) on a vocabulary holding a token twice.
  const std::string p = temp_dir() + "/duplicate-token.gguf";
  write_synthetic_model(SynthSpec::tiny_decoder(), p);
  std::string bytes = read_file(p);
  const auto at = bytes.find("<0x42>");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 4] = '1';  // "<0x41>" now twice
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  expect_model_error(p, ModelKind::decoder, "holds the token '<0x41>' twice");
}

TEST(Model, LayerCountOutOfLlamaCppsRangeIsRefused) {
  // Found by the GGUF fuzz target: llama.cpp aborts the process (GGML_ASSERT) on block_count 0 or over 512.
  const std::string p = temp_dir() + "/zero-layers.gguf";
  write_synthetic_model(SynthSpec::tiny_decoder(), p);
  std::string bytes = read_file(p);
  const std::string key = "llama.block_count";
  const auto at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  const std::size_t value = at + key.size() + 4;  // the key, its uint32 type, then the uint32 value
  ASSERT_EQ(bytes[value], 2);                     // tiny_decoder has 2 layers
  bytes[value] = 0;
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  expect_model_error(p, ModelKind::decoder, "llama.block_count is 0");
}

TEST(Synth, DeterministicBytes) {
  const std::string a = temp_dir() + "/det-a.gguf", b = temp_dir() + "/det-b.gguf";
  SynthSpec s = SynthSpec::tiny_embedder();
  s.seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(s.seed));
  const auto ra = write_synthetic_model(s, a);
  write_synthetic_model(s, b);
  EXPECT_EQ(read_file(a), read_file(b));
  EXPECT_GT(ra.params, 2'000'000u);
  EXPECT_LT(ra.bytes, 8u << 20);
  s.seed += 1;
  write_synthetic_model(s, b);
  EXPECT_NE(read_file(a), read_file(b));
}

}  // namespace
}  // namespace ut::ml
