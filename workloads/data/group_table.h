// GroupTable: the table the aggregation kernels filled (layout in agg_kernel.h) turned into result rows, the last
// step of PreAggregator::run (preagg.h). Internal to ut_data.
//
//   const auto* words = static_cast<const uint64_t*>(table_host.contents());  // read back after the kernels
//   ut::data::detail::GroupTable g(words, k, threads);   // finds the occupied slots, in slot order
//   st.groups = g.groups();
//   ut::data::Result r = g.rows(query, string_key, dict, kinds);  // DuckDB's output columns and types
//
// Every pass runs on `threads` slot or row ranges at once (millions of groups); a column whose type DuckDB
// gives differently from what the kernels produce throws DataError.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "workloads/data/planner.h"

namespace ut::data::detail {

class GroupTable {
 public:
  // `words` and `k` must outlive the GroupTable.
  GroupTable(const uint64_t* words, const AggConstants& k, unsigned threads);

  uint64_t groups() const noexcept { return groups_; }
  // One row per occupied slot, in slot order, in `q.output_schema`'s columns.
  Result rows(const AggQuery& q, bool string_key, const std::vector<std::string>& dict,
              const std::vector<ValueKind>& kind) const;

 private:
  void fill_key_column(Column& col, const AggQuery& q, bool string_key, const std::vector<std::string>& dict) const;
  void fill_aggregate_column(Column& col, const AggQuery& q, std::size_t a, const std::vector<ValueKind>& kind) const;

  const uint64_t* t_;
  const AggConstants& k_;
  unsigned threads_;
  std::unique_ptr<uint64_t[]> occupied_;  // the slot of each group, in slot order
  uint64_t groups_ = 0;
};

}  // namespace ut::data::detail
