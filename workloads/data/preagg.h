// PreAggregator: runs a recognized GROUP BY (planner.h) as DuckDB scan -> ut::Heap buffers -> kernels -> groups.
//
//   auto dev = ut::Device::create({.backend = "cpu"});
//   ut::data::PreAggregator agg(dev);                        // makes its compute queue "Q_data_agg"
//   auto q = ut::data::recognize_aggregation(session, sql, &why);
//   ut::data::PreAggStats st;
//   ut::data::Result r = agg.run(session, *q, &st);           // same columns as DuckDB's own answer
//   // st.scan_ms (DuckDB streams the columns into the heap), st.kernel_ms, st.finalize_ms, st.mode ...
//
// Steps: (1) DuckDB runs AggQuery::scan_sql (a base table: rowid ranges at once on forked sessions, one thread
// each, when the row estimate passes PreAggOptions::parallel_scan_min_rows); each chunk is copied into heap buffers (integer keys as int64 with
// their min/max and a distinct-count sketch; VARCHAR keys dictionary-encoded); (2) the table mode is chosen:
// dense (key range or dictionary <= 2^20 slots) or hash (power-of-two capacity from the sketch); (3)
// data.agg_init and data.agg_rows are dispatched on the compute queue of the device's backend; a full hash
// table (rows that found no slot) is retried at 4x capacity; (4) occupied slots become the result's rows.
// On a GPU device the columns are copied into device storage first and the table lives in device storage,
// copied back for step 4; on the CPU backend everything stays in the shared heap (zero-copy).
// Resident columns: the last scan's columns stay in their buffers (device storage on GPUs, the shared heap on the
// CPU backend). A later query with the same scan (same key, input columns, FROM and WHERE) on an unchanged
// database (Session::data_version) skips steps (1) and the copy to the device: only the kernels and the
// read-back run. drop_resident_columns() forgets them, release_memory() frees every buffer (memory pressure);
// PreAggOptions::keep_columns = false turns this off.
// Step (4) runs on all cores for large tables (millions of groups).
// Thread-safety: one run() at a time per PreAggregator (the heap is reused); the device may be shared.
// Consistency: each rowid range is scanned in its own (read-only) transaction, so a writer committing while a
// partitioned scan runs can be seen by some ranges and not others; use one scan (scan_threads = 1) under writes.
#pragma once

#include <cstdint>
#include <string>

#include "timeline/device.h"
#include "workloads/data/planner.h"

namespace ut::data {

namespace detail {
struct ScanBuffers;
struct ResidentColumns;
}

struct PreAggStats {
  uint64_t rows = 0, groups = 0;
  std::string mode;           // "dense" or "hash"
  uint64_t capacity = 0;      // table slots (excluding the two special ones)
  int retries = 0;            // hash-table regrowths
  unsigned scan_partitions = 1;  // rowid ranges scanned at once
  std::size_t heap_bytes = 0;
  double scan_ms = 0;      // DuckDB scan + copy into the shared heap (+ dictionary encoding, key statistics)
  double move_ms = 0;      // GPUs: shared heap -> device storage (copy commands); 0 on the CPU backend (zero-copy)
  double kernel_ms = 0;    // init + aggregation kernels, table readback, regrowths
  double table_alloc_ms = 0;  // of kernel_ms: placing the group table and its read-back buffer
  double queue_wait_ms = 0;   // of kernel_ms: committed -> started on the queue (last attempt)
  double gpu_ms = 0;          // of kernel_ms: started -> completed on the queue (last attempt)
  double wake_ms = 0;         // of kernel_ms: completed -> this thread woke from the wait (last attempt)
  double encode_ms = 0;       // of kernel_ms: recording and committing the command buffer (last attempt)
  double finalize_ms = 0;  // occupied slots -> result rows
  double total_ms = 0;
  bool columns_resident = false;  // the scan was skipped: the columns of an identical earlier scan were reused
};

struct PreAggOptions {
  bool force_hash = false;            // hash table even when a dense one fits (tests, benchmarks)
  uint64_t initial_hash_capacity = 0; // 0: from the distinct-key sketch; else a power of two (tests regrowth)
  unsigned scan_threads = 0;          // base tables: rowid ranges scanned at once; 0 = hardware threads
  uint64_t parallel_scan_min_rows = 1'000'000;  // below this (the planner's row estimate) one scan
  bool keep_columns = true;           // reuse the last scan's columns while the database is unchanged
  unsigned finalize_threads = 0;      // step (4) for large tables; 0 = hardware threads
};

class PreAggregator {
 public:
  explicit PreAggregator(DevicePtr device, QueuePtr compute_queue = nullptr, PreAggOptions options = {});

  // rows_hint sizes the heap up front (it grows if the scan returns more).
  Result run(Session& session, const AggQuery& query, PreAggStats* stats = nullptr, const QueryOptions& options = {},
             uint64_t rows_hint = 0);

  // Forgets the resident columns: the next run() scans again (into the same buffers). Not during a run().
  void drop_resident_columns();
  // Frees every buffer (resident columns, scan heaps, tables): memory pressure. Not during a run().
  void release_memory();

  const std::string& backend() const noexcept { return device_->backend_name(); }
  Device& device() noexcept { return *device_; }

 private:
  DevicePtr device_;
  QueuePtr queue_;
  PreAggOptions options_;
  std::vector<Buffer> place(HeapPtr& heap, StorageMode mode, const char* label, const std::vector<std::size_t>& sizes);
  void scan_columns(Session& session, const AggQuery& q, const QueryOptions& options, uint64_t rows_hint,
                    unsigned parts, detail::ResidentColumns& out, PreAggStats& st);
  Buffer run_kernels(const AggQuery& q, AggConstants& k, const detail::ResidentColumns& cols, unsigned parts,
                     PreAggStats& st);

  std::vector<std::shared_ptr<detail::ScanBuffers>> scans_;  // one per scan partition, reused between runs
  HeapPtr columns_heap_, table_heap_, readback_heap_;
  std::shared_ptr<detail::ResidentColumns> resident_;  // what the last complete scan left, or null
};

}  // namespace ut::data
