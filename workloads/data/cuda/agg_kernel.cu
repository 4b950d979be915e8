// CUDA versions of the hash-aggregation kernels (backend "cuda"; layout and meaning in ../agg_kernel.h).
// Each launcher runs on DispatchContext::native_queue and never synchronizes.
//
// data.agg_rows picks one of two kernels:
// - shared: when the whole table fits in shared memory (dense mode, few groups), each block aggregates its
//   grid-stride share of the rows into a private copy of the table with shared-memory atomics, then merges the
//   occupied slots into the global table. This avoids thousands of threads hammering the same few words.
// - global: every row updates the global table with atomics (CAS on the slot key in hash mode).
// 128-bit integer sums: atomicAdd on the low word; the carry that addition produced (known from the returned
// old value) plus the sign extension is added to the high word. Each addition is exact, so the total is exact
// in any order. Double sums use atomicAdd(double) and depend on the order (compare within a tolerance).
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>

#include "timeline/kernel.h"
#include "workloads/data/agg_kernel.h"

namespace ut::data {
namespace {

using ull = unsigned long long;
constexpr unsigned kBlock = 256;
constexpr uint64_t kSharedBytes = 48 * 1024;  // default dynamic shared memory limit, no opt-in needed

struct Columns {
  const void* values[kMaxColumns];
  const uint8_t* valid[kMaxColumns];
};

__device__ ull initial_word(const AggConstants& k, uint32_t a) {
  const bool f64 = static_cast<ValueKind>(k.column_kind[k.column[a]]) == ValueKind::f64;
  switch (static_cast<AggOp>(k.op[a])) {
    case AggOp::min: return f64 ? static_cast<ull>(__double_as_longlong(INFINITY)) : static_cast<ull>(INT64_MAX);
    case AggOp::max: return f64 ? static_cast<ull>(__double_as_longlong(-INFINITY)) : static_cast<ull>(INT64_MIN);
    default: return 0;
  }
}

__device__ void add128(ull* lo, ull* hi, ull add_lo, ull add_hi) {
  const ull old = atomicAdd(lo, add_lo);
  const ull carry = (old + add_lo) < old ? 1ull : 0ull;
  const ull h = add_hi + carry;
  if (h != 0) atomicAdd(hi, h);
}

__device__ void min_f64(ull* w, double v) {
  ull old = *reinterpret_cast<volatile ull*>(w);
  while (v < __longlong_as_double(static_cast<long long>(old))) {
    const ull prev = atomicCAS(w, old, static_cast<ull>(__double_as_longlong(v)));
    if (prev == old) break;
    old = prev;
  }
}

__device__ void max_f64(ull* w, double v) {
  ull old = *reinterpret_cast<volatile ull*>(w);
  while (v > __longlong_as_double(static_cast<long long>(old))) {
    const ull prev = atomicCAS(w, old, static_cast<ull>(__double_as_longlong(v)));
    if (prev == old) break;
    old = prev;
  }
}

// Adds row i to `slot` (global or shared memory: generic atomics work on both).
__device__ void accumulate(const AggConstants& k, ull* slot, const Columns& cols, uint64_t i) {
  atomicAdd(&slot[1], 1ull);
  for (uint32_t a = 0; a < k.n_aggs; ++a) {
    const auto op = static_cast<AggOp>(k.op[a]);
    if (op == AggOp::count_star) continue;
    const uint32_t c = k.column[a];
    if (!cols.valid[c][i]) continue;
    ull* w = slot + 2 + 3 * a;
    atomicAdd(&w[0], 1ull);
    if (op == AggOp::count) continue;
    if (static_cast<ValueKind>(k.column_kind[c]) == ValueKind::i64) {
      const long long v = static_cast<const long long*>(cols.values[c])[i];
      if (op == AggOp::sum || op == AggOp::avg) add128(&w[1], &w[2], static_cast<ull>(v), v < 0 ? ~0ull : 0ull);
      else if (op == AggOp::min) atomicMin(reinterpret_cast<long long*>(&w[1]), v);
      else atomicMax(reinterpret_cast<long long*>(&w[1]), v);
    } else {
      const double v = static_cast<const double*>(cols.values[c])[i];
      if (op == AggOp::sum || op == AggOp::avg) atomicAdd(reinterpret_cast<double*>(&w[1]), v);
      else if (op == AggOp::min) min_f64(&w[1], v);
      else max_f64(&w[1], v);
    }
  }
}

// Slot of row i, claiming an empty hash slot with a CAS; slots() when the hash table is full.
__device__ uint64_t find_slot(const AggConstants& k, ull* t, long long key, bool valid) {
  if (!valid) return k.capacity + 1;
  if (static_cast<TableMode>(k.mode) == TableMode::dense) return static_cast<uint64_t>(key - k.key_base);
  if (key == kEmptyKey) return k.capacity;
  const uint64_t mask = k.capacity - 1;
  uint64_t s = agg_hash(key) & mask;
  for (uint64_t probe = 0; probe < k.capacity; ++probe, s = (s + 1) & mask) {
    ull* slot_key = t + k.word(0, s);
    const ull seen = *reinterpret_cast<volatile ull*>(slot_key);
    if (seen == static_cast<ull>(key)) return s;
    if (seen == static_cast<ull>(kEmptyKey)) {
      const ull prev = atomicCAS(slot_key, static_cast<ull>(kEmptyKey), static_cast<ull>(key));
      if (prev == static_cast<ull>(kEmptyKey) || prev == static_cast<ull>(key)) return s;
    }
  }
  return k.slots();
}

__device__ void init_slot(const AggConstants& k, ull* slot) {
  slot[0] = static_cast<ull>(kEmptyKey);
  slot[1] = 0;
  for (uint32_t a = 0; a < k.n_aggs; ++a) {
    slot[2 + 3 * a] = 0;
    slot[3 + 3 * a] = initial_word(k, a);
    slot[4 + 3 * a] = 0;
  }
}

__global__ void init_kernel(AggConstants k, ull* t, ull* overflow) {
  const uint64_t s = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  if (s == 0) *overflow = 0;
  if (s >= k.slots()) return;
  init_slot(k, t + k.word(0, s));
}

__global__ void rows_global_kernel(AggConstants k, const long long* keys, const uint8_t* key_valid, ull* t,
                                   ull* overflow, Columns cols) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < k.rows; i += stride) {
    const uint64_t s = find_slot(k, t, keys[i], key_valid[i] != 0);
    if (s >= k.slots()) {
      atomicAdd(overflow, 1ull);
      continue;
    }
    accumulate(k, t + k.word(0, s), cols, i);
  }
}

__global__ void rows_shared_kernel(AggConstants k, const long long* keys, const uint8_t* key_valid, ull* t, Columns cols) {
  extern __shared__ ull local[];
  // A fresh private table (not a copy of the global one: earlier dispatches may already have merged into it).
  for (uint64_t s = threadIdx.x; s < k.slots(); s += blockDim.x) init_slot(k, local + k.word(0, s));
  __syncthreads();
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < k.rows; i += stride) {
    const uint64_t s = key_valid[i] ? static_cast<uint64_t>(keys[i] - k.key_base) : k.capacity + 1;
    accumulate(k, local + k.word(0, s), cols, i);
  }
  __syncthreads();
  for (uint64_t s = threadIdx.x; s < k.slots(); s += blockDim.x) {
    const ull* mine = local + k.word(0, s);
    if (mine[1] == 0) continue;
    ull* g = t + k.word(0, s);
    atomicAdd(&g[1], mine[1]);
    for (uint32_t a = 0; a < k.n_aggs; ++a) {
      const ull* m = mine + 2 + 3 * a;
      ull* w = g + 2 + 3 * a;
      if (m[0] == 0) continue;
      atomicAdd(&w[0], m[0]);
      const auto op = static_cast<AggOp>(k.op[a]);
      const bool f64 = static_cast<ValueKind>(k.column_kind[k.column[a]]) == ValueKind::f64;
      if (op == AggOp::sum || op == AggOp::avg) {
        if (f64) atomicAdd(reinterpret_cast<double*>(&w[1]), __longlong_as_double(static_cast<long long>(m[1])));
        else add128(&w[1], &w[2], m[1], m[2]);
      } else if (op == AggOp::min) {
        if (f64) min_f64(&w[1], __longlong_as_double(static_cast<long long>(m[1])));
        else atomicMin(reinterpret_cast<long long*>(&w[1]), static_cast<long long>(m[1]));
      } else if (op == AggOp::max) {
        if (f64) max_f64(&w[1], __longlong_as_double(static_cast<long long>(m[1])));
        else atomicMax(reinterpret_cast<long long*>(&w[1]), static_cast<long long>(m[1]));
      }
    }
  }
}

cudaStream_t stream_of(const DispatchContext& c) { return static_cast<cudaStream_t>(c.native_queue); }

unsigned sm_count() {
  static const unsigned n = [] {
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      return 108u;
    return static_cast<unsigned>(sms);
  }();
  return n;
}

unsigned blocks_for(uint64_t n, unsigned cap) {
  const uint64_t b = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(b < cap ? (b == 0 ? 1 : b) : cap);
}

void launch_init(const DispatchContext& c) {
  const auto& k = c.constants<AggConstants>();
  init_kernel<<<blocks_for(k.slots(), 1u << 30), kBlock, 0, stream_of(c)>>>(k, c.buffer<ull>(2), c.buffer<ull>(3));
}

void launch_rows(const DispatchContext& c) {
  const auto& k = c.constants<AggConstants>();
  if (k.rows == 0) return;
  Columns cols{};
  for (uint32_t i = 0; i < k.n_columns; ++i) {
    cols.values[i] = c.buffer<const void>(4 + 2 * i);
    cols.valid[i] = c.buffer<const uint8_t>(5 + 2 * i);
  }
  const auto* keys = c.buffer<const long long>(0);
  const auto* key_valid = c.buffer<const uint8_t>(1);
  const uint64_t table_bytes = k.table_words() * 8;
  if (static_cast<TableMode>(k.mode) == TableMode::dense && table_bytes <= kSharedBytes) {
    rows_shared_kernel<<<blocks_for(k.rows, sm_count() * 8), kBlock, table_bytes, stream_of(c)>>>(
        k, keys, key_valid, c.buffer<ull>(2), cols);
  } else {
    rows_global_kernel<<<blocks_for(k.rows, sm_count() * 32), kBlock, 0, stream_of(c)>>>(
        k, keys, key_valid, c.buffer<ull>(2), c.buffer<ull>(3), cols);
  }
}

}  // namespace

void register_cuda_agg_kernels() {
  kernels().add(kAggInitKernel, "cuda", launch_init);
  kernels().add(kAggRowsKernel, "cuda", launch_rows);
}

}  // namespace ut::data
