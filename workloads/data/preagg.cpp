#include "workloads/data/preagg.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>

#include "timeline/clock.h"
#include "timeline/command_buffer.h"
#include "timeline/error.h"
#include "timeline/queue.h"
#include "workloads/data/group_table.h"

namespace ut::data {
namespace {

// Integer keys whose range is at most this (and at most 4x the rows) get a dense table: one slot per key, no
// probing. At 2^26 slots the table stays within a few GB, while a hash table for tens of millions of groups
// (sized from a saturated distinct-key sketch) was measured 60x slower on the H200.
constexpr uint64_t kDenseLimit = 1ull << 26;  // slots
constexpr uint64_t kSketchBits = 1ull << 20;  // linear-counting bitmap for the distinct-key estimate

double ms_since(uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e6; }

}  // namespace

// The scanned columns, in buffers of one ut::Heap (grown by reallocation when the scan outruns the hint).
struct detail::ScanBuffers {
  Device* device = nullptr;
  HeapPtr heap;
  uint64_t capacity = 0, rows = 0;
  std::size_t n_columns = 0;
  Buffer keys, key_valid;
  std::vector<Buffer> values, valid;
  // What the scan learned about the keys (merged over partitions afterwards).
  std::unordered_map<std::string, int64_t> dict_index;
  std::vector<std::string> dict;  // VARCHAR keys: code -> string, in first-seen order
  int64_t kmin = 0, kmax = 0;
  std::vector<uint64_t> sketch;   // linear-counting bitmap of hashed integer keys

  static std::size_t bytes_for(uint64_t cap, std::size_t n_columns) {
    return (cap * 9 + 512) + n_columns * (cap * 9 + 512) + 4096;
  }
  // Starts a new scan; keeps the heap when it already holds `cap` rows of `columns` columns.
  void reset(Device* dev, std::size_t columns, uint64_t cap) {
    rows = 0;
    dict_index.clear();
    dict.clear();
    kmin = std::numeric_limits<int64_t>::max();
    kmax = std::numeric_limits<int64_t>::min();
    sketch.assign(kSketchBits / 64, 0);
    if (heap && device == dev && columns <= n_columns && cap <= capacity) {
      n_columns = columns;
      values.resize(columns);
      valid.resize(columns);
      return;
    }
    device = dev;
    n_columns = columns;
    heap.reset();
    keys = key_valid = Buffer();
    values.clear();
    valid.clear();
    allocate(cap);
  }
  void allocate(uint64_t cap) {
    HeapPtr h = device->make_heap({.size = bytes_for(cap, n_columns), .mode = StorageMode::shared, .label = "H_data_scan"});
    Buffer k = h->allocate(cap * 8, 256, "keys"), kv = h->allocate(cap, 256, "key_valid");
    std::vector<Buffer> v, vv;
    for (std::size_t c = 0; c < n_columns; ++c) {
      v.push_back(h->allocate(cap * 8, 256, "values"));
      vv.push_back(h->allocate(cap, 256, "valid"));
    }
    if (rows > 0) {  // regrowth: move what was scanned so far
      std::memcpy(k.contents(), keys.contents(), rows * 8);
      std::memcpy(kv.contents(), key_valid.contents(), rows);
      for (std::size_t c = 0; c < n_columns; ++c) {
        std::memcpy(v[c].contents(), values[c].contents(), rows * 8);
        std::memcpy(vv[c].contents(), valid[c].contents(), rows);
      }
    }
    keys = k;
    key_valid = kv;
    values = std::move(v);
    valid = std::move(vv);
    heap = std::move(h);
    capacity = cap;
  }
};

// Places buffers of `sizes` bytes in `heap`, reusing it when it has room. A finished command buffer may hold
// the last run's buffers for a moment after its wait returns, so a heap without room is replaced, not waited for.
std::vector<Buffer> PreAggregator::place(HeapPtr& heap, StorageMode mode, const char* label,
                                         const std::vector<std::size_t>& sizes) {
  std::size_t total = 0;
  for (std::size_t b : sizes) total += (b + 255) / 256 * 256 + 256;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0 || !heap || heap->size() < total || heap->mode() != mode)
      heap = device_->make_heap({.size = total, .mode = mode, .label = label});
    try {
      std::vector<Buffer> out;
      for (std::size_t b : sizes) out.push_back(heap->allocate(std::max<std::size_t>(b, 1), 256, label));
      return out;
    } catch (const OutOfMemoryError&) {
      if (attempt > 0) throw;
    }
  }
}

PreAggregator::PreAggregator(DevicePtr device, QueuePtr compute_queue, PreAggOptions options)
    : device_(std::move(device)), queue_(std::move(compute_queue)), options_(options) {
  if (options_.initial_hash_capacity != 0 && !std::has_single_bit(options_.initial_hash_capacity))
    throw DataError("[PreAggregator::PreAggregator]", "initial_hash_capacity must be a power of two");
  if (!device_) throw DataError("[PreAggregator::PreAggregator]", "no device");
  register_agg_kernels();
  if (!queue_) queue_ = device_->make_queue({.kind = QueueKind::compute, .label = "Q_data_agg"});
}

namespace {

// Streams `sql` (key, then the input columns) into `sb`, chunk by chunk, gathering key statistics.
void scan_partition(Session& session, const std::string& sql, const QueryOptions& options, detail::ScanBuffers& sb,
                    bool string_key, const std::vector<ValueKind>& kind) {
  ResultStream stream = session.stream(sql, options);
  Result chunk;
  while (stream.next(chunk)) {
    const uint64_t n = chunk.rows();
    if (sb.rows + n > sb.capacity) sb.allocate(std::max(sb.capacity * 2, sb.rows + n));
    auto* keys = static_cast<int64_t*>(sb.keys.contents()) + sb.rows;
    auto* kvalid = static_cast<uint8_t*>(sb.key_valid.contents()) + sb.rows;
    const Column& kc = chunk.columns[0];
    std::memcpy(kvalid, kc.valid.data(), n);
    if (string_key) {
      for (uint64_t i = 0; i < n; ++i) {
        if (!kc.valid[i]) {
          keys[i] = 0;
          continue;
        }
        auto [it, added] = sb.dict_index.try_emplace(kc.str[i], static_cast<int64_t>(sb.dict.size()));
        if (added) sb.dict.push_back(kc.str[i]);
        keys[i] = it->second;
      }
    } else {
      for (uint64_t i = 0; i < n; ++i) {
        const int64_t k = kc.valid[i] ? kc.i64[i] : 0;
        keys[i] = k;
        if (!kc.valid[i]) continue;
        sb.kmin = std::min(sb.kmin, k);
        sb.kmax = std::max(sb.kmax, k);
        const uint64_t h = agg_hash(k) & (kSketchBits - 1);
        sb.sketch[h >> 6] |= 1ull << (h & 63);
      }
    }
    for (std::size_t c = 0; c < kind.size(); ++c) {
      const Column& vc = chunk.columns[c + 1];
      std::memcpy(static_cast<uint8_t*>(sb.valid[c].contents()) + sb.rows, vc.valid.data(), n);
      void* dst = static_cast<uint8_t*>(sb.values[c].contents()) + sb.rows * 8;
      if (kind[c] == ValueKind::f64) std::memcpy(dst, vc.f64.data(), n * 8);
      else std::memcpy(dst, vc.i64.data(), n * 8);
    }
    sb.rows += n;
  }
}

}  // namespace

// What one complete scan left for the kernels: where they read the columns, and the merged key statistics.
struct detail::ResidentColumns {
  std::string scan_key;  // the scan's SQL and partitioning
  const void* database = nullptr;
  uint64_t data_version = 0;
  std::vector<std::string> dict;  // VARCHAR keys: code -> string
  int64_t kmin = 0, kmax = 0;
  std::vector<uint64_t> sketch;
  uint64_t rows = 0;
  std::size_t heap_bytes = 0;
  std::vector<uint64_t> part_rows;
  std::vector<std::vector<Buffer>> inputs;  // per partition: keys, key_valid, (values, valid) per column
};

void PreAggregator::drop_resident_columns() { resident_.reset(); }

void PreAggregator::release_memory() {
  resident_.reset();
  columns_heap_.reset();
  table_heap_.reset();
  readback_heap_.reset();
  scans_.clear();
}

namespace {

// How the kernels read each input column (the scan's physical type): doubles or 64-bit integers.
std::vector<ValueKind> value_kinds(const AggQuery& q) {
  std::vector<ValueKind> kind(q.columns.size());
  for (std::size_t c = 0; c < kind.size(); ++c)
    kind[c] = q.scan_schema[c + 1].physical() == Physical::f64 ? ValueKind::f64 : ValueKind::i64;
  return kind;
}

using ScanParts = std::vector<std::shared_ptr<detail::ScanBuffers>>;

// Step 1 for a base table split into `parts` rowid ranges: range 0 on `session`, every other range on a fork of
// it with its own consumer thread. A failing range cancels the others; its error is rethrown, not the
// cancellations it caused.
void scan_ranges_at_once(Session& session, const AggQuery& q, const QueryOptions& options, uint64_t rows_hint,
                         unsigned parts, ScanParts& scans, bool string_key, const std::vector<ValueKind>& kind) {
  std::vector<std::string> sqls(parts);
  for (unsigned i = 0; i < parts; ++i) {
    sqls[i] = "SELECT * EXCLUDE (__ut_rowid) FROM (" + q.partition_scan_sql + ") WHERE __ut_rowid >= " +
              std::to_string(rows_hint / parts * i);
    if (i + 1 < parts) sqls[i] += " AND __ut_rowid < " + std::to_string(rows_hint / parts * (i + 1));
  }
  std::vector<Session> forks;
  for (unsigned i = 1; i < parts; ++i) forks.push_back(session.fork());
  std::vector<std::exception_ptr> errors(parts);
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < parts; ++i)
    threads.emplace_back([&, i] {
      try {
        scan_partition(forks[i - 1], sqls[i], options, *scans[i], string_key, kind);
      } catch (...) {
        errors[i] = std::current_exception();
        session.cancel();  // stop the other ranges early
      }
    });
  try {
    scan_partition(session, sqls[0], options, *scans[0], string_key, kind);
  } catch (...) {
    errors[0] = std::current_exception();
    session.cancel();
  }
  for (auto& t : threads) t.join();
  // The first real failure, not the cancellations it caused in the other ranges.
  std::exception_ptr first, first_real;
  for (auto& e : errors) {
    if (!e) continue;
    if (!first) first = e;
    try {
      std::rethrow_exception(e);
    } catch (const QueryCancelled&) {
    } catch (...) {
      if (!first_real) first_real = e;
    }
  }
  if (first_real) std::rethrow_exception(first_real);
  if (first) std::rethrow_exception(first);
}

// Merges the partitions' key statistics into `out`; VARCHAR codes are renumbered into one dictionary.
void merge_key_statistics(const ScanParts& scans, unsigned parts, bool string_key, detail::ResidentColumns& out) {
  std::unordered_map<std::string, int64_t> dict_index;
  out.kmin = std::numeric_limits<int64_t>::max();
  out.kmax = std::numeric_limits<int64_t>::min();
  out.sketch.assign(kSketchBits / 64, 0);
  for (unsigned p = 0; p < parts; ++p) {
    detail::ScanBuffers& sb = *scans[p];
    out.rows += sb.rows;
    out.heap_bytes += sb.heap->size();
    out.part_rows.push_back(sb.rows);
    if (string_key) {
      std::vector<int64_t> remap(sb.dict.size());
      for (std::size_t j = 0; j < sb.dict.size(); ++j) {
        auto [it, added] = dict_index.try_emplace(sb.dict[j], static_cast<int64_t>(out.dict.size()));
        if (added) out.dict.push_back(sb.dict[j]);
        remap[j] = it->second;
      }
      if (p > 0) {
        auto* keys = static_cast<int64_t*>(sb.keys.contents());
        const auto* kv = static_cast<const uint8_t*>(sb.key_valid.contents());
        for (uint64_t i = 0; i < sb.rows; ++i)
          if (kv[i]) keys[i] = remap[static_cast<std::size_t>(keys[i])];
      }
    } else {
      out.kmin = std::min(out.kmin, sb.kmin);
      out.kmax = std::max(out.kmax, sb.kmax);
      for (std::size_t w = 0; w < out.sketch.size(); ++w) out.sketch[w] |= sb.sketch[w];
    }
  }
}

}  // namespace

// Steps 1 and 3: scans the columns (and moves them to device storage on GPUs) into `out`.
void PreAggregator::scan_columns(Session& session, const AggQuery& q, const QueryOptions& options, uint64_t rows_hint,
                                 unsigned parts, detail::ResidentColumns& out, PreAggStats& st) {
  const uint64_t t_start = now_ns();
  const std::size_t n_cols = q.columns.size();
  const bool string_key = q.scan_schema.at(0).type == TypeId::varchar;
  const std::vector<ValueKind> kind = value_kinds(q);

  // 1. Scan: DuckDB streams key + input columns into heap buffers. A base table is split into rowid ranges
  //    scanned at once on forked sessions (one consumer thread per range), each into its own heap.
  while (scans_.size() < parts) scans_.push_back(std::make_shared<detail::ScanBuffers>());
  const uint64_t part_cap = std::max<uint64_t>(rows_hint / parts + rows_hint / (8 * parts) + 1, 1 << 16);
  for (unsigned i = 0; i < parts; ++i) scans_[i]->reset(device_.get(), n_cols, part_cap);
  if (parts == 1) scan_partition(session, q.scan_sql, options, *scans_[0], string_key, kind);
  else scan_ranges_at_once(session, q, options, rows_hint, parts, scans_, string_key, kind);
  merge_key_statistics(scans_, parts, string_key, out);
  st.scan_ms = ms_since(t_start);

  // 3. GPUs: move the columns into device storage (copy commands). The CPU backend reads the heaps in place.
  out.inputs.assign(parts, {});
  for (unsigned p = 0; p < parts; ++p) {
    const detail::ScanBuffers& sb = *scans_[p];
    out.inputs[p] = {sb.keys, sb.key_valid};
    for (std::size_t c = 0; c < n_cols; ++c) {
      out.inputs[p].push_back(sb.values[c]);
      out.inputs[p].push_back(sb.valid[c]);
    }
  }
  if (device_->caps().is_gpu && out.rows > 0) {
    const uint64_t t_move = now_ns();
    std::vector<std::size_t> sizes;
    for (unsigned p = 0; p < parts; ++p)
      for (std::size_t i = 0; i < out.inputs[p].size(); ++i) sizes.push_back((i % 2 == 0 ? 8 : 1) * out.part_rows[p]);
    std::vector<Buffer> moved = place(columns_heap_, StorageMode::device, "H_data_columns", sizes);
    auto cb = queue_->make_command_buffer("data.preagg.upload");
    std::size_t j = 0;
    for (unsigned p = 0; p < parts; ++p)
      for (std::size_t i = 0; i < out.inputs[p].size(); ++i, ++j) {
        cb.copy(out.inputs[p][i], 0, moved[j], 0, sizes[j]);
        out.inputs[p][i] = moved[j];
      }
    cb.commit();
    cb.wait_until_completed();
    st.move_ms = ms_since(t_move);
  }
}

namespace {

// Step 2: table mode and capacity. Dense where the key range (or the dictionary) is small enough, else a hash
// table sized from the distinct-key sketch.
AggConstants plan_table(const AggQuery& q, const std::vector<ValueKind>& kind, const detail::ResidentColumns& cols,
                        bool string_key, uint64_t rows, const PreAggOptions& options) {
  AggConstants k;
  k.rows = rows;
  k.n_aggs = static_cast<uint32_t>(q.aggs.size());
  k.n_columns = static_cast<uint32_t>(kind.size());
  for (std::size_t a = 0; a < q.aggs.size(); ++a) {
    k.op[a] = static_cast<uint32_t>(q.aggs[a].op);
    k.column[a] = q.aggs[a].column < 0 ? 0 : static_cast<uint32_t>(q.aggs[a].column);
  }
  for (std::size_t c = 0; c < kind.size(); ++c) k.column_kind[c] = static_cast<uint32_t>(kind[c]);
  const int64_t kmin = cols.kmin, kmax = cols.kmax;
  const bool any_key = kmin <= kmax;
  const uint128_t range = any_key ? static_cast<uint128_t>(static_cast<int128_t>(kmax) - kmin + 1) : 1;
  if (!options.force_hash && (string_key || range <= std::min<uint64_t>(kDenseLimit, 4 * rows + 1024))) {
    k.mode = static_cast<uint32_t>(TableMode::dense);
    k.capacity = string_key ? std::max<uint64_t>(cols.dict.size(), 1) : static_cast<uint64_t>(range);
    k.key_base = string_key || !any_key ? 0 : kmin;
  } else {
    uint64_t zeros = 0;
    for (uint64_t w : cols.sketch) zeros += 64 - static_cast<uint64_t>(std::popcount(w));
    const double m = static_cast<double>(kSketchBits);
    const double est = zeros == 0 ? static_cast<double>(rows) : -m * std::log(static_cast<double>(zeros) / m);
    const uint64_t want = std::min<uint64_t>(static_cast<uint64_t>(est * 2) + 1024, 2 * rows + 1024);
    k.mode = static_cast<uint32_t>(TableMode::hash);
    k.capacity = options.initial_hash_capacity ? options.initial_hash_capacity : std::bit_ceil(want);
  }
  return k;
}

}  // namespace

// Step 4: kernels on the compute queue (one aggregation dispatch per partition into the same table); a full hash
// table is regrown and the kernels rerun. Returns the table where the host reads it.
Buffer PreAggregator::run_kernels(const AggQuery& q, AggConstants& k, const detail::ResidentColumns& cols,
                                  unsigned parts, PreAggStats& st) {
  const bool gpu = device_->caps().is_gpu;
  Buffer table_host, overflow_host;
  for (;;) {
    table_host = overflow_host = Buffer();
    const std::vector<std::size_t> sizes{k.table_words() * 8, 8};
    const uint64_t t_alloc = now_ns();
    std::vector<Buffer> table = place(table_heap_, gpu ? StorageMode::device : StorageMode::shared, "H_data_groups", sizes);
    std::vector<Buffer> host = gpu ? place(readback_heap_, StorageMode::shared, "H_data_readback", sizes) : table;
    st.table_alloc_ms += ms_since(t_alloc);
    const uint64_t t_encode = now_ns();
    auto cb = queue_->make_command_buffer("data.preagg");
    for (unsigned p = 0; p < parts; ++p) {
      const std::vector<Buffer>& in = cols.inputs[p];
      std::vector<Buffer> bufs{in[0], in[1], table[0], table[1]};
      bufs.insert(bufs.end(), in.begin() + 2, in.end());
      AggConstants kp = k;
      kp.rows = cols.part_rows[p];
      if (p == 0) cb.dispatch(kAggInitKernel, Grid{k.slots()}, DispatchArgs::make(bufs, kp));
      if (kp.rows > 0) cb.dispatch(kAggRowsKernel, Grid{kp.rows}, DispatchArgs::make(bufs, kp));
    }
    if (gpu) cb.copy(table[0], 0, host[0], 0, sizes[0]).copy(table[1], 0, host[1], 0, sizes[1]);
    cb.commit();
    st.encode_ms = ms_since(t_encode);
    cb.wait_until_completed();
    const uint64_t woke = now_ns();
    const CommandBufferTimes times = cb.times();
    st.wake_ms = static_cast<double>(woke - std::min(woke, times.end_ns)) / 1e6;
    st.queue_wait_ms = static_cast<double>(times.start_ns - times.committed_ns) / 1e6;
    st.gpu_ms = static_cast<double>(times.end_ns - times.start_ns) / 1e6;
    table_host = host[0];
    overflow_host = host[1];
    if (static_cast<const uint64_t*>(overflow_host.contents())[0] == 0) return table_host;
    if (static_cast<TableMode>(k.mode) != TableMode::hash)
      throw DataError("[PreAggregator::run]", "dense table overflowed (internal error)", q.sql);
    k.capacity *= 4;
    ++st.retries;
  }
}

Result PreAggregator::run(Session& session, const AggQuery& q, PreAggStats* stats_out, const QueryOptions& options,
                          uint64_t rows_hint) {
  PreAggStats st;
  const uint64_t t_start = now_ns();
  const uint64_t version = session.data_version();  // before the scan: a write committed during it changes this
  const bool string_key = q.scan_schema.at(0).type == TypeId::varchar;
  const std::vector<ValueKind> kind = value_kinds(q);

  unsigned parts = 1;
  if (!q.partition_scan_sql.empty() && rows_hint >= options_.parallel_scan_min_rows) {
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    parts = std::clamp(options_.scan_threads ? options_.scan_threads : hw, 1u, 64u);
  }
  const std::string scan_key = (parts > 1 ? q.partition_scan_sql : q.scan_sql) + "\n-- ranges " +
                               std::to_string(parts) + " of " + std::to_string(rows_hint) + " rows";
  std::shared_ptr<detail::ResidentColumns> cols = resident_;
  if (cols && options_.keep_columns && cols->scan_key == scan_key && cols->database == session.database_id() &&
      cols->data_version == version) {
    st.columns_resident = true;
  } else {
    resident_.reset();  // its buffers are about to be overwritten
    cols = std::make_shared<detail::ResidentColumns>();
    cols->scan_key = scan_key;
    cols->database = session.database_id();
    cols->data_version = version;
    scan_columns(session, q, options, rows_hint, parts, *cols, st);
    if (options_.keep_columns) resident_ = cols;
  }
  st.rows = cols->rows;
  st.heap_bytes = cols->heap_bytes;
  st.scan_partitions = parts;

  AggConstants k = plan_table(q, kind, *cols, string_key, st.rows, options_);
  const uint64_t t_kernel = now_ns();
  const Buffer table_host = run_kernels(q, k, *cols, parts, st);
  st.kernel_ms = ms_since(t_kernel);
  st.mode = static_cast<TableMode>(k.mode) == TableMode::dense ? "dense" : "hash";
  st.capacity = k.capacity;

  // 5. Occupied slots -> rows, in DuckDB's output columns and types (group_table.h); slot ranges on all cores
  //    for big tables.
  const uint64_t t_fin = now_ns();
  const uint64_t S = k.slots();
  const unsigned threads = S < (1u << 18) ? 1u
                           : options_.finalize_threads ? options_.finalize_threads
                                                       : std::max(1u, std::thread::hardware_concurrency());
  const detail::GroupTable groups(static_cast<const uint64_t*>(table_host.contents()), k, threads);
  st.groups = groups.groups();
  Result out = groups.rows(q, string_key, cols->dict, kind);
  st.finalize_ms = ms_since(t_fin);
  st.total_ms = ms_since(t_start);
  if (stats_out) *stats_out = st;
  return out;
}

}  // namespace ut::data
