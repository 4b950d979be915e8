// Synthetic GGUF models: seeded random weights with a real vocabulary, for tests and benchmarks.
//
//   auto spec = ut::ml::SynthSpec::tiny_embedder();             // bert, bert-bge vocab, ~4 MB
//   ut::ml::write_synthetic_model(spec, "/tmp/x/tiny-bert-bge-random.gguf");
//   for (auto& s : ut::ml::SynthSpec::real_sizes()) ...         // bge-small shape, Qwen2.5-0.5B shape (F16)
//   ut::ml::write_model(SynthSpec::debian_decoder(), path, {}, &trained);  // trained weights (training_io.h)
//
// Contract
// - Deterministic: the same spec (seed included) gives a byte-identical file.
// - The vocabulary (every tokenizer.* key: tokens, scores, types, merges, special ids, chat template) is
//   copied from llama.cpp's models/ggml-vocab-<vocab>.gguf in vocab_dir (Runtime::vocab_dir() by default).
// - Tensor names and keys follow llama.cpp v0.5.0's bert / llama / qwen2 loaders. Weights are uniform random
//   (std 0.02), norms 1, biases 0: the models run at real speed but say nothing meaningful. Names say "random".
// - Tensor data is streamed to disk, so memory stays small for real-size shapes. Throws ut::ml::ModelError.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ut::ml {

struct SynthSpec {
  std::string file_name;   // e.g. "tiny-bert-bge-random.gguf"
  std::string name;        // general.name
  std::string description; // general.description of trained models (synthetic ones say "random")
  std::string arch;        // "bert", "llama" or "qwen2"
  std::string vocab;       // ggml-vocab-<vocab>.gguf: "bert-bge", "llama-spm", "qwen2"
  int n_layer = 2;
  int n_embd = 64;
  int n_ff = 128;
  int n_head = 4;
  int n_head_kv = 4;
  int n_ctx = 512;         // context_length (bert: number of position embeddings)
  bool f16 = true;         // matrices in F16 (norms and biases stay F32)
  bool qkv_bias = false;   // qwen2 has q/k/v biases
  bool tied_output = true; // decoder output reuses token_embd
  int pooling = 2;         // bert: 1 = mean, 2 = CLS
  float rope_base = 10000.0f;
  float norm_eps = 1e-5f;
  uint64_t seed = 20261127;

  static SynthSpec tiny_embedder();  // bert, 2 layers, 64 hidden, bert-bge vocab, mean pooling
  static SynthSpec tiny_decoder();   // llama, 2 layers, 64 hidden, llama-spm vocab, no chat template
  static SynthSpec bge_small();      // bert, 12 layers, 384 hidden, 1536 ffn, 12 heads, CLS pooling, F16
  static SynthSpec qwen25_05b();     // qwen2, 24 layers, 896 hidden, 4864 ffn, 14/2 heads, qwen2 vocab, F16
  // The project's trained models (tools/train/, models/debian/): shapes the trainer and the writer share.
  static SynthSpec debian_embedder();  // bert, 4 layers, 160 hidden, 640 ffn, 4 heads, 256 positions, mean pooling
  static SynthSpec debian_decoder();   // llama, 6 layers, 256 hidden, 768 ffn, 8/4 heads, llama-spm vocab, tied output
  static std::vector<SynthSpec> test_sizes();
  static std::vector<SynthSpec> real_sizes();
};

struct SynthResult {
  std::string path;
  uint64_t bytes = 0;
  uint64_t params = 0;
  int64_t tensors = 0;
  double seconds = 0.0;
};

SynthResult write_synthetic_model(const SynthSpec& spec, const std::string& path, std::string vocab_dir = {});

// The same file with trained tensors from `weights` (named as in the GGUF) instead of random ones;
// weights == nullptr is write_synthetic_model.
class WeightSource;
SynthResult write_model(const SynthSpec& spec, const std::string& path, std::string vocab_dir,
                        const WeightSource* weights);

}  // namespace ut::ml
