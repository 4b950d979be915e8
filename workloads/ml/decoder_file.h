// DecoderFile: a dense Llama/Qwen2-family decoder's GGUF file read through ggml's gguf API — its shape from the
// metadata, each tensor dequantized to float by ggml's own type traits (F32, F16, BF16, Q8_0 ...), shape-checked.
// Shared by the CPU oracle (ReferenceForward) and the own GPU decode path (GpuDecoder), so both read one way.
//
//   ut::ml::DecoderFile f("models/debian/debian-llama-spm-f16.gguf");
//   const ut::ml::DecoderShape& s = f.shape();                          // layers, widths, heads, RoPE, eps
//   std::vector<float> wq = f.tensor("blk.0.attn_q.weight", s.n_embd, s.n_embd);  // rows x cols, row-major
//
// Contract: throws ModelError naming the file for an architecture other than llama/qwen2, a missing key or tensor,
// or a tensor whose shape does not match the hyper-parameters. Keeps the whole file in memory while it lives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct gguf_context;
struct ggml_context;

namespace ut::ml {

struct DecoderShape {
  std::string arch;  // "llama" (RoPE on adjacent pairs) or "qwen2" (RoPE on halves, q/k/v biases)
  int n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_vocab = 0, n_ctx = 0, n_rot = 0;
  float rope_base = 10000.0f, norm_eps = 1e-5f;
  int head_dim() const noexcept { return n_embd / n_head; }
  int kv_dim() const noexcept { return n_head_kv * head_dim(); }
  bool neox_rope() const noexcept { return arch == "qwen2"; }
};

class DecoderFile {
 public:
  // metadata_only: reads the shape and tensor types, not the weights (tensor() then throws).
  explicit DecoderFile(const std::string& gguf_path, bool metadata_only = false);
  ~DecoderFile();
  DecoderFile(const DecoderFile&) = delete;
  DecoderFile& operator=(const DecoderFile&) = delete;

  const DecoderShape& shape() const noexcept { return shape_; }
  const std::string& path() const noexcept { return path_; }
  bool has(const std::string& name) const;
  // The tensor as floats, `rows` x `cols` (ne[1] x ne[0]) row-major; empty when optional and absent.
  std::vector<float> tensor(const std::string& name, int64_t cols, int64_t rows, bool optional = false) const;
  // ggml's name of the tensor's storage type ("f16", "bf16", "q8_0" ...), or "" when absent.
  std::string type_name(const std::string& name) const;

 private:
  std::string path_;
  bool metadata_only_ = false;
  DecoderShape shape_;
  gguf_context* gguf_ = nullptr;
  ggml_context* ctx_ = nullptr;
};

}  // namespace ut::ml
