// CPU versions of the hash-aggregation kernels (layout in agg_kernel.h).
// The CPU backend runs a dispatch's [begin, end) calls one after another on the queue's worker thread, so
// table updates here are plain stores; a backend that ran the calls of one dispatch concurrently would need
// the atomic scheme described in agg_kernel.h.
#include <cmath>
#include <cstring>
#include <limits>

#include "timeline/kernel.h"
#include "workloads/data/agg_kernel.h"

namespace ut::data {
namespace {

void agg_init(const DispatchContext& ctx) {
  const auto& k = ctx.constants<AggConstants>();
  uint64_t* t = ctx.buffer<uint64_t>(2);
  for (uint64_t s = ctx.begin; s < ctx.end; ++s) {
    t[k.word(0, s)] = static_cast<uint64_t>(kEmptyKey);
    t[k.word(1, s)] = 0;
    for (uint32_t a = 0; a < k.n_aggs; ++a) {
      const uint64_t w = 2 + 3ull * a;
      t[k.word(w, s)] = 0;
      uint64_t init = 0;
      const bool is_f64 = static_cast<ValueKind>(k.column_kind[k.column[a]]) == ValueKind::f64;
      switch (static_cast<AggOp>(k.op[a])) {
        case AggOp::min:
          init = is_f64 ? double_bits(std::numeric_limits<double>::infinity())
                        : static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
          break;
        case AggOp::max:
          init = is_f64 ? double_bits(-std::numeric_limits<double>::infinity())
                        : static_cast<uint64_t>(std::numeric_limits<int64_t>::min());
          break;
        default: init = 0;  // sums: 0 (also 0.0's bits)
      }
      t[k.word(w + 1, s)] = init;
      t[k.word(w + 2, s)] = 0;
    }
  }
  if (ctx.begin == 0) ctx.buffer<uint64_t>(3)[0] = 0;
}

// Finds (or claims) the slot of `key`; returns slots() when the hash table is full.
inline uint64_t find_slot(const AggConstants& k, uint64_t* t, int64_t key, bool key_valid) {
  if (!key_valid) return k.capacity + 1;
  if (static_cast<TableMode>(k.mode) == TableMode::dense) return static_cast<uint64_t>(key - k.key_base);
  if (key == kEmptyKey) return k.capacity;
  const uint64_t mask = k.capacity - 1;
  uint64_t s = agg_hash(key) & mask;
  for (uint64_t probe = 0; probe < k.capacity; ++probe, s = (s + 1) & mask) {
    uint64_t& slot_key = t[k.word(0, s)];
    if (slot_key == static_cast<uint64_t>(key)) return s;
    if (slot_key == static_cast<uint64_t>(kEmptyKey)) {
      slot_key = static_cast<uint64_t>(key);
      return s;
    }
  }
  return k.slots();
}

void agg_rows(const DispatchContext& ctx) {
  const auto& k = ctx.constants<AggConstants>();
  const int64_t* keys = ctx.buffer<int64_t>(0);
  const uint8_t* key_valid = ctx.buffer<uint8_t>(1);
  uint64_t* t = ctx.buffer<uint64_t>(2);
  uint64_t* overflow = ctx.buffer<uint64_t>(3);
  const void* values[kMaxColumns] = {};
  const uint8_t* valid[kMaxColumns] = {};
  for (uint32_t c = 0; c < k.n_columns; ++c) {
    values[c] = ctx.buffer<void>(4 + 2 * c);
    valid[c] = ctx.buffer<uint8_t>(5 + 2 * c);
  }
  const uint64_t S = k.slots();
  for (uint64_t i = ctx.begin; i < ctx.end; ++i) {
    const uint64_t s = find_slot(k, t, keys[i], key_valid[i] != 0);
    if (s >= S) {
      ++overflow[0];
      continue;
    }
    uint64_t* slot = t + k.word(0, s);
    ++slot[1];  // COUNT(*)
    for (uint32_t a = 0; a < k.n_aggs; ++a) {
      const auto op = static_cast<AggOp>(k.op[a]);
      if (op == AggOp::count_star) continue;
      const uint32_t c = k.column[a];
      if (!valid[c][i]) continue;
      uint64_t* cnt = slot + 2 + 3ull * a;
      uint64_t* w1 = cnt + 1;
      uint64_t* w2 = cnt + 2;
      ++*cnt;
      if (op == AggOp::count) continue;
      if (static_cast<ValueKind>(k.column_kind[c]) == ValueKind::i64) {
        const int64_t v = static_cast<const int64_t*>(values[c])[i];
        if (op == AggOp::sum || op == AggOp::avg) {
          const uint64_t lo = *w1 + static_cast<uint64_t>(v);
          *w2 += (v < 0 ? ~uint64_t{0} : 0) + (lo < *w1 ? 1 : 0);
          *w1 = lo;
        } else if (op == AggOp::min) {
          if (v < static_cast<int64_t>(*w1)) *w1 = static_cast<uint64_t>(v);
        } else if (v > static_cast<int64_t>(*w1)) {
          *w1 = static_cast<uint64_t>(v);
        }
      } else {
        const double v = static_cast<const double*>(values[c])[i];
        if (op == AggOp::sum || op == AggOp::avg) {
          *w1 = double_bits(bits_double(*w1) + v);
        } else if (op == AggOp::min) {
          if (v < bits_double(*w1)) *w1 = double_bits(v);
        } else if (v > bits_double(*w1)) {
          *w1 = double_bits(v);
        }
      }
    }
  }
}

}  // namespace

void register_agg_kernels() {
  kernels().add(kAggInitKernel, "cpu", agg_init);
  kernels().add(kAggRowsKernel, "cpu", agg_rows);
#ifdef UT_DATA_HAVE_CUDA
  register_cuda_agg_kernels();
#endif
}

}  // namespace ut::data
