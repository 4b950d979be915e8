// The hash-aggregation kernels' interface: buffer layout and constants shared by every backend.
//
//   ut::data::register_agg_kernels();                        // "data.agg_init" / "data.agg_rows" for "cpu"
//   ut::data::AggConstants k = ...;                          // rows, capacity, mode, aggregates
//   cb.dispatch(ut::data::kAggInitKernel, ut::Grid{k.slots()}, ut::DispatchArgs::make(buffers, k))
//     .dispatch(ut::data::kAggRowsKernel, ut::Grid{k.rows}, ut::DispatchArgs::make(buffers, k));
//
// Written so a CUDA version is a port, not a redesign (backend "cuda" registers the same two names in
// workloads/data/cuda/agg_kernel.cu):
// - Buffers (DispatchArgs::buffers, in this order):
//     0 keys       int64[rows]     group key per row (integers as is; strings dictionary-encoded on the host)
//     1 key_valid  uint8[rows]     1 = key present, 0 = NULL key
//     2 table      uint64[table_words()]   the group table, struct-of-arrays (below)
//     3 overflow   uint64[1]       rows that found no slot (hash mode, table full): the host retries bigger
//     4 + 2c       column c values int64[rows] or double[rows] (AggConstants::column_kind[c])
//     5 + 2c       column c valid  uint8[rows]
// - Table: S = slots() = capacity + 2 slots of words_per_slot() uint64 words each, slot-major (all words of a
//   slot are adjacent: one or two cache lines per update on CPUs, one memory segment per group on GPUs).
//   Slot capacity holds the key INT64_MIN (the empty marker), slot capacity + 1 the NULL key. Words of a slot:
//     [0]              hash mode: slot key (int64; kEmptyKey when unused). Dense mode and the two special slots
//                      leave it unused: their key is key_base + slot, INT64_MIN, or NULL
//     [1]              rows in the group (COUNT(*)); a slot is occupied iff this is > 0
//     [2 + 3a + 0]     aggregate a: non-NULL inputs seen
//     [2 + 3a + 1..2]  aggregate a: accumulator
//                      SUM/AVG of int64: a 128-bit two's-complement sum as (low word, high word); the carry
//                        is added with a second atomic on GPUs, so sums are exact in any order
//                      SUM/AVG of double: word 1 = the double's bits
//                      MIN/MAX: word 1 = int64 value or double bits
// - Modes: dense (slot = key - key_base, for small key ranges and dictionary codes; no hashing) and hash
//   (open addressing with linear probing from a 64-bit mix of the key; cap is a power of two).
// - A GPU implementation must use atomics for every table update (CAS on the slot key; atomicAdd on counts
//   and sum words; CAS loops for double sums and min/max). Floating sums then depend on the order of
//   additions: compare them to DuckDB within a relative tolerance, as the CPU oracle tests do.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define UT_DATA_HD __host__ __device__
#else
#define UT_DATA_HD
#endif

namespace ut::data {

inline constexpr const char* kAggInitKernel = "data.agg_init";  // grid: slots()
inline constexpr const char* kAggRowsKernel = "data.agg_rows";  // grid: rows

inline constexpr int kMaxAggregates = 8;
inline constexpr int kMaxColumns = 8;
inline constexpr int64_t kEmptyKey = std::numeric_limits<int64_t>::min();

enum class AggOp : uint32_t { count_star = 0, count = 1, sum = 2, min = 3, max = 4, avg = 5 };
enum class ValueKind : uint32_t { i64 = 0, f64 = 1 };
enum class TableMode : uint32_t { dense = 0, hash = 1 };

struct AggConstants {
  uint64_t rows = 0;
  uint64_t capacity = 0;  // dense: key range size; hash: power of two
  int64_t key_base = 0;   // dense mode: slot = key - key_base
  uint32_t mode = 0;      // TableMode
  uint32_t n_aggs = 0;
  uint32_t n_columns = 0;
  uint32_t op[kMaxAggregates] = {};      // AggOp
  uint32_t column[kMaxAggregates] = {};  // input column of aggregate a (unused for count_star)
  uint32_t column_kind[kMaxColumns] = {};  // ValueKind of column c

  UT_DATA_HD uint64_t slots() const noexcept { return capacity + 2; }
  UT_DATA_HD uint64_t words_per_slot() const noexcept { return 2 + 3ull * n_aggs; }
  UT_DATA_HD uint64_t table_words() const noexcept { return slots() * words_per_slot(); }
  // Index of word w of slot s in the table.
  UT_DATA_HD uint64_t word(uint64_t w, uint64_t s) const noexcept { return s * words_per_slot() + w; }
};

// The hash both backends use (a SplitMix64 finalizer): well spread for sequential and skewed keys.
UT_DATA_HD inline uint64_t agg_hash(int64_t key) noexcept {
  uint64_t x = static_cast<uint64_t>(key);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

inline uint64_t double_bits(double d) noexcept { return std::bit_cast<uint64_t>(d); }
inline double bits_double(uint64_t w) noexcept { return std::bit_cast<double>(w); }

// Registers the CPU kernels, and the CUDA ones where the CUDA backend is built (idempotent).
void register_agg_kernels();
#ifdef UT_DATA_HAVE_CUDA
void register_cuda_agg_kernels();  // workloads/data/cuda/agg_kernel.cu
#endif

}  // namespace ut::data
