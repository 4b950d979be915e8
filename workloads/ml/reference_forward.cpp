#include "workloads/ml/reference_forward.h"

#include <algorithm>
#include <cmath>

#include "workloads/ml/model.h"

namespace ut::ml {
namespace {

// y = W x (+ b): W is rows x cols, row-major.
void matvec(const std::vector<float>& w, const float* x, int cols, int rows, float* y, const std::vector<float>& b = {}) {
  for (int r = 0; r < rows; ++r) {
    const float* row = w.data() + static_cast<std::size_t>(r) * cols;
    double s = 0.0;
    for (int c = 0; c < cols; ++c) s += static_cast<double>(row[c]) * x[c];
    y[r] = static_cast<float>(s) + (b.empty() ? 0.0f : b[static_cast<std::size_t>(r)]);
  }
}

void rms_norm(const float* x, const std::vector<float>& weight, float eps, float* y) {
  const std::size_t n = weight.size();
  double ss = 0.0;
  for (std::size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * scale * weight[i];
}

}  // namespace

ReferenceForward::ReferenceForward(const std::string& gguf_path) {
  const DecoderFile file(gguf_path);
  shape_ = file.shape();
  const auto dequantized = [&file](const std::string& name, int64_t cols, int64_t rows, bool optional = false) {
    return file.tensor(name, cols, rows, optional);
  };
  const int e = shape_.n_embd, hd = shape_.head_dim(), kv = shape_.n_head_kv * hd;
  tok_embd_ = dequantized("token_embd.weight", e, shape_.n_vocab);
  output_norm_ = dequantized("output_norm.weight", e, 1);
  output_ = dequantized("output.weight", e, shape_.n_vocab, /*optional=*/true);
  for (int l = 0; l < shape_.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer L;
    L.attn_norm = dequantized(p + "attn_norm.weight", e, 1);
    L.wq = dequantized(p + "attn_q.weight", e, e);
    L.wk = dequantized(p + "attn_k.weight", e, kv);
    L.wv = dequantized(p + "attn_v.weight", e, kv);
    L.wo = dequantized(p + "attn_output.weight", e, e);
    L.bq = dequantized(p + "attn_q.bias", e, 1, true);
    L.bk = dequantized(p + "attn_k.bias", kv, 1, true);
    L.bv = dequantized(p + "attn_v.bias", kv, 1, true);
    L.ffn_norm = dequantized(p + "ffn_norm.weight", e, 1);
    L.w_gate = dequantized(p + "ffn_gate.weight", e, shape_.n_ff);
    L.w_up = dequantized(p + "ffn_up.weight", e, shape_.n_ff);
    L.w_down = dequantized(p + "ffn_down.weight", shape_.n_ff, e);
    L.k_cache.resize(static_cast<std::size_t>(shape_.n_ctx) * kv);
    L.v_cache.resize(static_cast<std::size_t>(shape_.n_ctx) * kv);
    layers_.push_back(std::move(L));
  }
}

void ReferenceForward::reset() { pos_ = 0; }

// Rotates the first n_rot dimensions of each head by the position's angles: pairs of adjacent dimensions for llama
// (llama.cpp's ROPE_TYPE_NORM; its converter permutes Q/K rows to match), the two halves for qwen2 (NEOX).
// cos_sin: the position's cos and sin per rotated pair (the same for every head, for Q and K).
void ReferenceForward::rope(float* x, int n_heads, const std::vector<std::pair<float, float>>& cos_sin) const {
  const int hd = shape_.head_dim(), half = shape_.n_rot / 2;
  const bool neox = shape_.arch == "qwen2";
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<std::ptrdiff_t>(h) * hd;
    for (int i = 0; i < half; ++i) {
      const auto [c, s] = cos_sin[static_cast<std::size_t>(i)];
      const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

std::vector<float> ReferenceForward::step(int32_t token) {
  const ReferenceShape& s = shape_;
  if (token < 0 || token >= s.n_vocab) throw ModelError("[ReferenceForward] token " + std::to_string(token) + " out of range");
  if (pos_ >= s.n_ctx) throw ModelError("[ReferenceForward] the context of " + std::to_string(s.n_ctx) + " is full");
  const int e = s.n_embd, hd = s.head_dim(), kv = s.n_head_kv * hd, group = s.n_head / s.n_head_kv;
  std::vector<float> x(tok_embd_.begin() + static_cast<std::ptrdiff_t>(token) * e,
                       tok_embd_.begin() + static_cast<std::ptrdiff_t>(token + 1) * e);
  std::vector<float> h(e), q(e), att(e), o(e), gate(s.n_ff), up(s.n_ff), down(e), scores(s.n_ctx);
  std::vector<std::pair<float, float>> cos_sin(static_cast<std::size_t>(s.n_rot / 2));
  for (int i = 0; i < s.n_rot / 2; ++i) {
    const double theta = pos_ * std::pow(static_cast<double>(s.rope_base), -2.0 * i / s.n_rot);
    cos_sin[static_cast<std::size_t>(i)] = {static_cast<float>(std::cos(theta)), static_cast<float>(std::sin(theta))};
  }
  for (Layer& L : layers_) {
    rms_norm(x.data(), L.attn_norm, s.norm_eps, h.data());
    float* k = L.k_cache.data() + static_cast<std::size_t>(pos_) * kv;
    float* v = L.v_cache.data() + static_cast<std::size_t>(pos_) * kv;
    matvec(L.wq, h.data(), e, e, q.data(), L.bq);
    matvec(L.wk, h.data(), e, kv, k, L.bk);
    matvec(L.wv, h.data(), e, kv, v, L.bv);
    rope(q.data(), s.n_head, cos_sin);
    rope(k, s.n_head_kv, cos_sin);
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    for (int head = 0; head < s.n_head; ++head) {
      const int kvh = head / group;
      const float* qh = q.data() + static_cast<std::ptrdiff_t>(head) * hd;
      double mx = -INFINITY;
      for (int t = 0; t <= pos_; ++t) {
        const float* kt = L.k_cache.data() + static_cast<std::size_t>(t) * kv + static_cast<std::size_t>(kvh) * hd;
        double d = 0.0;
        for (int i = 0; i < hd; ++i) d += static_cast<double>(qh[i]) * kt[i];
        scores[static_cast<std::size_t>(t)] = static_cast<float>(d * scale);
        mx = std::max(mx, d * scale);
      }
      double sum = 0.0;
      for (int t = 0; t <= pos_; ++t) sum += std::exp(scores[static_cast<std::size_t>(t)] - mx);
      float* out = att.data() + static_cast<std::ptrdiff_t>(head) * hd;
      std::fill(out, out + hd, 0.0f);
      for (int t = 0; t <= pos_; ++t) {
        const float p = static_cast<float>(std::exp(scores[static_cast<std::size_t>(t)] - mx) / sum);
        const float* vt = L.v_cache.data() + static_cast<std::size_t>(t) * kv + static_cast<std::size_t>(kvh) * hd;
        for (int i = 0; i < hd; ++i) out[i] += p * vt[i];
      }
    }
    matvec(L.wo, att.data(), e, e, o.data());
    for (int i = 0; i < e; ++i) x[i] += o[i];
    rms_norm(x.data(), L.ffn_norm, s.norm_eps, h.data());
    matvec(L.w_gate, h.data(), e, s.n_ff, gate.data());
    matvec(L.w_up, h.data(), e, s.n_ff, up.data());
    for (int i = 0; i < s.n_ff; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];  // SiLU(g) * u
    matvec(L.w_down, gate.data(), s.n_ff, e, down.data());
    for (int i = 0; i < e; ++i) x[i] += down[i];
  }
  rms_norm(x.data(), output_norm_, s.norm_eps, h.data());
  std::vector<float> logits(static_cast<std::size_t>(s.n_vocab));
  matvec(output_.empty() ? tok_embd_ : output_, h.data(), e, s.n_vocab, logits.data());
  ++pos_;
  return logits;
}

}  // namespace ut::ml
