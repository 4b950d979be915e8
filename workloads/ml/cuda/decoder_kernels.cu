// Kernels of the own decode path (see decoder_kernels.h): batch-1 decode of dense Llama/Qwen2 models with F16
// weights. Matrix-vector products are memory-bound: each warp streams whole weight rows with 16-byte loads
// against the input vector staged (and RMS-normalised) in shared memory, and reduces with shuffles.
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cfloat>
#include <cstdint>

#include "timeline/kernel.h"
#include "workloads/ml/cuda/decoder_kernels.h"

namespace ut::ml {
namespace {

constexpr int kWarps = 8, kThreads = 32 * kWarps;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Copies x[0, n) into xs, RMS-normalised and scaled by w when w is given. Block-wide; ends synchronised.
__device__ void stage(const float* __restrict__ x, const float* __restrict__ w, float eps, int n,
                      float* __restrict__ xs) {
  __shared__ float red[kWarps];
  float ss = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = x[i];
    xs[i] = v;
    ss += v * v;
  }
  if (w != nullptr) {
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
    __syncthreads();
    float total = 0.f;
#pragma unroll
    for (int k = 0; k < kWarps; ++k) total += red[k];
    const float scale = rsqrtf(total / static_cast<float>(n) + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) xs[i] = xs[i] * scale * w[i];
  }
  __syncthreads();
}

// The dot products of R weight rows (F16, cols % 8 == 0, 16-byte aligned) with xs, summed over the warp: every
// lane returns the totals.
// A warp may take only every `parts`-th 256-column stretch, starting at stretch `part` (split-column products).
template <int R>
__device__ __forceinline__ void dot_rows(const __half* const (&w)[R], int cols, const float* __restrict__ xs,
                                         float (&acc)[R], int part = 0, int parts = 1) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.f;
#pragma unroll 4
  for (int c = (part * 32 + lane) * 8; c < cols; c += 256 * parts) {
    const float4 x0 = *reinterpret_cast<const float4*>(xs + c);
    const float4 x1 = *reinterpret_cast<const float4*>(xs + c + 4);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint4 raw = __ldg(reinterpret_cast<const uint4*>(w[r] + c));
      const __half2* h = reinterpret_cast<const __half2*>(&raw);
      const float2 f0 = __half22float2(h[0]), f1 = __half22float2(h[1]);
      const float2 f2 = __half22float2(h[2]), f3 = __half22float2(h[3]);
      acc[r] += f0.x * x0.x + f0.y * x0.y + f1.x * x0.z + f1.y * x0.w + f2.x * x1.x + f2.y * x1.y + f3.x * x1.z +
                f3.y * x1.w;
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = warp_sum(acc[r]);
}

// Programmatic dependent launch (sm_90): let the next kernel in the stream start now (it waits for this one's
// results where it needs them), and wait here for the previous kernel's results. Without the launch attribute both
// are no-ops: the stream already ordered the kernels.
__device__ __forceinline__ void let_next_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}
__device__ __forceinline__ void wait_for_previous() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
}

// Pulls a warp's weight rows into L2 before it waits for its input: the weights never depend on the previous
// kernel, so their reads overlap its tail.
template <int R>
__device__ __forceinline__ void prefetch_rows(const __half* const (&w)[R], int cols) {
  const int lines = (cols * 2 + 127) / 128, lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < R; ++r)
    for (int l = lane; l < lines; l += 32)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(reinterpret_cast<const char*>(w[r]) + 128 * l));
}

__device__ __forceinline__ int warp_id() { return static_cast<int>(threadIdx.x >> 5); }
__device__ __forceinline__ bool lane0() { return (threadIdx.x & 31) == 0; }

__global__ void __launch_bounds__(kThreads) embed_kernel(EmbedArgs a, const __half* __restrict__ tok_embd,
                                                         const int32_t* seq, const int32_t* ctl, float* x) {
  int32_t token = seq[ctl[0]];
  if (token < 0 || token >= a.n_vocab) token = 0;  // the host checks every token it writes; argmax writes in range
  const __half* row = tok_embd + static_cast<std::size_t>(token) * a.n_embd;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < a.n_embd; i += gridDim.x * blockDim.x)
    x[i] = __half2float(row[i]);
}

// One warp per pair of dimensions of a head of [Q; K; V] (RoPE rotates such pairs): both rows, their biases, the
// rotation for Q and K, then Q to q and K/V to the caches at the current position.
__global__ void __launch_bounds__(kThreads)
    norm_qkv_kernel(NormQkvArgs a, const float* __restrict__ x, const float* __restrict__ norm,
                    const __half* __restrict__ wqkv, const float* __restrict__ bqkv, float* __restrict__ q,
                    float* __restrict__ kc, float* __restrict__ vc, const int32_t* __restrict__ ctl,
                    const float* __restrict__ freq) {
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);
  let_next_start();
  const int half = a.head_dim / 2, heads = a.n_head + 2 * a.n_head_kv;
  const int item = blockIdx.x * kWarps + warp_id();
  const bool active = item < heads * half;
  const int head = active ? item / half : 0, j = active ? item % half : 0, rot_half = a.n_rot / 2;
  int da, db;
  if (j < rot_half) {
    da = a.neox ? j : 2 * j;
    db = a.neox ? j + rot_half : 2 * j + 1;
  } else {
    da = a.n_rot + 2 * (j - rot_half);
    db = da + 1;
  }
  const int ra = head * a.head_dim + da, rb = head * a.head_dim + db;
  const __half* rows[2] = {wqkv + static_cast<std::size_t>(ra) * a.n_embd,
                           wqkv + static_cast<std::size_t>(rb) * a.n_embd};
  if (a.overlap && active) prefetch_rows<2>(rows, a.n_embd);
  wait_for_previous();
  stage(x, norm, a.eps, a.n_embd, xs);
  if (!active) return;
  float v[2];
  dot_rows<2>(rows, a.n_embd, xs, v);
  if (!lane0()) return;
  float va = v[0] + bqkv[ra], vb = v[1] + bqkv[rb];
  const int pos = ctl[0];
  if (j < rot_half && head < a.n_head + a.n_head_kv) {
    float s, c;
    sincosf(static_cast<float>(pos) * freq[j], &s, &c);
    const float x0 = va, x1 = vb;
    va = x0 * c - x1 * s;
    vb = x0 * s + x1 * c;
  }
  const int kv_dim = a.n_head_kv * a.head_dim;
  if (head < a.n_head) {
    q[ra] = va;
    q[rb] = vb;
  } else {
    const bool is_k = head < a.n_head + a.n_head_kv;
    const int kvh = is_k ? head - a.n_head : head - a.n_head - a.n_head_kv;
    float* dst = (is_k ? kc : vc) + static_cast<std::size_t>(pos) * kv_dim + kvh * a.head_dim;
    dst[da] = va;
    dst[db] = vb;
  }
}

// One block per query head over positions [0, pos]: each warp keeps an online softmax over every 8th position,
// then the warps' partial results combine.
__global__ void __launch_bounds__(kThreads)
    attention_kernel(AttentionArgs a, const float* __restrict__ q, const float* __restrict__ kc,
                     const float* __restrict__ vc, float* __restrict__ att, const int32_t* __restrict__ ctl) {
  constexpr int kPer = kDecodeMaxHeadDim / 32;
  __shared__ float qs[kDecodeMaxHeadDim];
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wo[kWarps][kDecodeMaxHeadDim];
  const int h = blockIdx.x, hd = a.head_dim, kvh = h / (a.n_head / a.n_head_kv);
  let_next_start();
  wait_for_previous();
  const int kv_dim = a.n_head_kv * hd, n = ctl[0] + 1, lane = threadIdx.x & 31, w = warp_id();
  for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[h * hd + i] * a.scale;
  __syncthreads();
  float m = -FLT_MAX, l = 0.f, o[kPer];
#pragma unroll
  for (int k = 0; k < kPer; ++k) o[k] = 0.f;
  for (int t = w; t < n; t += kWarps) {
    const float* k = kc + static_cast<std::size_t>(t) * kv_dim + kvh * hd;
    float s = 0.f;
    for (int i = lane; i < hd; i += 32) s += qs[i] * k[i];
    s = warp_sum(s);
    const float mn = fmaxf(m, s), corr = expf(m - mn), p = expf(s - mn);
    l = l * corr + p;
    const float* vv = vc + static_cast<std::size_t>(t) * kv_dim + kvh * hd;
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int i = lane + 32 * k;
      if (i < hd) o[k] = o[k] * corr + p * vv[i];
    }
    m = mn;
  }
  if (lane == 0) {
    wm[w] = m;
    wl[w] = l;
  }
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int i = lane + 32 * k;
    if (i < hd) wo[w][i] = o[k];
  }
  __syncthreads();
  float mx = -FLT_MAX;
#pragma unroll
  for (int k = 0; k < kWarps; ++k) mx = fmaxf(mx, wm[k]);
  for (int i = threadIdx.x; i < hd; i += blockDim.x) {
    float num = 0.f, den = 0.f;
#pragma unroll
    for (int k = 0; k < kWarps; ++k) {
      const float f = wl[k] > 0.f ? expf(wm[k] - mx) : 0.f;  // a warp that saw no position adds nothing
      num += wo[k][i] * f;
      den += wl[k] * f;
    }
    att[h * hd + i] = num / den;
  }
}

// x[r] += W[r] · in, two rows per group of S warps: the S warps of a group split the columns and their partial sums
// add up in a fixed order (deterministic). S > 1 for long rows (the FFN's down projection: 896 rows of 4,864 on the
// 0.5B shape), where two rows per warp would leave most SMs idle (56 blocks on 132 SMs).
template <int S>
__global__ void __launch_bounds__(kThreads) matvec_add_kernel(MatvecArgs a, const __half* __restrict__ w,
                                                              const float* __restrict__ in, float* __restrict__ x) {
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);
  __shared__ float partial[kWarps][2];
  let_next_start();
  const int part = warp_id() % S;
  const int r0 = (blockIdx.x * (kWarps / S) + warp_id() / S) * 2;
  const int r1 = min(r0 + 1, a.rows - 1), rc = min(r0, a.rows - 1);
  const __half* rows[2] = {w + static_cast<std::size_t>(rc) * a.cols, w + static_cast<std::size_t>(r1) * a.cols};
  if (a.overlap && r0 < a.rows) prefetch_rows<2>(rows, a.cols);
  wait_for_previous();
  stage(in, nullptr, 0.f, a.cols, xs);
  float v[2] = {0.f, 0.f};
  if (r0 < a.rows) dot_rows<2>(rows, a.cols, xs, v, part, S);
  if (S == 1) {
    if (r0 >= a.rows || !lane0()) return;
  } else {
    if (lane0()) {
      partial[warp_id()][0] = v[0];
      partial[warp_id()][1] = v[1];
    }
    __syncthreads();
    if (r0 >= a.rows || part != 0 || !lane0()) return;
    for (int k = 1; k < S; ++k) {
      v[0] += partial[warp_id() + k][0];
      v[1] += partial[warp_id() + k][1];
    }
  }
  x[r0] += v[0];
  if (r1 != r0) x[r1] += v[1];
}

// act[r] = SiLU(gate[r] · n(x)) * (up[r] · n(x)), one row of each per warp.
__global__ void __launch_bounds__(kThreads)
    norm_gate_up_kernel(GateUpArgs a, const float* __restrict__ x, const float* __restrict__ norm,
                        const __half* __restrict__ wg, const __half* __restrict__ wu, float* __restrict__ act) {
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);
  let_next_start();
  const int r = blockIdx.x * kWarps + warp_id(), rc = min(r, a.n_ff - 1);
  const __half* rows[2] = {wg + static_cast<std::size_t>(rc) * a.n_embd, wu + static_cast<std::size_t>(rc) * a.n_embd};
  if (a.overlap && r < a.n_ff) prefetch_rows<2>(rows, a.n_embd);
  wait_for_previous();
  stage(x, norm, a.eps, a.n_embd, xs);
  if (r >= a.n_ff) return;
  float v[2];
  dot_rows<2>(rows, a.n_embd, xs, v);
  if (lane0()) act[r] = v[0] / (1.f + expf(-v[0])) * v[1];
}

// logits = W_out · n(x), four rows per warp.
__global__ void __launch_bounds__(kThreads)
    norm_logits_kernel(LogitsArgs a, const float* __restrict__ x, const float* __restrict__ norm,
                       const __half* __restrict__ wout, float* __restrict__ logits) {
  extern __shared__ float4 smem4[];
  float* xs = reinterpret_cast<float*>(smem4);
  let_next_start();
  const int r0 = (blockIdx.x * kWarps + warp_id()) * 4;
  const __half* rows[4];
#pragma unroll
  for (int k = 0; k < 4; ++k) rows[k] = wout + static_cast<std::size_t>(min(r0 + k, a.n_vocab - 1)) * a.n_embd;
  if (a.overlap && r0 < a.n_vocab) prefetch_rows<4>(rows, a.n_embd);
  wait_for_previous();
  stage(x, norm, a.eps, a.n_embd, xs);
  if (r0 >= a.n_vocab) return;
  float v[4];
  dot_rows<4>(rows, a.n_embd, xs, v);
  if (!lane0()) return;
#pragma unroll
  for (int k = 0; k < 4; ++k)
    if (r0 + k < a.n_vocab) logits[r0 + k] = v[k];
}

// The arg-max (first on ties, as std::max_element) → seq[pos + 1] unless the host gave that token; pos += 1.
__global__ void __launch_bounds__(1024) argmax_kernel(ArgmaxArgs a, const float* __restrict__ logits, int32_t* seq,
                                                      int32_t* ctl) {
  __shared__ float bv[32];
  __shared__ int bi[32];
  wait_for_previous();
  float best = -FLT_MAX;
  int idx = INT32_MAX;
  for (int i = threadIdx.x; i < a.n_vocab; i += blockDim.x) {
    const float v = logits[i];
    if (v > best) {  // strided ascending: the first index wins ties within a thread
      best = v;
      idx = i;
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > best || (ov == best && oi < idx)) {
      best = ov;
      idx = oi;
    }
  }
  if ((threadIdx.x & 31) == 0) {
    bv[threadIdx.x >> 5] = best;
    bi[threadIdx.x >> 5] = idx;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int k = 1; k < static_cast<int>(blockDim.x >> 5); ++k)
    if (bv[k] > best || (bv[k] == best && bi[k] < idx)) {
      best = bv[k];
      idx = bi[k];
    }
  const int pos = ctl[0];
  if (pos + 1 >= ctl[1] && pos + 1 < a.n_seq) seq[pos + 1] = idx == INT32_MAX ? 0 : idx;
  __threadfence_system();  // the host reads seq once the step's event signal lands
  ctl[0] = pos + 1;
}

cudaStream_t stream_of(const DispatchContext& c) { return static_cast<cudaStream_t>(c.native_queue); }

// Launches with programmatic dependent launch when `overlap` (see decoder_kernels.h), else in plain stream order.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), unsigned grid, unsigned block, std::size_t smem, cudaStream_t stream,
            bool overlap, Args... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(block);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = overlap ? &attr : nullptr;
  cfg.numAttrs = overlap ? 1 : 0;
  (void)cudaLaunchKernelEx(&cfg, kernel, args...);  // the queue reads cudaGetLastError() after the dispatch
}
unsigned blocks(int items, int per_block) { return static_cast<unsigned>((items + per_block - 1) / per_block); }
std::size_t floats(int n) { return static_cast<std::size_t>(n) * sizeof(float); }

}  // namespace

void register_decoder_cuda_kernels() {
  kernels().add(kDecodeEmbed, "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<EmbedArgs>();
    embed_kernel<<<blocks(a.n_embd, kThreads), kThreads, 0, stream_of(c)>>>(
        a, c.buffer<const __half>(0), c.buffer<const int32_t>(1), c.buffer<const int32_t>(2), c.buffer<float>(3));
  });
  kernels().add(kDecodeNormQkv, "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<NormQkvArgs>();
    const int items = (a.n_head + 2 * a.n_head_kv) * a.head_dim / 2;
    launch(norm_qkv_kernel, blocks(items, kWarps), kThreads, floats(a.n_embd), stream_of(c), a.overlap != 0,
        a, c.buffer<const float>(0), c.buffer<const float>(1), c.buffer<const __half>(2), c.buffer<const float>(3),
        c.buffer<float>(4), c.buffer<float>(5), c.buffer<float>(6), c.buffer<const int32_t>(7),
        c.buffer<const float>(8));
  });
  kernels().add(kDecodeAttention, "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<AttentionArgs>();
    launch(attention_kernel, static_cast<unsigned>(a.n_head), kThreads, 0, stream_of(c), a.overlap != 0,
        a, c.buffer<const float>(0), c.buffer<const float>(1), c.buffer<const float>(2), c.buffer<float>(3),
        c.buffer<const int32_t>(4));
  });
  kernels().add(kDecodeMatvecAdd, "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<MatvecArgs>();
    // Warps per row pair: enough blocks to cover the SMs, each warp still reading whole 256-column stretches.
    const int split = a.cols >= 2048 ? 8 : a.cols >= 512 ? 2 : 1;
    const auto kernel = split == 8 ? matvec_add_kernel<8> : split == 2 ? matvec_add_kernel<2> : matvec_add_kernel<1>;
    launch(kernel, blocks(a.rows, 2 * kWarps / split), kThreads, floats(a.cols), stream_of(c), a.overlap != 0,
        a, c.buffer<const __half>(0), c.buffer<const float>(1), c.buffer<float>(2));
  });
  kernels().add(kDecodeNormGateUp, "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<GateUpArgs>();
    launch(norm_gate_up_kernel, blocks(a.n_ff, kWarps), kThreads, floats(a.n_embd), stream_of(c), a.overlap != 0,
        a, c.buffer<const float>(0), c.buffer<const float>(1), c.buffer<const __half>(2), c.buffer<const __half>(3),
        c.buffer<float>(4));
  });
  kernels().add(kDecodeNormLogits, "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<LogitsArgs>();
    launch(norm_logits_kernel, blocks(a.n_vocab, 4 * kWarps), kThreads, floats(a.n_embd), stream_of(c),
        a.overlap != 0, a, c.buffer<const float>(0), c.buffer<const float>(1), c.buffer<const __half>(2), c.buffer<float>(3));
  });
  kernels().add(kDecodeArgmax, "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<ArgmaxArgs>();
    launch(argmax_kernel, 1, 1024, 0, stream_of(c), a.overlap != 0, a, c.buffer<const float>(0),
           c.buffer<int32_t>(1), c.buffer<int32_t>(2));
  });
}

}  // namespace ut::ml
