// Result: a columnar query result with DuckDB's column names, types and NULLs.
//
//   ut::data::Result r = session.query("SELECT name, installed_size FROM debian_packages LIMIT 3");
//   for (std::size_t i = 0; i < r.rows(); ++i)
//     std::cout << r.column(0).text(i) << " " << (r.column(1).is_null(i) ? -1 : r.column(1).i64[i]) << "\n";
//   std::cout << r.to_table();           // aligned, psql-like text (display width: "名前" is 4 columns wide)
//   std::cout << r.to_csv();             // RFC 4180; also to_json() (array of objects) and to_markdown()
//   const ut::data::Column& c = r.column("installed_size");
//
// Storage: each column keeps one physical array chosen from its DuckDB type (see Physical below) plus a
// validity byte per row (1 = value, 0 = NULL). Types the adapter does not convert (LIST, STRUCT, BLOB, ...)
// raise DataError naming the column; CAST them to VARCHAR in SQL.
// Thread-safety: a Result is a plain value; share it read-only or copy it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "timeline/error.h"

namespace ut::data {

__extension__ typedef __int128 int128_t;  // DuckDB HUGEINT (SUM of integers), DECIMAL storage
__extension__ typedef unsigned __int128 uint128_t;

// An error from DuckDB or from this adapter. what() = "[Class::method] message; SQL: <sql>".
class DataError : public ut::Error {
 public:
  DataError(const std::string& context, const std::string& message, std::string sql = {}, int duckdb_error_type = -1);
  const std::string& message() const noexcept { return message_; }  // DuckDB's own message, unchanged
  const std::string& sql() const noexcept { return sql_; }
  int duckdb_error_type() const noexcept { return type_; }           // duckdb_error_type, -1 if not DuckDB's

 private:
  std::string message_, sql_;
  int type_;
};

// The query was cancelled through Session::cancel() / duckdb_interrupt.
class QueryCancelled : public DataError {
 public:
  using DataError::DataError;
};

// The query ran past QueryOptions::timeout and was interrupted.
class QueryTimeout : public DataError {
 public:
  using DataError::DataError;
};

enum class TypeId { boolean, int8, int16, int32, int64, uint8, uint16, uint32, uint64, int128, float32, float64,
                    decimal, varchar, date, timestamp, timestamp_tz };
enum class Physical { i64, i128, f64, str };

const char* to_string(TypeId t) noexcept;
Physical physical_of(TypeId t) noexcept;
bool is_integer(TypeId t) noexcept;  // int8..uint64, int128

struct Column {
  std::string name;
  TypeId type = TypeId::int64;
  uint8_t decimal_width = 0, decimal_scale = 0;  // DECIMAL only (value = i128 / 10^scale)
  std::vector<int64_t> i64;    // boolean, int8..uint32, date (days), timestamps (microseconds)
  std::vector<int128_t> i128;  // uint64, int128, decimal
  std::vector<double> f64;     // float32, float64
  std::vector<std::string> str;
  std::vector<uint8_t> valid;  // one per row

  Physical physical() const noexcept { return physical_of(type); }
  std::size_t size() const noexcept { return valid.size(); }
  bool is_null(std::size_t row) const { return valid.at(row) == 0; }
  std::string type_name() const;            // "BIGINT", "DECIMAL(18,2)", ...
  std::string text(std::size_t row) const;  // value as DuckDB would print it; "NULL" for NULL
  double as_double(std::size_t row) const;  // numeric columns; throws DataError otherwise
  void reserve(std::size_t n);
  void clear_values();
  // Appends row `row` of `other` (same type).
  void append_from(const Column& other, std::size_t row);
};

class Result {
 public:
  std::vector<Column> columns;

  std::size_t rows() const noexcept { return columns.empty() ? 0 : columns[0].size(); }
  std::size_t column_count() const noexcept { return columns.size(); }
  const Column& column(std::size_t i) const { return columns.at(i); }
  const Column& column(const std::string& name) const;  // throws DataError if absent
  // Aligned text table; at most max_rows rows (then "... N more rows"). Columns are aligned by display width
  // (terminal columns: CJK characters take two, combining marks none), so non-ASCII text lines up.
  std::string to_table(std::size_t max_rows = 100) const;
  // The formats of DuckDB's CLI modes, every row unless max_rows is given, no row count or other trailer:
  // csv: RFC 4180 (header of column names, CRLF line ends, fields with ',', '"', CR or LF quoted, '"' doubled;
  // NULL is an empty field). json: an array of objects, one per row, with typed values (numbers, booleans, null;
  // dates, timestamps and text as strings; NaN and infinities as null; bytes that are not UTF-8 as U+FFFD).
  // markdown: a GitHub pipe table, numbers right-aligned, '|' escaped, line breaks as spaces.
  std::string to_csv(std::size_t max_rows = SIZE_MAX) const;
  std::string to_json(std::size_t max_rows = SIZE_MAX) const;
  std::string to_markdown(std::size_t max_rows = SIZE_MAX) const;
  // Appends every row of `chunk` (same columns).
  void append(const Result& chunk);
};

std::string int128_to_string(int128_t v);

// Terminal columns the UTF-8 text takes (East Asian wide and fullwidth characters 2, combining marks and
// zero-width characters 0, others 1); bytes that are not UTF-8 count 1 each.
std::size_t display_width(std::string_view utf8);

}  // namespace ut::data
