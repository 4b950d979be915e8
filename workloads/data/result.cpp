#include "workloads/data/result.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace ut::data {

DataError::DataError(const std::string& context, const std::string& message, std::string sql, int duckdb_error_type)
    : ut::Error(context + " " + message + (sql.empty() ? std::string() : "; SQL: " + sql)),
      message_(message),
      sql_(std::move(sql)),
      type_(duckdb_error_type) {}

const char* to_string(TypeId t) noexcept {
  switch (t) {
    case TypeId::boolean: return "BOOLEAN";
    case TypeId::int8: return "TINYINT";
    case TypeId::int16: return "SMALLINT";
    case TypeId::int32: return "INTEGER";
    case TypeId::int64: return "BIGINT";
    case TypeId::uint8: return "UTINYINT";
    case TypeId::uint16: return "USMALLINT";
    case TypeId::uint32: return "UINTEGER";
    case TypeId::uint64: return "UBIGINT";
    case TypeId::int128: return "HUGEINT";
    case TypeId::float32: return "FLOAT";
    case TypeId::float64: return "DOUBLE";
    case TypeId::decimal: return "DECIMAL";
    case TypeId::varchar: return "VARCHAR";
    case TypeId::date: return "DATE";
    case TypeId::timestamp: return "TIMESTAMP";
    case TypeId::timestamp_tz: return "TIMESTAMP WITH TIME ZONE";
  }
  return "?";
}

Physical physical_of(TypeId t) noexcept {
  switch (t) {
    case TypeId::uint64:
    case TypeId::int128:
    case TypeId::decimal: return Physical::i128;
    case TypeId::float32:
    case TypeId::float64: return Physical::f64;
    case TypeId::varchar: return Physical::str;
    default: return Physical::i64;
  }
}

bool is_integer(TypeId t) noexcept {
  switch (t) {
    case TypeId::int8: case TypeId::int16: case TypeId::int32: case TypeId::int64:
    case TypeId::uint8: case TypeId::uint16: case TypeId::uint32: case TypeId::uint64:
    case TypeId::int128: return true;
    default: return false;
  }
}

std::string int128_to_string(int128_t v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  // Work on the unsigned magnitude so INT128_MIN does not overflow.
  uint128_t u = neg ? static_cast<uint128_t>(-(v + 1)) + 1 : static_cast<uint128_t>(v);
  std::string s;
  while (u != 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (neg) s.push_back('-');
  std::reverse(s.begin(), s.end());
  return s;
}

namespace {

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

std::string date_text(int64_t days) {
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02u", y, m, d);
  return buf;
}

std::string double_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Prefer the shortest representation that round-trips.
  for (int p = 1; p <= 17; ++p) {
    char t[40];
    std::snprintf(t, sizeof t, "%.*g", p, v);
    if (std::strtod(t, nullptr) == v) return t;
  }
  return buf;
}

}  // namespace

std::string Column::type_name() const {
  if (type == TypeId::decimal)
    return "DECIMAL(" + std::to_string(decimal_width) + "," + std::to_string(decimal_scale) + ")";
  return to_string(type);
}

std::string Column::text(std::size_t row) const {
  if (is_null(row)) return "NULL";
  switch (type) {
    case TypeId::boolean: return i64[row] ? "true" : "false";
    case TypeId::float32:
    case TypeId::float64: return double_text(f64[row]);
    case TypeId::varchar: return str[row];
    case TypeId::date: return date_text(i64[row]);
    case TypeId::timestamp:
    case TypeId::timestamp_tz: {
      const int64_t us = i64[row];
      const int64_t day = (us >= 0 ? us : us - 86399999999) / 86400000000;
      const int64_t rem = us - day * 86400000000;
      char buf[40];
      std::snprintf(buf, sizeof buf, " %02" PRId64 ":%02" PRId64 ":%02" PRId64, rem / 3600000000,
                    rem / 60000000 % 60, rem / 1000000 % 60);
      std::string s = date_text(day) + buf;
      if (rem % 1000000 != 0) {
        std::snprintf(buf, sizeof buf, ".%06" PRId64, rem % 1000000);
        s += buf;
        while (s.back() == '0') s.pop_back();
      }
      return type == TypeId::timestamp_tz ? s + "+00" : s;
    }
    case TypeId::decimal: {
      const int128_t v = i128[row];
      std::string digits = int128_to_string(v < 0 ? -v : v);
      if (decimal_scale > 0) {
        if (digits.size() <= decimal_scale) digits.insert(0, decimal_scale - digits.size() + 1, '0');
        digits.insert(digits.size() - decimal_scale, ".");
      }
      return v < 0 ? "-" + digits : digits;
    }
    default: break;
  }
  if (physical() == Physical::i128) return int128_to_string(i128[row]);
  return std::to_string(i64[row]);
}

double Column::as_double(std::size_t row) const {
  switch (physical()) {
    case Physical::i64: return static_cast<double>(i64[row]);
    case Physical::f64: return f64[row];
    case Physical::i128: {
      const double v = static_cast<double>(i128[row]);
      return type == TypeId::decimal ? v / std::pow(10.0, decimal_scale) : v;
    }
    case Physical::str: break;
  }
  throw DataError("[Column::as_double]", "column '" + name + "' (" + type_name() + ") is not numeric");
}

void Column::reserve(std::size_t n) {
  valid.reserve(n);
  switch (physical()) {
    case Physical::i64: i64.reserve(n); break;
    case Physical::i128: i128.reserve(n); break;
    case Physical::f64: f64.reserve(n); break;
    case Physical::str: str.reserve(n); break;
  }
}

void Column::clear_values() {
  i64.clear();
  i128.clear();
  f64.clear();
  str.clear();
  valid.clear();
}

void Column::append_from(const Column& o, std::size_t row) {
  valid.push_back(o.valid[row]);
  switch (physical()) {
    case Physical::i64: i64.push_back(o.i64[row]); break;
    case Physical::i128: i128.push_back(o.i128[row]); break;
    case Physical::f64: f64.push_back(o.f64[row]); break;
    case Physical::str: str.push_back(o.str[row]); break;
  }
}

const Column& Result::column(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return c;
  throw DataError("[Result::column]", "no column named '" + name + "'");
}

void Result::append(const Result& chunk) {
  if (columns.empty()) {
    columns = chunk.columns;
    return;
  }
  if (chunk.columns.size() != columns.size())
    throw DataError("[Result::append]", "chunk has " + std::to_string(chunk.columns.size()) + " columns, result " +
                                            std::to_string(columns.size()));
  for (std::size_t c = 0; c < columns.size(); ++c) {
    Column& dst = columns[c];
    const Column& src = chunk.columns[c];
    dst.valid.insert(dst.valid.end(), src.valid.begin(), src.valid.end());
    dst.i64.insert(dst.i64.end(), src.i64.begin(), src.i64.end());
    dst.i128.insert(dst.i128.end(), src.i128.begin(), src.i128.end());
    dst.f64.insert(dst.f64.end(), src.f64.begin(), src.f64.end());
    dst.str.insert(dst.str.end(), src.str.begin(), src.str.end());
  }
}

std::string Result::to_table(std::size_t max_rows) const {
  if (columns.empty()) return "(no columns)\n";
  const std::size_t shown = std::min(rows(), max_rows);
  std::vector<std::vector<std::string>> cells(columns.size());
  std::vector<std::size_t> width(columns.size());
  std::vector<bool> right(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const Column& col = columns[c];
    right[c] = col.physical() != Physical::str && col.type != TypeId::boolean;
    width[c] = std::max(col.name.size(), col.type_name().size());
    cells[c].reserve(shown);
    for (std::size_t r = 0; r < shown; ++r) {
      std::string t = col.text(r);
      for (char& ch : t)
        if (ch == '\n' || ch == '\t') ch = ' ';
      if (t.size() > 60) t = t.substr(0, 57) + "...";
      width[c] = std::max(width[c], t.size());
      cells[c].push_back(std::move(t));
    }
  }
  auto pad = [](const std::string& s, std::size_t w, bool r) {
    const std::string fill(w > s.size() ? w - s.size() : 0, ' ');
    return r ? fill + s : s + fill;
  };
  std::string out;
  auto rule = [&] {
    for (std::size_t c = 0; c < columns.size(); ++c) out += (c ? "-+-" : "") + std::string(width[c], '-');
    out += '\n';
  };
  for (std::size_t c = 0; c < columns.size(); ++c) out += (c ? " | " : "") + pad(columns[c].name, width[c], false);
  out += '\n';
  for (std::size_t c = 0; c < columns.size(); ++c) out += (c ? " | " : "") + pad(columns[c].type_name(), width[c], false);
  out += '\n';
  rule();
  for (std::size_t r = 0; r < shown; ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) out += (c ? " | " : "") + pad(cells[c][r], width[c], right[c]);
    out += '\n';
  }
  if (rows() > shown) out += "... " + std::to_string(rows() - shown) + " more rows\n";
  out += "(" + std::to_string(rows()) + (rows() == 1 ? " row)\n" : " rows)\n");
  return out;
}

}  // namespace ut::data
