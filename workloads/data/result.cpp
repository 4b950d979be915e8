#include "workloads/data/result.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <functional>
#include <initializer_list>

namespace ut::data {

namespace {
// The statement as the message quotes it: one line, at most 200 characters (a generated INSERT of a whole
// document would bury the error); sql() keeps it whole.
std::string quoted_sql(const std::string& sql) {
  if (sql.empty()) return {};
  constexpr std::size_t kMax = 200;
  std::string q = sql.substr(0, kMax);
  for (char& c : q)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (sql.size() > kMax) q += "... (" + std::to_string(sql.size() - kMax) + " more characters)";
  return "; SQL: " + q;
}
}  // namespace

DataError::DataError(const std::string& context, const std::string& message, std::string sql, int duckdb_error_type)
    : ut::Error(context + " " + message + quoted_sql(sql)),
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

namespace {

// The code point at s[i] (i advances past it); invalid UTF-8 (overlong, surrogate, cut short) gives one byte
// and valid = false.
char32_t next_code_point(std::string_view s, std::size_t& i, bool& valid) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  valid = true;
  if (c < 0x80) {
    ++i;
    return c;
  }
  // Continuation bytes after a lead byte: C2..DF one, E0..EF two, F0..F4 three; any other byte leads nothing.
  const std::size_t n = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
  char32_t cp = c & (n == 1 ? 0x1F : n == 2 ? 0x0F : 0x07);
  bool ok = n > 0 && i + n < s.size();
  for (std::size_t k = 1; ok && k <= n; ++k) {
    ok = (byte(i + k) & 0xC0) == 0x80;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  const char32_t least = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;  // shorter forms are overlong
  if (!ok || cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    valid = false;
    ++i;
    return 0xFFFD;
  }
  i += n + 1;
  return cp;
}

bool in_ranges(char32_t c, std::initializer_list<std::pair<char32_t, char32_t>> ranges) {
  for (auto [lo, hi] : ranges)
    if (c >= lo && c <= hi) return true;
  return false;
}

// Terminal columns of one code point: Markus Kuhn's wcwidth rule, shortened (Unicode East Asian Width W/F).
int code_point_width(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c < 0xA0)) return 0;
  if (in_ranges(c, {{0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F},
                    {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
                    {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF}}))
    return 0;
  if (in_ranges(c, {{0x1100, 0x115F}, {0x2329, 0x232A}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF},
                    {0x4E00, 0x9FFF}, {0xA000, 0xA4CF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE10, 0xFE19},
                    {0xFE30, 0xFE6F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF},
                    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}}))
    return 2;
  return 1;
}

// A cell as the text formats show it: one line, at most max_cols columns (cut at a character, then "...").
std::string cell_text(const Column& col, std::size_t row, std::size_t max_cols) {
  std::string t = col.text(row);
  for (char& ch : t)
    if (ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
  if (display_width(t) <= max_cols) return t;
  std::size_t i = 0, cols = 0, cut = 0;
  bool valid = true;
  while (i < t.size()) {
    const char32_t c = next_code_point(t, i, valid);
    cols += valid ? static_cast<std::size_t>(code_point_width(c)) : 1;
    if (cols > max_cols - 3) break;
    cut = i;
  }
  return t.substr(0, cut) + "...";
}

std::string pad(const std::string& s, std::size_t width, bool right) {
  const std::size_t w = display_width(s);
  const std::string fill(width > w ? width - w : 0, ' ');
  return right ? fill + s : s + fill;
}

bool right_aligned(const Column& c) { return c.physical() != Physical::str && c.type != TypeId::boolean; }

// Cells of the first `shown` rows, one line each, and each column's width (names and, with types, type names).
struct Grid {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> width;
};

Grid grid(const std::vector<Column>& columns, std::size_t shown, bool with_types, std::size_t max_cols,
          const std::function<std::string(std::string)>& escape) {
  Grid g{std::vector<std::vector<std::string>>(columns.size()), std::vector<std::size_t>(columns.size())};
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const Column& col = columns[c];
    g.width[c] = std::max({display_width(escape(col.name)), with_types ? display_width(col.type_name()) : 0,
                           std::size_t{3}});
    g.cells[c].reserve(shown);
    for (std::size_t r = 0; r < shown; ++r) {
      std::string t = escape(cell_text(col, r, max_cols));
      g.width[c] = std::max(g.width[c], display_width(t));
      g.cells[c].push_back(std::move(t));
    }
  }
  return g;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t i = 0;
  bool valid = true;
  while (i < s.size()) {
    const std::size_t at = i;
    const char32_t c = next_code_point(s, i, valid);
    if (!valid) {
      out += "\\ufffd";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out.append(s.substr(at, i - at));
    }
  }
  out += '"';
}

}  // namespace

std::size_t display_width(std::string_view s) {
  std::size_t i = 0, w = 0;
  bool valid = true;
  while (i < s.size()) {
    const char32_t c = next_code_point(s, i, valid);
    w += valid ? static_cast<std::size_t>(code_point_width(c)) : 1;
  }
  return w;
}

std::string Result::to_table(std::size_t max_rows) const {
  if (columns.empty()) return "(no columns)\n";
  const std::size_t shown = std::min(rows(), max_rows);
  const Grid g = grid(columns, shown, /*with_types=*/true, 60, [](std::string t) { return t; });
  std::string out;
  auto line = [&](auto&& text_of, auto&& right_of) {
    for (std::size_t c = 0; c < columns.size(); ++c) out += (c ? " | " : "") + pad(text_of(c), g.width[c], right_of(c));
    out += '\n';
  };
  const auto left = [](std::size_t) { return false; };
  line([&](std::size_t c) { return columns[c].name; }, left);
  line([&](std::size_t c) { return columns[c].type_name(); }, left);
  for (std::size_t c = 0; c < columns.size(); ++c) out += (c ? "-+-" : "") + std::string(g.width[c], '-');
  out += '\n';
  for (std::size_t r = 0; r < shown; ++r)
    line([&](std::size_t c) { return g.cells[c][r]; }, [&](std::size_t c) { return right_aligned(columns[c]); });
  if (rows() > shown) out += "... " + std::to_string(rows() - shown) + " more rows\n";
  out += "(" + std::to_string(rows()) + (rows() == 1 ? " row)\n" : " rows)\n");
  return out;
}

std::string Result::to_markdown(std::size_t max_rows) const {
  if (columns.empty()) return {};
  const std::size_t shown = std::min(rows(), max_rows);
  const auto escape = [](std::string t) {
    std::string e;
    for (char ch : t) e += ch == '|' ? std::string("\\|") : std::string(1, ch);
    return e;
  };
  const Grid g = grid(columns, shown, /*with_types=*/false, SIZE_MAX / 2, escape);
  std::string out = "|";
  for (std::size_t c = 0; c < columns.size(); ++c) out += " " + pad(escape(columns[c].name), g.width[c], false) + " |";
  out += "\n|";
  for (std::size_t c = 0; c < columns.size(); ++c)
    out += right_aligned(columns[c]) ? std::string(g.width[c] + 1, '-') + ":|" : std::string(g.width[c] + 2, '-') + "|";
  out += '\n';
  for (std::size_t r = 0; r < shown; ++r) {
    out += "|";
    for (std::size_t c = 0; c < columns.size(); ++c)
      out += " " + pad(g.cells[c][r], g.width[c], right_aligned(columns[c])) + " |";
    out += '\n';
  }
  return out;
}

std::string Result::to_csv(std::size_t max_rows) const {
  const auto field = [](const std::string& v, bool quote_empty) {
    if (v.find_first_of(",\"\r\n") == std::string::npos && !(quote_empty && v.empty())) return v;
    std::string q = "\"";
    for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  std::string out;
  for (std::size_t c = 0; c < columns.size(); ++c) out += (c ? "," : "") + field(columns[c].name, true);
  out += "\r\n";
  const std::size_t shown = std::min(rows(), max_rows);
  for (std::size_t r = 0; r < shown; ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const Column& col = columns[c];
      // NULL is an empty field; an empty string is "" (quoted), so the two stay apart.
      out += (c ? "," : "") + (col.is_null(r) ? std::string() : field(col.text(r), true));
    }
    out += "\r\n";
  }
  return out;
}

std::string Result::to_json(std::size_t max_rows) const {
  const std::size_t shown = std::min(rows(), max_rows);
  std::string out = "[";
  for (std::size_t r = 0; r < shown; ++r) {
    out += r ? ",\n{" : "\n{";
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const Column& col = columns[c];
      if (c) out += ",";
      append_json_string(out, col.name);
      out += ":";
      if (col.is_null(r)) {
        out += "null";
      } else if (col.type == TypeId::boolean) {
        out += col.i64[r] ? "true" : "false";
      } else if (col.physical() == Physical::f64) {
        out += std::isfinite(col.f64[r]) ? col.text(r) : "null";
      } else if (is_integer(col.type) || col.type == TypeId::decimal) {
        out += col.text(r);  // digits (and a point): a JSON number of any size
      } else {
        append_json_string(out, col.text(r));
      }
    }
    out += "}";
  }
  out += shown ? "\n]\n" : "]\n";
  return out;
}

}  // namespace ut::data
