// ColumnSource: how one DuckDB result column becomes a Column (result.h): the type mapping, and the copy of each
// chunk's vector into the column's values. Internal to ut_data: database.cpp uses it for ResultStream and
// Session::describe, keeping the C API's value layouts out of the connection and statement code.
//
//   ut::data::detail::ColumnSource src;
//   ut::data::Column c = ut::data::detail::make_column(name, logical_type, src, sql);  // DataError: type not converted
//   ut::data::detail::append_vector(c, src, duckdb_data_chunk_get_vector(chunk, i), duckdb_data_chunk_get_size(chunk));
#pragma once

#include <duckdb.h>

#include <string>
#include <vector>

#include "workloads/data/result.h"

namespace ut::data::detail {

// How a result column's values are read out of a DuckDB vector.
struct ColumnSource {
  duckdb_type type = DUCKDB_TYPE_INVALID;
  duckdb_type internal = DUCKDB_TYPE_INVALID;  // DECIMAL / ENUM storage
  std::vector<std::string> dictionary;         // ENUM values
};

// The Column (name, type, DECIMAL width and scale) for a result column of logical type `lt`; fills `src`.
// Throws DataError naming the column for a DuckDB type ut::data does not convert (CAST it in SQL).
Column make_column(const char* name, duckdb_logical_type lt, ColumnSource& src, const std::string& sql);
// Appends the n values of `vec` (and their NULL flags) to `c`.
void append_vector(Column& c, const ColumnSource& src, duckdb_vector vec, idx_t n);

}  // namespace ut::data::detail
