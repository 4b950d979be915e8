// Step 5 of PreAggregator::run (preagg.cpp): occupied slots -> rows. Kept apart from the scan and the kernels
// because it is its own problem: reading a table of millions of slots back into columns on all cores.
#include "workloads/data/group_table.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <thread>

namespace ut::data::detail {
namespace {

int128_t sum128(uint64_t lo, uint64_t hi) {
  return static_cast<int128_t>((static_cast<uint128_t>(hi) << 64) | lo);
}

// fn(begin, end) over [0, n) in `threads` ranges at once; the first exception is rethrown.
template <class F>
void parallel_ranges(uint64_t n, unsigned threads, const F& fn) {
  threads = static_cast<unsigned>(std::min<uint64_t>(threads, std::max<uint64_t>(n, 1)));
  if (threads <= 1) return fn(uint64_t{0}, n);
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i)
    pool.emplace_back([&, i] {
      try {
        fn(n * i / threads, n * (i + 1) / threads);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  try {
    fn(uint64_t{0}, n / threads);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

// Occupied slots in slot order: counted per range, then written at each range's offset.
GroupTable::GroupTable(const uint64_t* words, const AggConstants& k, unsigned threads)
    : t_(words), k_(k), threads_(threads) {
  const uint64_t* t = t_;
  const uint64_t S = k.slots();
  std::vector<uint64_t> count(threads + 1, 0);
  auto range_of = [&](uint64_t i) { return std::pair{S * i / threads, S * (i + 1) / threads}; };
  parallel_ranges(threads, threads, [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i)
      for (auto [s0, s1] = range_of(i); s0 < s1; ++s0) count[i + 1] += t[k.word(1, s0)] != 0;
  });
  for (unsigned i = 0; i < threads; ++i) count[i + 1] += count[i];
  const uint64_t G = count[threads];
  std::unique_ptr<uint64_t[]> occupied(new uint64_t[std::max<uint64_t>(G, 1)]);
  parallel_ranges(threads, threads, [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i) {
      uint64_t at = count[i];
      for (auto [s0, s1] = range_of(i); s0 < s1; ++s0)
        if (t[k.word(1, s0)] != 0) occupied[at++] = s0;
    }
  });
  occupied_ = std::move(occupied);
  groups_ = G;
}

// Buffers are not zero-filled first, and the output columns are sized one per thread: first touches of fresh
// pages are what a single thread spends most of its time on at millions of groups.
Result GroupTable::rows(const AggQuery& q, bool string_key, const std::vector<std::string>& dict,
                        const std::vector<ValueKind>& kind) const {
  const uint64_t G = groups_;
  Result out;
  out.columns = q.output_schema;
  parallel_ranges(out.columns.size(), threads_, [&](uint64_t b, uint64_t e) {
    for (uint64_t ci = b; ci < e; ++ci) {
      Column& c = out.columns[ci];
      c.clear_values();
      c.valid.resize(G);
      switch (c.physical()) {
        case Physical::i64: c.i64.resize(G); break;
        case Physical::i128: c.i128.resize(G); break;
        case Physical::f64: c.f64.resize(G); break;
        case Physical::str: c.str.resize(G); break;
      }
    }
  });
  // One pass per output column, so each inner loop has one shape.
  for (std::size_t oi = 0; oi < q.output.size(); ++oi) {
    if (q.output[oi] < 0) fill_key_column(out.columns[oi], q, string_key, dict);
    else fill_aggregate_column(out.columns[oi], q, static_cast<std::size_t>(q.output[oi]), kind);
  }
  return out;
}

// The key: the slot's key word in hash mode, key_base + slot in dense mode, the empty marker or NULL for the two
// special slots; VARCHAR keys decoded through the dictionary.
void GroupTable::fill_key_column(Column& col, const AggQuery& q, bool string_key,
                                 const std::vector<std::string>& dict) const {
  if (string_key ? col.physical() != Physical::str : col.physical() != Physical::i64)
    throw DataError("[PreAggregator::run]", "key column: DuckDB expects " + col.type_name(), q.sql);
  const uint64_t* t = t_;
  const AggConstants& k = k_;
  const uint64_t* occupied = occupied_.get();
  parallel_ranges(groups_, threads_, [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i) {
      const uint64_t s = occupied[i];
      const bool null_key = s == k.capacity + 1;
      const int64_t key = null_key ? 0
                          : static_cast<TableMode>(k.mode) == TableMode::dense ? k.key_base + static_cast<int64_t>(s)
                          : s == k.capacity ? kEmptyKey
                                            : static_cast<int64_t>(t[k.word(0, s)]);
      col.valid[i] = null_key ? 0 : 1;
      if (!string_key) col.i64[i] = key;
      else if (!null_key) col.str[i] = dict[static_cast<std::size_t>(key)];
    }
  });
}

// Aggregate a: its count and accumulator words turned into the value and type DuckDB gives its column.
void GroupTable::fill_aggregate_column(Column& col, const AggQuery& q, std::size_t a,
                                       const std::vector<ValueKind>& kind) const {
  const AggOp op = q.aggs[a].op;
  const bool f64 = q.aggs[a].column >= 0 && kind[static_cast<std::size_t>(q.aggs[a].column)] == ValueKind::f64;
  const bool value_is_double = op == AggOp::avg || (f64 && op != AggOp::count && op != AggOp::count_star);
  if (col.physical() == Physical::str || (col.physical() == Physical::i64 && value_is_double))
    throw DataError("[PreAggregator::run]", q.aggs[a].text + ": DuckDB expects " + col.type_name(), q.sql);
  const uint64_t* t = t_;
  const AggConstants& k = k_;
  const uint64_t* occupied = occupied_.get();
  parallel_ranges(groups_, threads_, [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i) {
      const uint64_t* slot = t + k.word(0, occupied[i]);
      const uint64_t cnt = slot[2 + 3 * a], w1 = slot[3 + 3 * a], w2 = slot[4 + 3 * a];
      const bool is_null = op != AggOp::count_star && op != AggOp::count && cnt == 0;
      int128_t iv = 0;
      double dv = 0;
      switch (op) {
        case AggOp::count_star: iv = static_cast<int128_t>(slot[1]); break;
        case AggOp::count: iv = static_cast<int128_t>(cnt); break;
        case AggOp::sum:
          if (f64) dv = bits_double(w1);
          else iv = sum128(w1, w2);
          break;
        case AggOp::min:
        case AggOp::max:
          if (f64) dv = bits_double(w1);
          else iv = static_cast<int64_t>(w1);
          break;
        case AggOp::avg:
          dv = cnt == 0 ? 0.0
                        : (f64 ? bits_double(w1) / static_cast<double>(cnt)
                               : static_cast<double>(static_cast<long double>(sum128(w1, w2)) /
                                                     static_cast<long double>(cnt)));
          break;
      }
      col.valid[i] = is_null ? 0 : 1;
      if (col.physical() == Physical::f64) {
        col.f64[i] = value_is_double ? dv : static_cast<double>(iv);
      } else if (col.physical() == Physical::i128) {
        col.i128[i] = iv;
      } else {
        if (!is_null && (iv > std::numeric_limits<int64_t>::max() || iv < std::numeric_limits<int64_t>::min()))
          throw DataError("[PreAggregator::run]", q.aggs[a].text + " overflows " + col.type_name(), q.sql);
        col.i64[i] = static_cast<int64_t>(iv);
      }
    }
  });
}

}  // namespace ut::data::detail
