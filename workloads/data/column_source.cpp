// DuckDB vectors -> Column values (column_source.h).
#include "workloads/data/column_source.h"

namespace ut::data::detail {
namespace {

template <class T>
void push_ints(Column& c, const void* data, idx_t n) {
  const T* v = static_cast<const T*>(data);
  for (idx_t i = 0; i < n; ++i) c.i64.push_back(static_cast<int64_t>(v[i]));
}

}  // namespace

Column make_column(const char* name, duckdb_logical_type lt, ColumnSource& src, const std::string& sql) {
  Column c;
  c.name = name ? name : "";
  src.type = duckdb_get_type_id(lt);
  switch (src.type) {
    case DUCKDB_TYPE_BOOLEAN: c.type = TypeId::boolean; break;
    case DUCKDB_TYPE_TINYINT: c.type = TypeId::int8; break;
    case DUCKDB_TYPE_SMALLINT: c.type = TypeId::int16; break;
    case DUCKDB_TYPE_INTEGER: c.type = TypeId::int32; break;
    case DUCKDB_TYPE_BIGINT: c.type = TypeId::int64; break;
    case DUCKDB_TYPE_UTINYINT: c.type = TypeId::uint8; break;
    case DUCKDB_TYPE_USMALLINT: c.type = TypeId::uint16; break;
    case DUCKDB_TYPE_UINTEGER: c.type = TypeId::uint32; break;
    case DUCKDB_TYPE_UBIGINT: c.type = TypeId::uint64; break;
    case DUCKDB_TYPE_HUGEINT: c.type = TypeId::int128; break;
    case DUCKDB_TYPE_FLOAT: c.type = TypeId::float32; break;
    case DUCKDB_TYPE_DOUBLE: c.type = TypeId::float64; break;
    case DUCKDB_TYPE_VARCHAR: c.type = TypeId::varchar; break;
    case DUCKDB_TYPE_DATE: c.type = TypeId::date; break;
    case DUCKDB_TYPE_TIMESTAMP: c.type = TypeId::timestamp; break;
    case DUCKDB_TYPE_TIMESTAMP_TZ: c.type = TypeId::timestamp_tz; break;
    case DUCKDB_TYPE_DECIMAL:
      c.type = TypeId::decimal;
      c.decimal_width = duckdb_decimal_width(lt);
      c.decimal_scale = duckdb_decimal_scale(lt);
      src.internal = duckdb_decimal_internal_type(lt);
      break;
    case DUCKDB_TYPE_ENUM: {
      c.type = TypeId::varchar;
      src.internal = duckdb_enum_internal_type(lt);
      const uint32_t n = duckdb_enum_dictionary_size(lt);
      src.dictionary.reserve(n);
      for (uint32_t i = 0; i < n; ++i) {
        char* v = duckdb_enum_dictionary_value(lt, i);
        src.dictionary.emplace_back(v ? v : "");
        duckdb_free(v);
      }
      break;
    }
    default:
      throw DataError("[ResultStream::schema]",
                      "column '" + c.name + "' has DuckDB type id " + std::to_string(static_cast<int>(src.type)) +
                          ", which ut::data does not convert yet; CAST it in SQL (e.g. " + c.name + "::VARCHAR)",
                      sql);
  }
  return c;
}

void append_vector(Column& c, const ColumnSource& src, duckdb_vector vec, idx_t n) {
  const void* data = duckdb_vector_get_data(vec);
  uint64_t* validity = duckdb_vector_get_validity(vec);
  const std::size_t base = c.valid.size();
  c.valid.resize(base + n, 1);
  if (validity)
    for (idx_t i = 0; i < n; ++i) c.valid[base + i] = duckdb_validity_row_is_valid(validity, i) ? 1 : 0;
  switch (src.type) {
    case DUCKDB_TYPE_BOOLEAN: {
      // Read as bytes: under a NULL, DuckDB leaves whatever byte was there (UBSan saw 128), not a valid bool.
      const auto* v = static_cast<const uint8_t*>(data);
      for (idx_t i = 0; i < n; ++i) c.i64.push_back(v[i] != 0 ? 1 : 0);
      break;
    }
    case DUCKDB_TYPE_TINYINT: push_ints<int8_t>(c, data, n); break;
    case DUCKDB_TYPE_SMALLINT: push_ints<int16_t>(c, data, n); break;
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_DATE: push_ints<int32_t>(c, data, n); break;
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ: push_ints<int64_t>(c, data, n); break;
    case DUCKDB_TYPE_UTINYINT: push_ints<uint8_t>(c, data, n); break;
    case DUCKDB_TYPE_USMALLINT: push_ints<uint16_t>(c, data, n); break;
    case DUCKDB_TYPE_UINTEGER: push_ints<uint32_t>(c, data, n); break;
    case DUCKDB_TYPE_UBIGINT: {
      const uint64_t* v = static_cast<const uint64_t*>(data);
      for (idx_t i = 0; i < n; ++i) c.i128.push_back(static_cast<int128_t>(v[i]));
      break;
    }
    case DUCKDB_TYPE_HUGEINT: {
      const duckdb_hugeint* v = static_cast<const duckdb_hugeint*>(data);
      for (idx_t i = 0; i < n; ++i)
        c.i128.push_back(static_cast<int128_t>(static_cast<uint128_t>(v[i].upper) << 64 | v[i].lower));
      break;
    }
    case DUCKDB_TYPE_FLOAT: {
      const float* v = static_cast<const float*>(data);
      for (idx_t i = 0; i < n; ++i) c.f64.push_back(v[i]);
      break;
    }
    case DUCKDB_TYPE_DOUBLE: {
      const double* v = static_cast<const double*>(data);
      c.f64.insert(c.f64.end(), v, v + n);
      break;
    }
    case DUCKDB_TYPE_VARCHAR: {
      auto* v = static_cast<duckdb_string_t*>(const_cast<void*>(data));
      for (idx_t i = 0; i < n; ++i) {
        if (!c.valid[base + i]) {
          c.str.emplace_back();
          continue;
        }
        c.str.emplace_back(duckdb_string_t_data(&v[i]), duckdb_string_t_length(v[i]));
      }
      break;
    }
    case DUCKDB_TYPE_DECIMAL:
      for (idx_t i = 0; i < n; ++i) {
        switch (src.internal) {
          case DUCKDB_TYPE_SMALLINT: c.i128.push_back(static_cast<const int16_t*>(data)[i]); break;
          case DUCKDB_TYPE_INTEGER: c.i128.push_back(static_cast<const int32_t*>(data)[i]); break;
          case DUCKDB_TYPE_BIGINT: c.i128.push_back(static_cast<const int64_t*>(data)[i]); break;
          default: {
            const duckdb_hugeint h = static_cast<const duckdb_hugeint*>(data)[i];
            c.i128.push_back(static_cast<int128_t>(static_cast<uint128_t>(h.upper) << 64 | h.lower));
          }
        }
      }
      break;
    case DUCKDB_TYPE_ENUM:
      for (idx_t i = 0; i < n; ++i) {
        uint64_t k = 0;
        if (src.internal == DUCKDB_TYPE_UTINYINT) k = static_cast<const uint8_t*>(data)[i];
        else if (src.internal == DUCKDB_TYPE_USMALLINT) k = static_cast<const uint16_t*>(data)[i];
        else k = static_cast<const uint32_t*>(data)[i];
        c.str.push_back(c.valid[base + i] && k < src.dictionary.size() ? src.dictionary[k] : std::string());
      }
      break;
    default: break;  // rejected in make_column
  }
}

}  // namespace ut::data::detail
