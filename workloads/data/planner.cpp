#include "workloads/data/planner.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

#include "timeline/kernel.h"
#include "workloads/data/preagg.h"

namespace ut::data {
namespace {

using nlohmann::json;

std::string sql_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string scalar(Session& s, const std::string& sql) {
  Result r = s.query(sql);
  if (r.rows() != 1 || r.column_count() != 1 || r.column(0).is_null(0))
    throw DataError("[recognize_aggregation]", "expected one value from DuckDB", sql);
  return r.column(0).text(0);
}

std::string column_ref_name(const json& e) {
  std::string n;
  for (const auto& part : e.at("column_names")) n += (n.empty() ? "" : ".") + part.get<std::string>();
  return n;
}

bool is_column_ref(const json& e) { return e.value("class", "") == "COLUMN_REF"; }

bool key_type_ok(TypeId t) {
  return t == TypeId::varchar || t == TypeId::boolean || (is_integer(t) && physical_of(t) == Physical::i64);
}
bool value_type_ok(TypeId t) {
  return t == TypeId::float32 || t == TypeId::float64 || t == TypeId::boolean ||
         (is_integer(t) && physical_of(t) == Physical::i64);
}

std::string with_commas(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

}  // namespace

namespace {

// Why the serialized SELECT node is not a single-key GROUP BY the kernels run, or "" when its shape fits.
std::string shape_rejection(const json& node) {
  if (node.value("type", "") != "SELECT_NODE") return "not a plain SELECT (set operation or other node)";
  if (!node.at("modifiers").empty()) return "ORDER BY / LIMIT / DISTINCT are not handled by the kernel path";
  if (node.contains("cte_map") && !node["cte_map"].value("map", json::array()).empty()) return "has a CTE";
  if (!node.value("having", json()).is_null()) return "has HAVING";
  if (!node.value("qualify", json()).is_null()) return "has QUALIFY";
  if (!node.value("sample", json()).is_null()) return "has SAMPLE";
  if (node.value("aggregate_handling", "") != "STANDARD_HANDLING") return "GROUP BY ALL / no-group handling";
  const json& groups = node.at("group_expressions");
  if (groups.size() != 1) return groups.empty() ? "no GROUP BY" : "more than one GROUP BY key";
  if (node.at("group_sets").size() != 1) return "GROUPING SETS / ROLLUP / CUBE";
  if (!is_column_ref(groups[0])) return "the GROUP BY key is an expression, not a column";
  if (node.at("from_table").value("type", "") == "EMPTY") return "no FROM clause";
  return "";
}

// Adds one aggregate call of the select list to `q` (its input column to q.columns and `scan_list` when new);
// returns why the kernels cannot compute it, or "".
std::string add_aggregate(const json& item, AggQuery& q, std::vector<json>& scan_list) {
  if (item.value("class", "") != "FUNCTION") return "select item is neither the key nor an aggregate call";
  const std::string fn = item.value("function_name", "");
  AggregateSpec a;
  if (fn == "count_star") a.op = AggOp::count_star;
  else if (fn == "count") a.op = AggOp::count;
  else if (fn == "sum") a.op = AggOp::sum;
  else if (fn == "min") a.op = AggOp::min;
  else if (fn == "max") a.op = AggOp::max;
  else if (fn == "avg" || fn == "mean") a.op = AggOp::avg;
  else return "function " + fn + " is not SUM/COUNT/MIN/MAX/AVG";
  if (item.value("distinct", false)) return fn + "(DISTINCT ...)";
  if (!item.value("filter", json()).is_null()) return fn + "(...) FILTER";
  if (item.contains("order_bys") && !item["order_bys"].value("orders", json::array()).empty())
    return fn + "(... ORDER BY ...)";
  const json& kids = item.at("children");
  if (a.op == AggOp::count_star) {
    if (!kids.empty()) return "count_star with arguments";
    a.text = "count(*)";
  } else {
    if (kids.size() != 1 || !is_column_ref(kids[0])) return fn + "() over an expression, not a column";
    const std::string col = column_ref_name(kids[0]);
    auto it = std::find(q.columns.begin(), q.columns.end(), col);
    if (it == q.columns.end()) {
      if (q.columns.size() >= static_cast<std::size_t>(kMaxColumns)) return "more than 8 input columns";
      q.columns.push_back(col);
      json ref = kids[0];
      ref["alias"] = "";
      scan_list.push_back(ref);
      it = q.columns.end() - 1;
    }
    a.column = static_cast<int>(it - q.columns.begin());
    a.text = fn + "(" + col + ")";
  }
  if (q.aggs.size() >= static_cast<std::size_t>(kMaxAggregates)) return "more than 8 aggregates";
  q.output.push_back(static_cast<int>(q.aggs.size()));
  q.aggs.push_back(std::move(a));
  return "";
}

// The scan: same FROM and WHERE, select list = key + input columns, no grouping. DuckDB writes the SQL from the
// edited parse tree (`stmt` is the tree's one statement); base tables also get the scan with the row id.
void write_scan_sql(Session& session, const json& tree, json stmt, std::vector<json> scan_list, AggQuery& q) {
  json& scan_node = stmt["node"];
  scan_node["select_list"] = scan_list;
  scan_node["group_expressions"] = json::array();
  scan_node["group_sets"] = json::array();
  json scan_tree = tree;
  scan_tree["statements"] = json::array({stmt});
  q.scan_sql = scalar(session, "SELECT json_deserialize_sql(" + sql_literal(scan_tree.dump()) + "::JSON)");
  if (!q.source_table.empty()) {  // the same scan with the row id, so disjoint rowid ranges can be scanned at once
    json rowid = scan_list[0];  // a copy of the key reference (alias cleared by the caller)
    rowid["column_names"] = json::array({"rowid"});
    rowid["alias"] = "__ut_rowid";
    scan_list.push_back(rowid);
    scan_node["select_list"] = scan_list;
    scan_tree["statements"] = json::array({stmt});
    q.partition_scan_sql = scalar(session, "SELECT json_deserialize_sql(" + sql_literal(scan_tree.dump()) + "::JSON)");
  }
}

// Why DuckDB's bound types rule the kernels out (key, inputs or outputs), or "" when they fit.
std::string type_rejection(const AggQuery& q) {
  if (q.output_schema.size() != q.output.size()) return "DuckDB binds a different number of output columns";
  if (!key_type_ok(q.scan_schema[0].type))
    return "key " + q.key_name + " has type " + q.scan_schema[0].type_name() + " (integer or VARCHAR needed)";
  for (std::size_t c = 0; c < q.columns.size(); ++c)
    if (!value_type_ok(q.scan_schema[c + 1].type))
      return "column " + q.columns[c] + " has type " + q.scan_schema[c + 1].type_name() +
             " (integers up to 32-bit unsigned / 64-bit signed, FLOAT or DOUBLE needed)";
  for (std::size_t i = 0; i < q.output.size(); ++i) {
    if (q.output[i] < 0) continue;
    const AggregateSpec& a = q.aggs[static_cast<std::size_t>(q.output[i])];
    const Column& out = q.output_schema[i];
    if (out.type == TypeId::decimal || out.physical() == Physical::str)
      return a.text + " returns " + out.type_name() + ", which the kernel path does not produce";
    if (a.op == AggOp::sum && a.column >= 0 && q.scan_schema[static_cast<std::size_t>(a.column) + 1].type == TypeId::boolean)
      return "sum over BOOLEAN";
  }
  return "";
}

}  // namespace

const char* to_string(Engine e) noexcept { return e == Engine::kernel ? "kernel" : "duckdb"; }

std::optional<AggQuery> recognize_aggregation(Session& session, const std::string& sql, std::string* why_not) {
  auto no = [&](const std::string& why) -> std::optional<AggQuery> {
    if (why_not) *why_not = why;
    return std::nullopt;
  };
  const json tree = json::parse(scalar(session, "SELECT json_serialize_sql(" + sql_literal(sql) + ")"));
  if (tree.value("error", false)) {
    // Not parseable as a single SELECT by the serializer: let DuckDB report the real error when it runs.
    return no("DuckDB's serializer does not accept it: " + tree.value("error_message", std::string("?")));
  }
  const json& stmts = tree.at("statements");
  if (stmts.size() != 1) return no("not exactly one statement");
  const json& stmt = stmts[0];
  const json& node = stmt.at("node");
  if (std::string why = shape_rejection(node); !why.empty()) return no(why);
  const json& groups = node.at("group_expressions");

  AggQuery q;
  q.sql = sql;
  q.key_name = column_ref_name(groups[0]);
  q.has_filter = !node.value("where_clause", json()).is_null();
  if (node.at("from_table").value("type", "") == "BASE_TABLE") q.source_table = node["from_table"].value("table_name", "");
  std::vector<json> scan_list{groups[0]};
  scan_list[0]["alias"] = "";
  for (const json& item : node.at("select_list")) {
    if (is_column_ref(item)) {
      if (column_ref_name(item) != q.key_name) return no("selects column " + column_ref_name(item) + " that is not the key");
      q.output.push_back(-1);
      continue;
    }
    if (std::string why = add_aggregate(item, q, scan_list); !why.empty()) return no(why);
  }
  if (q.aggs.empty()) return no("no aggregates (a plain DISTINCT-like GROUP BY)");

  write_scan_sql(session, tree, stmt, std::move(scan_list), q);
  q.output_schema = session.describe(sql);
  q.scan_schema = session.describe(q.scan_sql);
  if (std::string why = type_rejection(q); !why.empty()) return no(why);
  return q;
}

Plan plan_query(Session& session, const std::string& sql, const PlannerOptions& o) {
  Plan p;
  p.sql = sql;
  p.backend = o.backend;
  std::string why;
  p.query = recognize_aggregation(session, sql, &why);
  if (!p.query) {
    p.reason = "not kernel-eligible: " + why;
    return p;
  }
  const AggQuery& q = *p.query;
  if (!q.source_table.empty()) {
    const std::string est = scalar(session, "SELECT coalesce(max(estimated_size), 0) FROM duckdb_tables() WHERE table_name = " +
                                                sql_literal(q.source_table));
    p.estimated_rows = std::stoull(est);
    p.rows_source = "estimated_size of table " + q.source_table + (q.has_filter ? " (upper bound: before the WHERE filter)" : "");
  } else {
    p.estimated_rows = std::stoull(scalar(session, "SELECT count(*) FROM (" + q.scan_sql + ")"));
    p.rows_source = "count(*) of the scan (the FROM clause is not a single table)";
  }
  const bool have_kernel = kernels().find(kAggRowsKernel, o.backend) != nullptr;
  auto kernel = [&](std::string reason) {
    p.engine = Engine::kernel;
    p.reason = std::move(reason);
  };
  if (o.force_duckdb) p.reason = "forced: DuckDB";
  else if (!have_kernel) p.reason = "no " + std::string(kAggRowsKernel) + " kernel is registered for backend " + o.backend;
  else if (o.force_kernel) kernel("forced: kernel path on backend " + o.backend);
  else if (p.estimated_rows < o.min_rows)
    p.reason = with_commas(p.estimated_rows) + " rows < " + with_commas(o.min_rows) +
               ": moving the columns and dispatching costs more than DuckDB's own aggregate";
  else if (o.backend == "cpu" && !o.allow_cpu_kernel)
    p.reason = "backend cpu: the CPU kernel is the single-threaded reference for the GPU kernels; DuckDB's "
               "parallel hash aggregate is faster on CPUs (see `ut bench data`)";
  else kernel(with_commas(p.estimated_rows) + " rows >= " + with_commas(o.min_rows) + " on backend " + o.backend);
  return p;
}

std::string Plan::explain() const {
  std::ostringstream s;
  s << "ut pre-aggregation plan\n";
  s << "  engine:     " << (engine == Engine::kernel ? "kernel (backend " + backend + ")" : std::string("DuckDB")) << "\n";
  s << "  reason:     " << reason << "\n";
  if (query) {
    const AggQuery& q = *query;
    s << "  rows:       " << with_commas(estimated_rows) << " (" << rows_source << ")\n";
    s << "  key:        " << q.key_name << " " << q.scan_schema[0].type_name()
      << (q.scan_schema[0].type == TypeId::varchar ? " (dictionary-encoded on the host during the scan)" : "") << "\n";
    s << "  aggregates:";
    for (std::size_t i = 0; i < q.output.size(); ++i) {
      if (q.output[i] < 0) continue;
      const AggregateSpec& a = q.aggs[static_cast<std::size_t>(q.output[i])];
      s << " " << a.text << " -> " << q.output_schema[i].type_name() << ";";
    }
    s << "\n  scan:       " << q.scan_sql << "\n";
    if (engine == Engine::kernel)
      s << "  kernels:    " << kAggInitKernel << ", " << kAggRowsKernel
        << " (dense table when the key range or dictionary fits 2^20 slots, else hash)\n";
  }
  return s.str();
}

Result execute(Session& session, const Plan& plan, PreAggregator* kernels_runner, const QueryOptions& options) {
  if (plan.engine == Engine::duckdb) return session.query(plan.sql, options);
  if (kernels_runner == nullptr) throw DataError("[execute]", "the plan chose kernels but no PreAggregator was given", plan.sql);
  return kernels_runner->run(session, *plan.query, nullptr, options, plan.estimated_rows);
}

}  // namespace ut::data
