// The C++ ends of the project's model training (tools/train/): corpus tokenization with llama.cpp's own
// tokenizer, and trained weights (safetensors) read back for the GGUF writer.
//
//   ut::ml::TokenizeJob job{.vocab_file = ".../ggml-vocab-bert-bge.gguf", .in = "data/examples/embed_train.jsonl",
//                           .fields = {"q", "d"}, .max_tokens = 256, .out_prefix = "data/tokens/embed_train"};
//   auto stats = ut::ml::tokenize_jsonl(job);   // writes embed_train.q.u16 / .q.off, embed_train.d.u16 / .d.off
//
//   auto w = ut::ml::SafetensorsWeights::open({"weights-1.safetensors", "weights-2.safetensors"});
//   ut::ml::write_model(spec, "models/debian/x.gguf", {}, &w);   // synth.h; tensors from `w`, not random
//
// Contract
// - Tokenization is exactly what inference sees: Model::tokenize with the vocabulary's special tokens
//   (BOS / CLS+SEP) and, for the decoder, parse_special as Generator does. Truncation to max_tokens keeps the
//   closing separator, as Embedder does, and is counted. Token ids are stored as little-endian uint16 (every
//   vocabulary used here has < 65536 tokens; a larger one is an error) with int64 row offsets (n + 1 entries).
// - SafetensorsWeights reads F32, F16 and BF16 tensors; a missing tensor or a shape that does not match the
//   GGUF tensor (PyTorch [out, in] == ggml ne {in, out}) throws ModelError naming the tensor and file.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace ut::ml {

struct TokenizeJob {
  std::string vocab_file;           // a GGUF with a vocabulary (a model or llama.cpp's ggml-vocab-*.gguf)
  std::string in;                   // JSONL, one object a line
  std::vector<std::string> fields;  // string fields to tokenize, each into its own file pair
  int max_tokens = 0;               // 0: no limit
  bool append_eos = false;          // decoder training: end each row with EOS
  std::string out_prefix;
};

struct TokenizeStats {
  int64_t rows = 0;
  std::map<std::string, int64_t> tokens, truncated;  // per field
};

TokenizeStats tokenize_jsonl(const TokenizeJob& job);

// Where trained weights come from when a GGUF is written (see write_model in synth.h).
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Fills `out` (row-major, ggml order) for the tensor `name` whose ggml shape is ne (ne[0] fastest).
  virtual void read(const std::string& name, const std::vector<int64_t>& ne, std::span<float> out) const = 0;
};

class SafetensorsWeights final : public WeightSource {
 public:
  static SafetensorsWeights open(const std::vector<std::string>& files);
  void read(const std::string& name, const std::vector<int64_t>& ne, std::span<float> out) const override;
  std::size_t size() const noexcept { return tensors_.size(); }
  std::map<std::string, std::string> metadata() const { return metadata_; }

 private:
  struct Entry {
    std::string file, dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // absolute file offsets of the data
  };
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ut::ml
