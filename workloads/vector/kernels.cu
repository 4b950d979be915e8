// CUDA versions of "vector.scores" and "vector.topk" (same meaning as the CPU versions in device_index.cpp).
#include <cuda_runtime_api.h>

#include <cfloat>
#include <cstdint>

#include "timeline/kernel.h"
#include "workloads/vector/device_index.h"

namespace ut::vector {
namespace {

// scores[q][r] = dot(Q[q], V[r]); Q: nq × dim, V: n × dim, both row-major. 64×64 output tile per block,
// 16-wide K steps through shared memory, 4×4 outputs per thread.
constexpr int kTile = 64, kStep = 16;

__global__ void __launch_bounds__(256) scores_kernel(const float* __restrict__ Q, const float* __restrict__ V,
                                                     float* __restrict__ S, uint32_t nq, uint32_t n, uint32_t dim) {
  __shared__ float qs[kStep][kTile + 4];
  __shared__ float vs[kStep][kTile + 4];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const uint32_t r0 = blockIdx.x * kTile, q0 = blockIdx.y * kTile;
  float acc[4][4] = {};
  for (uint32_t k0 = 0; k0 < dim; k0 += kStep) {
    // 256 threads load 64×16 of each operand: 4 elements per thread.
    for (int e = threadIdx.x; e < kTile * kStep; e += 256) {
      const int row = e / kStep, col = e % kStep;
      const uint32_t kk = k0 + col;
      qs[col][row] = (q0 + row < nq && kk < dim) ? Q[std::size_t(q0 + row) * dim + kk] : 0.f;
      vs[col][row] = (r0 + row < n && kk < dim) ? V[std::size_t(r0 + row) * dim + kk] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kStep; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = qs[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = vs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t q = q0 + ty * 4 + i;
    if (q >= nq) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t r = r0 + tx * 4 + j;
      if (r < n) S[std::size_t(q) * n + r] = acc[i][j];
    }
  }
}

// The same product for dim % 4 == 0 (every embedding size in use), 64 queries × 256 rows per block, 8 × 8 outputs
// per thread: two 16-byte shared loads of each operand feed 64 FMAs (the 64×64 kernel above does 16 FMAs per 8
// scalar loads and stays far below the SMs' FP32 rate).
constexpr int kWideQ = 64, kWideR = 256, kWideK = 8;

__global__ void __launch_bounds__(256) scores_wide_kernel(const float* __restrict__ Q, const float* __restrict__ V,
                                                          float* __restrict__ S, uint32_t nq, uint32_t n,
                                                          uint32_t dim) {
  __shared__ __align__(16) float qs[kWideK][kWideQ];
  __shared__ __align__(16) float vs[kWideK][kWideR];
  const int t = threadIdx.x, tx = t % 32, ty = t / 32;
  const uint32_t r0 = blockIdx.x * kWideR, q0 = blockIdx.y * kWideQ;
  float acc[8][8] = {};
  for (uint32_t k0 = 0; k0 < dim; k0 += kWideK) {
    {  // V: thread t loads row r0 + t, columns k0..k0+7 (two float4), stored transposed.
      const uint32_t r = r0 + t;
      float4 a = make_float4(0, 0, 0, 0), b = a;
      if (r < n) {
        const float4* src = reinterpret_cast<const float4*>(V + std::size_t(r) * dim + k0);
        a = src[0];
        if (k0 + 4 < dim) b = src[1];
      }
      vs[0][t] = a.x, vs[1][t] = a.y, vs[2][t] = a.z, vs[3][t] = a.w;
      vs[4][t] = b.x, vs[5][t] = b.y, vs[6][t] = b.z, vs[7][t] = b.w;
    }
    if (t < 2 * kWideQ) {  // Q: 64 rows × 8 columns, one float4 per thread.
      const int row = t / 2, half = t % 2;
      const uint32_t q = q0 + row, k = k0 + 4 * half;
      float4 a = make_float4(0, 0, 0, 0);
      if (q < nq && k < dim) a = *reinterpret_cast<const float4*>(Q + std::size_t(q) * dim + k);
      qs[4 * half + 0][row] = a.x, qs[4 * half + 1][row] = a.y, qs[4 * half + 2][row] = a.z,
                         qs[4 * half + 3][row] = a.w;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kWideK; ++kk) {
      const float4 a0 = *reinterpret_cast<const float4*>(&qs[kk][ty * 8]);
      const float4 a1 = *reinterpret_cast<const float4*>(&qs[kk][ty * 8 + 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&vs[kk][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&vs[kk][128 + tx * 4]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t q = q0 + ty * 8 + i;
    if (q >= nq) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const uint32_t r = r0 + (j < 4 ? tx * 4 + j : 128 + tx * 4 + (j - 4));
      if (r < n) S[std::size_t(q) * n + r] = acc[i][j];
    }
  }
}

constexpr int kThreads = 256;
constexpr int kMaxK = static_cast<int>(DeviceExactIndex::kMaxK);

__device__ bool better(float s1, uint32_t r1, float s2, uint32_t r2) { return s1 > s2 || (s1 == s2 && r1 < r2); }

// Rows scanned per block in the first top-k pass. One block per query left a 1M-row scan on 64 of 132 SMs;
// splitting each row into parts gives thousands of blocks, and the second pass merges parts × k candidates.
// Parts stay large (64 rows a thread) so that most rows fail the register threshold test and only a few are
// inserted, and the fixed cost of the block's merge tree is spread over many rows.
constexpr uint32_t kPartRows = 16384;
static_assert(topk_parts(kPartRows) == 1 && topk_parts(kPartRows + 1) == 2, "topk_parts() must match kPartRows");

// The best k of scores[begin, end) (row id = rows ? rows[i] : i) by one block: each thread keeps a sorted top-k
// of its strided entries, then the lists merge pairwise in shared memory (8 halving steps for 256 threads).
// Thread 0 writes the result to out_s/out_r (k entries; missing ones as -3 / UINT32_MAX).
__device__ void block_topk(const float* __restrict__ scores, const uint32_t* __restrict__ rows, uint32_t begin,
                           uint32_t end, uint32_t k, float* __restrict__ out_s, uint32_t* __restrict__ out_r) {
  __shared__ float ss[kThreads][kMaxK];
  __shared__ uint32_t sr[kThreads][kMaxK];
  float ls[kMaxK];
  uint32_t lr[kMaxK];
  for (int j = 0; j < kMaxK; ++j) {
    ls[j] = -FLT_MAX;
    lr[j] = UINT32_MAX;
  }
  // The k-th best so far lives in registers: ls/lr are indexed at run time (local memory), so they are touched
  // only when a row gets in.
  float worst_s = -FLT_MAX;
  uint32_t worst_r = UINT32_MAX;
  for (uint32_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const float s = scores[i];
    const uint32_t r = rows ? rows[i] : i;
    if (!better(s, r, worst_s, worst_r)) continue;
    int j = static_cast<int>(k) - 1;
    while (j > 0 && better(s, r, ls[j - 1], lr[j - 1])) {
      ls[j] = ls[j - 1];
      lr[j] = lr[j - 1];
      --j;
    }
    ls[j] = s;
    lr[j] = r;
    worst_s = ls[k - 1];
    worst_r = lr[k - 1];
  }
  for (uint32_t j = 0; j < k; ++j) {
    ss[threadIdx.x][j] = ls[j];
    sr[threadIdx.x][j] = lr[j];
  }
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      const int o = threadIdx.x + half;
      uint32_t a = 0, b = 0;
      for (uint32_t j = 0; j < k; ++j) {  // merge two sorted lists, keep the best k
        if (better(ss[threadIdx.x][a], sr[threadIdx.x][a], ss[o][b], sr[o][b])) {
          ls[j] = ss[threadIdx.x][a];
          lr[j] = sr[threadIdx.x][a];
          ++a;
        } else {
          ls[j] = ss[o][b];
          lr[j] = sr[o][b];
          ++b;
        }
      }
    }
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < half) {
      for (uint32_t j = 0; j < k; ++j) {
        ss[threadIdx.x][j] = ls[j];
        sr[threadIdx.x][j] = lr[j];
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    for (uint32_t j = 0; j < k; ++j) {
      const bool valid = sr[0][j] != UINT32_MAX;
      out_s[j] = valid ? ss[0][j] : -3.0f;
      out_r[j] = sr[0][j];
    }
  }
}

// Pass 1: block (part, query) → the best k of that query's rows [part*kPartRows, ...).
__global__ void __launch_bounds__(kThreads) topk_parts_kernel(const float* __restrict__ S, float* __restrict__ part_s,
                                                              uint32_t* __restrict__ part_r, uint32_t n, uint32_t k) {
  const uint32_t q = blockIdx.y, part = blockIdx.x, parts = gridDim.x;
  const uint32_t begin = part * kPartRows, end = min(n, begin + kPartRows);
  const std::size_t o = (std::size_t(q) * parts + part) * k;
  block_topk(S + std::size_t(q) * n, nullptr, begin, end, k, part_s + o, part_r + o);
}

// Pass 2: block (query) → the best k of its parts × k candidates (missing ones carry UINT32_MAX and lose).
__global__ void __launch_bounds__(kThreads) topk_merge_kernel(const float* __restrict__ part_s,
                                                              const uint32_t* __restrict__ part_r,
                                                              float* __restrict__ out_s, uint32_t* __restrict__ out_r,
                                                              uint32_t parts, uint32_t k) {
  const std::size_t o = std::size_t(blockIdx.x) * parts * k;
  block_topk(part_s + o, part_r + o, 0, parts * k, k, out_s + std::size_t(blockIdx.x) * k,
             out_r + std::size_t(blockIdx.x) * k);
}

}  // namespace

void register_vector_cuda_kernels() {
  kernels().add("vector.scores", "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<ScoresArgs>();
    if (a.nq == 0 || a.n == 0) return;
    auto stream = static_cast<cudaStream_t>(c.native_queue);
    const float* q = c.buffer<float>(0);
    const float* v = c.buffer<float>(1);
    const bool aligned = reinterpret_cast<uintptr_t>(q) % 16 == 0 && reinterpret_cast<uintptr_t>(v) % 16 == 0;
    if (a.dim % 4 == 0 && aligned) {  // every row starts on 16 bytes: float4 loads
      const dim3 grid((a.n + kWideR - 1) / kWideR, (a.nq + kWideQ - 1) / kWideQ);
      scores_wide_kernel<<<grid, 256, 0, stream>>>(q, v, c.buffer<float>(2), a.nq, a.n, a.dim);
      return;
    }
    const dim3 grid((a.n + kTile - 1) / kTile, (a.nq + kTile - 1) / kTile);
    scores_kernel<<<grid, 256, 0, stream>>>(q, v, c.buffer<float>(2), a.nq, a.n, a.dim);
  });
  // Buffers: scores, out scores, out rows, then scratch for topk_parts(n) × k candidates per query (scores, rows).
  kernels().add("vector.topk", "cuda", [](const DispatchContext& c) {
    const auto& a = c.constants<TopkArgs>();
    if (a.nq == 0) return;
    auto stream = static_cast<cudaStream_t>(c.native_queue);
    const uint32_t parts = topk_parts(a.n);
    topk_parts_kernel<<<dim3(parts, a.nq), kThreads, 0, stream>>>(c.buffer<float>(0), c.buffer<float>(3),
                                                                  c.buffer<uint32_t>(4), a.n, a.k);
    topk_merge_kernel<<<a.nq, kThreads, 0, stream>>>(c.buffer<float>(3), c.buffer<uint32_t>(4), c.buffer<float>(1),
                                                     c.buffer<uint32_t>(2), parts, a.k);
  });
}

}  // namespace ut::vector
