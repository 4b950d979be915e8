// The own decode path's kernels, as timeline kernels for backend "cuda" (workloads/ml/cuda/decoder_kernels.cu).
// One decode step of a dense Llama/Qwen2 model is 1 + 5 × n_layer + 2 dispatches, all reading the position from
// the device control word, so every step's command buffer is identical and the CUDA queue replays it as one
// captured graph (ut::cuda::replay_as_graph). Weights are F16, activations and the KV cache F32.
//
//   ut::ml::register_decoder_cuda_kernels();  // once, before the first command buffer dispatches them
//   cb.dispatch(ut::ml::kDecodeArgmax, ut::Grid{1}, ut::DispatchArgs::make({logits, seq, ctl}, ArgmaxArgs{...}));
//
// Buffers (DispatchArgs order) per kernel are listed next to its constants. The control word `ctl` is two int32:
// [0] = position of the token being decoded (advanced by argmax), [1] = tokens given by the host (seq[i] for
// i < ctl[1] is never overwritten). `seq` is the token sequence in shared (host-visible) memory.
#pragma once

#include <cstdint>

namespace ut::ml {

inline constexpr const char* kDecodeEmbed = "ml.decode.embed";          // tok_embd, seq, ctl, x
inline constexpr const char* kDecodeNormQkv = "ml.decode.norm_qkv";     // x, norm, wqkv, bqkv, q, kc, vc, ctl, freq
inline constexpr const char* kDecodeAttention = "ml.decode.attention";  // q, kc, vc, att, ctl
inline constexpr const char* kDecodeMatvecAdd = "ml.decode.matvec_add"; // w, in, x (x += w · in)
inline constexpr const char* kDecodeNormGateUp = "ml.decode.norm_gate_up";  // x, norm, wgate, wup, act
inline constexpr const char* kDecodeNormLogits = "ml.decode.norm_logits";   // x, norm, wout, logits
inline constexpr const char* kDecodeArgmax = "ml.decode.argmax";            // logits, seq, ctl

// The widest vector a block stages in shared memory (floats): n_embd and n_ff must not exceed it.
inline constexpr int kDecodeMaxWidth = 12000;  // 48 KB of shared memory, less the kernels' own
inline constexpr int kDecodeMaxHeadDim = 256;

// `overlap` (all but embed): launched with programmatic dependent launch — the kernel may start while the one
// before it finishes, prefetches its weights into L2, and waits for the previous kernel's results only where it
// reads them. 0: plain stream order. Part of the constants, so a change re-captures the step's graph.
struct EmbedArgs { int32_t n_embd, n_vocab, n_seq; };
struct NormQkvArgs {
  int32_t n_embd, head_dim, n_head, n_head_kv, n_rot, neox, n_ctx;
  float eps;
  int32_t overlap;
};
struct AttentionArgs { int32_t n_head, n_head_kv, head_dim; float scale; int32_t overlap; };
struct MatvecArgs { int32_t rows, cols, overlap; };
struct GateUpArgs { int32_t n_embd, n_ff; float eps; int32_t overlap; };
struct LogitsArgs { int32_t n_embd, n_vocab; float eps; int32_t overlap; };
struct ArgmaxArgs { int32_t n_vocab, n_seq, overlap; };

void register_decoder_cuda_kernels();

}  // namespace ut::ml
