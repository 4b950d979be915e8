#include "workloads/ml/gpu_decoder.h"

#include <ggml.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "timeline/error.h"
#include "workloads/ml/cuda/decoder_kernels.h"
#include "workloads/ml/model.h"
#if UT_HAVE_CUDA
#include "backends/cuda/device.h"
#endif

namespace ut::ml {
namespace {

constexpr const char* kStepLabel = "decode.step";
constexpr std::size_t kStaging = 32u << 20;  // bytes per upload copy
constexpr std::size_t kAlign = 256;

std::size_t aligned(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
std::size_t f16_bytes(int64_t cols, int64_t rows) { return static_cast<std::size_t>(cols * rows) * 2; }
std::size_t f32_bytes(int64_t n) { return static_cast<std::size_t>(n) * 4; }

std::vector<ggml_fp16_t> to_f16(const std::vector<float>& v) {
  std::vector<ggml_fp16_t> out(v.size());
  ggml_fp32_to_fp16_row(v.data(), out.data(), static_cast<int64_t>(v.size()));
  return out;
}

std::string check_shape(const DecoderShape& s) {
  if (s.n_embd % 8 != 0 || s.n_ff % 8 != 0)
    return "n_embd " + std::to_string(s.n_embd) + " / n_ff " + std::to_string(s.n_ff) + " are not multiples of 8";
  if (s.n_embd > kDecodeMaxWidth || s.n_ff > kDecodeMaxWidth)
    return "n_embd " + std::to_string(s.n_embd) + " / n_ff " + std::to_string(s.n_ff) + " exceed " +
           std::to_string(kDecodeMaxWidth);
  if (s.head_dim() > kDecodeMaxHeadDim) return "head dim " + std::to_string(s.head_dim()) + " exceeds 256";
  return "";
}

}  // namespace

std::string GpuDecoder::unsupported(const std::string& gguf_path) {
  try {
    const DecoderFile file(gguf_path, /*metadata_only=*/true);
    if (auto why = check_shape(file.shape()); !why.empty()) return why;
  } catch (const std::exception& e) {
    return e.what();
  }
#if UT_HAVE_CUDA
  return "";
#else
  return "built without CUDA";
#endif
}

GpuDecoder::GpuDecoder(DevicePtr device, QueuePtr queue, const std::string& gguf_path, Options options)
    : dev_(std::move(device)), queue_(std::move(queue)), overlap_(options.overlap_launches) {
#if !UT_HAVE_CUDA
  (void)options;
  throw UsageError("[GpuDecoder] '" + gguf_path + "': this build has no CUDA");
#else
  if (!dev_ || dev_->caps().backend != "cuda")
    throw UsageError("[GpuDecoder] needs a CUDA device (got '" + (dev_ ? dev_->caps().backend : "none") + "')");
  const DecoderFile file(gguf_path);
  shape_ = file.shape();
  if (auto why = check_shape(shape_); !why.empty()) throw ModelError("[GpuDecoder] '" + gguf_path + "': " + why);
  n_ctx_ = std::max(1, std::min(shape_.n_ctx, options.n_ctx));
  static const bool registered = (register_decoder_cuda_kernels(), true);
  (void)registered;
  load(file);
  progress_ = dev_->make_event("E_decode", 0);
  cuda::replay_as_graph(*queue_, kStepLabel);
#endif
}

GpuDecoder::~GpuDecoder() {
  try {
    if (last_) last_.wait_until_completed(std::chrono::seconds(30));
  } catch (...) {  // a failed step was reported to whoever waited for it
  }
}

void GpuDecoder::upload(const Buffer& dst, std::size_t dst_offset, const void* src, std::size_t bytes) {
  const auto* p = static_cast<const std::byte*>(src);
  for (std::size_t off = 0; off < bytes; off += kStaging) {
    const std::size_t n = std::min(kStaging, bytes - off);
    std::memcpy(staging_.contents(), p + off, n);
    auto cb = queue_->make_command_buffer("decode.upload");
    cb.copy(staging_, 0, dst, dst_offset + off, n).commit();
    cb.wait_until_completed();
  }
}

void GpuDecoder::load(const DecoderFile& file) {
  const DecoderShape& s = shape_;
  const int e = s.n_embd, kv = s.kv_dim(), qkv = e + 2 * kv;
  const bool tied = !file.has("output.weight");
  // Sizes first: one device heap for the weights, one for the state (KV cache, activations), one shared.
  std::size_t w = aligned(f16_bytes(e, s.n_vocab)) + aligned(f32_bytes(e)) + (tied ? 0 : aligned(f16_bytes(e, s.n_vocab)));
  const std::size_t per_layer = 2 * aligned(f32_bytes(e)) + aligned(f16_bytes(e, qkv)) + aligned(f32_bytes(qkv)) +
                                aligned(f16_bytes(e, e)) + 2 * aligned(f16_bytes(e, s.n_ff)) +
                                aligned(f16_bytes(s.n_ff, e));
  w += per_layer * static_cast<std::size_t>(s.n_layer);
  weight_bytes_ = w;
  const std::size_t kv_bytes = aligned(f32_bytes(static_cast<int64_t>(n_ctx_) * kv));
  const std::size_t st = 3 * aligned(f32_bytes(e)) + aligned(f32_bytes(s.n_ff)) + aligned(f32_bytes(s.n_vocab)) +
                         2 * kAlign + aligned(f32_bytes(s.head_dim() / 2)) + 2 * kv_bytes * s.n_layer;
  const std::size_t host = aligned(f32_bytes(n_ctx_ + 1)) + kAlign + aligned(f32_bytes(s.n_vocab)) + kStaging;
  weights_ = dev_->make_heap({.size = w, .mode = StorageMode::device, .label = "W_decoder"});
  state_ = dev_->make_heap({.size = st, .mode = StorageMode::device, .label = "B_decode"});
  host_ = dev_->make_heap({.size = host, .mode = StorageMode::shared, .label = "B_decode_host"});
  staging_ = host_->allocate(kStaging, kAlign, "staging");
  seq_ = host_->allocate(f32_bytes(n_ctx_ + 1), kAlign, "seq");
  ctl_host_ = host_->allocate(8, kAlign, "ctl_host");
  logits_host_ = host_->allocate(f32_bytes(s.n_vocab), kAlign, "logits_host");

  const auto put_f16 = [&](const std::string& name, int64_t cols, int64_t rows) {
    Buffer b = weights_->allocate(f16_bytes(cols, rows), kAlign, name);
    const auto h = to_f16(file.tensor(name, cols, rows));
    upload(b, 0, h.data(), h.size() * sizeof(ggml_fp16_t));
    return b;
  };
  const auto put_f32 = [&](const std::string& name, int64_t n) {
    Buffer b = weights_->allocate(f32_bytes(n), kAlign, name);
    const auto v = file.tensor(name, n, 1);
    upload(b, 0, v.data(), f32_bytes(n));
    return b;
  };
  tok_embd_ = put_f16("token_embd.weight", e, s.n_vocab);
  out_norm_ = put_f32("output_norm.weight", e);
  output_ = tied ? tok_embd_ : put_f16("output.weight", e, s.n_vocab);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer L;
    L.attn_norm = put_f32(p + "attn_norm.weight", e);
    {  // [Wq; Wk; Wv] as one matrix, and its biases (zeros where the model has none)
      L.wqkv = weights_->allocate(f16_bytes(e, qkv), kAlign, p + "attn_qkv");
      L.bqkv = weights_->allocate(f32_bytes(qkv), kAlign, p + "attn_qkv.bias");
      std::vector<float> bias(static_cast<std::size_t>(qkv), 0.0f);
      std::size_t row = 0;
      for (const auto& [name, rows] : {std::pair{std::string("attn_q"), e}, {"attn_k", kv}, {"attn_v", kv}}) {
        const auto h = to_f16(file.tensor(p + name + ".weight", e, rows));
        upload(L.wqkv, row * static_cast<std::size_t>(e) * sizeof(ggml_fp16_t), h.data(), h.size() * sizeof(ggml_fp16_t));
        const auto b = file.tensor(p + name + ".bias", rows, 1, /*optional=*/true);
        std::copy(b.begin(), b.end(), bias.begin() + static_cast<std::ptrdiff_t>(row));
        row += static_cast<std::size_t>(rows);
      }
      upload(L.bqkv, 0, bias.data(), f32_bytes(qkv));
    }
    L.wo = put_f16(p + "attn_output.weight", e, e);
    L.ffn_norm = put_f32(p + "ffn_norm.weight", e);
    L.wgate = put_f16(p + "ffn_gate.weight", e, s.n_ff);
    L.wup = put_f16(p + "ffn_up.weight", e, s.n_ff);
    L.wdown = put_f16(p + "ffn_down.weight", s.n_ff, e);
    L.kc = state_->allocate(kv_bytes, kAlign, p + "k_cache");
    L.vc = state_->allocate(kv_bytes, kAlign, p + "v_cache");
    layers_.push_back(std::move(L));
  }
  x_ = state_->allocate(f32_bytes(e), kAlign, "x");
  q_ = state_->allocate(f32_bytes(e), kAlign, "q");
  att_ = state_->allocate(f32_bytes(e), kAlign, "att");
  act_ = state_->allocate(f32_bytes(s.n_ff), kAlign, "act");
  logits_ = state_->allocate(f32_bytes(s.n_vocab), kAlign, "logits");
  ctl_ = state_->allocate(8, kAlign, "ctl");
  freq_ = state_->allocate(f32_bytes(s.head_dim() / 2), kAlign, "rope_freq");
  // RoPE: pair j turns by pos * base^(-2j / n_rot) (computed in double, as the CPU reference does).
  std::vector<float> freq(static_cast<std::size_t>(s.head_dim() / 2), 0.0f);
  for (int j = 0; j < s.n_rot / 2; ++j)
    freq[static_cast<std::size_t>(j)] = static_cast<float>(std::pow(static_cast<double>(s.rope_base), -2.0 * j / s.n_rot));
  upload(freq_, 0, freq.data(), f32_bytes(static_cast<int64_t>(freq.size())));
  set_control(0, 0);
}

void GpuDecoder::set_control(int pos, int n_fixed) {
  if (last_) last_.wait_until_completed();  // ctl_host_ may still be read by an earlier control copy
  auto* c = static_cast<int32_t*>(ctl_host_.contents());
  c[0] = pos;
  c[1] = n_fixed;
  auto cb = queue_->make_command_buffer("decode.control");
  cb.copy(ctl_host_, 0, ctl_, 0, 8).commit();
  last_ = cb;
}

// One step: the same commands every time (everything that changes lives in ctl_ and seq_), so the queue replays
// them as one CUDA graph after the first capture.
void GpuDecoder::commit_step() {
  const DecoderShape& s = shape_;
  const int e = s.n_embd;
  const int32_t n_seq = n_ctx_ + 1;
  auto cb = queue_->make_command_buffer(kStepLabel);
  cb.dispatch(kDecodeEmbed, Grid{1}, DispatchArgs::make({tok_embd_, seq_, ctl_, x_}, EmbedArgs{e, s.n_vocab, n_seq}));
  const int32_t ov = overlap_ ? 1 : 0;
  const NormQkvArgs qkv{e, s.head_dim(), s.n_head, s.n_head_kv, s.n_rot, s.neox_rope() ? 1 : 0, n_ctx_, s.norm_eps, ov};
  const AttentionArgs at{s.n_head, s.n_head_kv, s.head_dim(),
                         static_cast<float>(1.0 / std::sqrt(double(s.head_dim()))), ov};
  for (const Layer& L : layers_) {
    cb.dispatch(kDecodeNormQkv, Grid{1},
                DispatchArgs::make({x_, L.attn_norm, L.wqkv, L.bqkv, q_, L.kc, L.vc, ctl_, freq_}, qkv));
    cb.dispatch(kDecodeAttention, Grid{1}, DispatchArgs::make({q_, L.kc, L.vc, att_, ctl_}, at));
    cb.dispatch(kDecodeMatvecAdd, Grid{1}, DispatchArgs::make({L.wo, att_, x_}, MatvecArgs{e, e, ov}));
    cb.dispatch(kDecodeNormGateUp, Grid{1},
                DispatchArgs::make({x_, L.ffn_norm, L.wgate, L.wup, act_}, GateUpArgs{e, s.n_ff, s.norm_eps, ov}));
    cb.dispatch(kDecodeMatvecAdd, Grid{1}, DispatchArgs::make({L.wdown, act_, x_}, MatvecArgs{e, s.n_ff, ov}));
  }
  cb.dispatch(kDecodeNormLogits, Grid{1},
              DispatchArgs::make({x_, out_norm_, output_, logits_}, LogitsArgs{e, s.n_vocab, s.norm_eps, ov}));
  cb.dispatch(kDecodeArgmax, Grid{1}, DispatchArgs::make({logits_, seq_, ctl_}, ArgmaxArgs{s.n_vocab, n_seq, ov}));
  cb.signal(progress_, ++steps_).commit();
  last_ = cb;
}

void GpuDecoder::wait_steps() {
  if (last_) last_.wait_until_completed();
}

void GpuDecoder::feed(std::span<const int32_t> tokens) {
  if (tokens.empty()) return;
  for (int32_t t : tokens)
    if (t < 0 || t >= shape_.n_vocab)
      throw ModelError("[GpuDecoder] token " + std::to_string(t) + " out of range (vocabulary of " +
                       std::to_string(shape_.n_vocab) + ")");
  const int k = static_cast<int>(tokens.size());
  if (pos_ + k > n_ctx_)
    throw ModelError("[GpuDecoder] " + std::to_string(pos_ + k) + " tokens do not fit the context of " +
                     std::to_string(n_ctx_));
  wait_steps();  // no step in flight reads seq_ while the host writes it
  std::copy(tokens.begin(), tokens.end(), static_cast<int32_t*>(seq_.contents()) + pos_);
  set_control(pos_, pos_ + k);
  for (int i = 0; i < k; ++i) commit_step();
  pos_ += k;
  returned_next_ = false;
  wait_steps();
}

std::vector<int32_t> GpuDecoder::generate(std::span<const int32_t> prompt, int n) {
  if (n <= 0) {
    feed(prompt);
    return {};
  }
  if (prompt.empty() && pos_ == 0) throw UsageError("[GpuDecoder::generate] an empty prompt at position 0");
  // seq[pos_] holds the model's pick after the last token in the cache. A continuation (no prompt) after an earlier
  // generate() already returned it: that token goes into the cache first, so n new tokens take n steps.
  const bool continues = prompt.empty() && returned_next_;
  const int steps = continues ? n : n - 1;
  if (pos_ + static_cast<int>(prompt.size()) + steps > n_ctx_)
    throw ModelError("[GpuDecoder] " + std::to_string(pos_ + prompt.size() + steps) +
                     " positions do not fit the context of " + std::to_string(n_ctx_));
  feed(prompt);  // leaves the model's next pick at seq[pos_] (picked by the last prompt step)
  const int first = continues ? pos_ + 1 : pos_;
  for (int i = 0; i < steps; ++i) commit_step();
  pos_ += steps;
  wait_steps();
  returned_next_ = true;
  const auto* seq = static_cast<const int32_t*>(seq_.contents());
  return {seq + first, seq + first + n};
}

std::vector<float> GpuDecoder::logits() {
  if (steps_ == 0) throw UsageError("[GpuDecoder::logits] no step has run");
  auto cb = queue_->make_command_buffer("decode.logits");
  cb.copy(logits_, 0, logits_host_, 0, f32_bytes(shape_.n_vocab)).commit();
  cb.wait_until_completed();
  last_ = cb;
  const auto* p = static_cast<const float*>(logits_host_.contents());
  return {p, p + shape_.n_vocab};
}

void GpuDecoder::reset() {
  wait_steps();
  pos_ = 0;
  returned_next_ = false;
  set_control(0, 0);
}

}  // namespace ut::ml
