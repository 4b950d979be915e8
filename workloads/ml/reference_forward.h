// ReferenceForward: a plain C++ forward pass of dense Llama/Qwen2-family decoders (RMSNorm, RoPE, grouped-query
// attention over a KV cache, SwiGLU), read from a GGUF file by DecoderFile (ggml's gguf API and its own
// dequantizers: no parser of our own). One token per step, in float, with
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

#include "workloads/ml/decoder_file.h"

namespace ut::ml {

using ReferenceShape = DecoderShape;

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
