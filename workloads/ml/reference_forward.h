// ReferenceForward: a plain C++ forward pass of dense Llama/Qwen2-family decoders (RMSNorm, RoPE, grouped-query
// attention over a KV cache, SwiGLU), read from a GGUF file through ggml's gguf API and dequantized with ggml's own
// type traits (F32, F16, BF16, Q8_0 ...: no parser or dequantizer of our own). One token per step, in float, with
// straightforward loops: slow on purpose. It is the oracle an own GPU decode path is checked against, and is itself
// checked against llama.cpp's logits on the same file (tests/ml/reference_forward_test.cpp).
//
//   ut::ml::ReferenceForward ref("models/debian/debian-llama-spm-f16.gguf");
//   std::vector<float> logits = ref.step(token);   // logits for the next position (n_vocab floats)
//   ref.reset();                                  // back to position 0 (the KV cache emptied)
//
// Contract: throws ModelError for an architecture other than llama/qwen2, a missing tensor or a shape that does not
// match the hyper-parameters, and when a step would pass the context length. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ut::ml {

struct ReferenceShape {
  std::string arch;  // "llama" (RoPE on adjacent pairs) or "qwen2" (RoPE on halves, q/k/v biases)
  int n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_vocab = 0, n_ctx = 0, n_rot = 0;
  float rope_base = 10000.0f, norm_eps = 1e-5f;
  int head_dim() const noexcept { return n_embd / n_head; }
};

class ReferenceForward {
 public:
  explicit ReferenceForward(const std::string& gguf_path);
  const ReferenceShape& shape() const noexcept { return shape_; }
  int position() const noexcept { return pos_; }
  std::vector<float> step(int32_t token);
  void reset();

 private:
  struct Layer {
    std::vector<float> attn_norm, wq, wk, wv, wo, bq, bk, bv, ffn_norm, w_gate, w_up, w_down;
    std::vector<float> k_cache, v_cache;  // [n_ctx][n_head_kv * head_dim]
  };
  void rope(float* x, int n_heads, const std::vector<std::pair<float, float>>& cos_sin) const;

  ReferenceShape shape_;
  std::vector<float> tok_embd_, output_norm_, output_;  // output_ empty: tied to tok_embd_
  std::vector<Layer> layers_;
  int pos_ = 0;
};

}  // namespace ut::ml
