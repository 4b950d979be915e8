#include "workloads/data/datasets.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace ut::data {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Reads a whole list file; compressed ones through apt's own decompressor.
std::string read_list(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  if (ends_with(name, "_Packages")) {
    std::FILE* f = std::fopen(p.c_str(), "rb");
    if (!f) throw DataError("[load_debian_packages]", "cannot read " + p.string());
    std::string data;
    char buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
    std::fclose(f);
    return data;
  }
  const std::string cmd = "/usr/lib/apt/apt-helper cat-file " + shell_quote(p.string()) + " 2>&1";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) throw DataError("[load_debian_packages]", "cannot run apt-helper to decompress " + p.string());
  std::string data;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe.get())) > 0) data.append(buf, n);
  const int rc = pclose(pipe.release());
  if (rc != 0)
    throw DataError("[load_debian_packages]", "apt-helper cat-file " + p.string() + " failed (" + std::to_string(rc) +
                                                  "): " + data.substr(0, 300));
  return data;
}

}  // namespace

std::vector<DebianPackage> parse_debian_packages(std::istream& in) {
  std::vector<DebianPackage> out;
  DebianPackage cur;
  std::string field, line;
  bool any = false;
  auto flush = [&] {
    if (any && !cur.name.empty()) out.push_back(std::move(cur));
    cur = DebianPackage{};
    any = false;
    field.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {  // continuation of the previous field
      if (field == "Description") {
        const std::string t = trim(line);
        cur.description += "\n" + (t == "." ? std::string() : t);
      }
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    field = line.substr(0, colon);
    const std::string value = trim(line.substr(colon + 1));
    any = true;
    if (field == "Package") cur.name = value;
    else if (field == "Version") cur.version = value;
    else if (field == "Section") cur.section = value;
    else if (field == "Priority") cur.priority = value;
    else if (field == "Maintainer") cur.maintainer = value;
    else if (field == "Description") cur.description = value;
    else if (field == "Architecture") cur.architecture = value;
    else if (field == "Status") cur.status = value;
    else if (field == "Installed-Size") {
      try {
        cur.installed_size_kib = std::stoll(value);
      } catch (...) {
        cur.installed_size_kib = -1;
      }
    }
  }
  flush();
  return out;
}

DebianLoad load_debian_packages(Session& session, const std::string& table, const std::string& lists_dir,
                                const std::string& dpkg_status) {
  namespace fs = std::filesystem;
  DebianLoad load;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(lists_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (ends_with(n, "_Packages") || ends_with(n, "_Packages.lz4") || ends_with(n, "_Packages.gz") ||
        ends_with(n, "_Packages.xz"))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::pair<std::string, std::vector<DebianPackage>>> parsed;
  if (files.empty()) {
    std::ifstream status(dpkg_status);
    if (!dpkg_status.empty() && status) {
      std::vector<DebianPackage> installed;
      for (auto& p : parse_debian_packages(status))  // "install ok installed"; not removed or half-configured ones
        if (ends_with(p.status, " installed")) installed.push_back(std::move(p));
      parsed.emplace_back("dpkg-status", std::move(installed));
      load.lists.push_back("dpkg-status");
      load.from_dpkg_status = true;
    } else {
      throw DataError("[load_debian_packages]",
                      "no package lists (*_Packages) in " + lists_dir + (ec ? " (" + ec.message() + ")" : std::string()) +
                          " and no dpkg status file at " + dpkg_status + "; run `apt-get update` (as root) first");
    }
  }
  for (const auto& f : files) {
    std::istringstream in(read_list(f));
    std::string list = f.filename().string();
    list = list.substr(0, list.find("_Packages"));
    parsed.emplace_back(list, parse_debian_packages(in));
    load.lists.push_back(list);
  }
  const QueryOptions w{.access = Access::read_write};
  session.query("CREATE OR REPLACE TABLE \"" + table +
                    "\" (name VARCHAR NOT NULL, version VARCHAR, section VARCHAR, priority VARCHAR, "
                    "installed_size_kib BIGINT, maintainer VARCHAR, description VARCHAR, architecture VARCHAR, "
                    "source_list VARCHAR)",
                w);
  Appender app(session, table);
  auto opt = [&](const std::string& v) -> Appender& { return v.empty() ? app.add_null() : app.add(std::string_view(v)); };
  for (const auto& [list, pkgs] : parsed) {
    for (const auto& p : pkgs) {
      app.add(std::string_view(p.name));
      opt(p.version);
      opt(p.section);
      opt(p.priority);
      if (p.installed_size_kib < 0) app.add_null();
      else app.add(p.installed_size_kib);
      opt(p.maintainer);
      opt(p.description);
      opt(p.architecture);
      app.add(std::string_view(list));
      app.end_row();
      ++load.packages;
    }
  }
  app.close();
  load.files = load.from_dpkg_status ? 1 : files.size();
  return load;
}

std::string generate_lineitem(Session& session, const LineitemOptions& o) {
  if (o.rows == 0) throw DataError("[generate_lineitem]", "rows must be > 0");
  const double sf = static_cast<double>(o.rows) / 6'000'000.0;
  const uint64_t orders = std::max<uint64_t>(1, o.rows / 4);
  const uint64_t parts = std::max<uint64_t>(1, static_cast<uint64_t>(200'000 * sf));
  const uint64_t supps = std::max<uint64_t>(1, static_cast<uint64_t>(10'000 * sf));
  const std::string s = std::to_string(o.seed);
  auto h = [&](int field) { return "hash(i, " + s + "::UBIGINT, " + std::to_string(field) + ")"; };
  std::ostringstream q;
  q << "CREATE OR REPLACE TABLE \"" << o.table << "\" AS SELECT "
    << "(i % " << orders << ")::BIGINT + 1 AS l_orderkey, "
    << "(" << h(1) << " % " << parts << ")::INTEGER + 1 AS l_partkey, "
    << "(" << h(2) << " % " << supps << ")::INTEGER + 1 AS l_suppkey, "
    << "(i // " << orders << " % 7)::INTEGER + 1 AS l_linenumber, "
    << "quantity AS l_quantity, "
    << "round(quantity * (900 + (" << h(4) << " % 110000) / 100.0), 2)::DOUBLE AS l_extendedprice, "
    << "(" << h(5) << " % 11)::DOUBLE / 100 AS l_discount, "
    << "(" << h(6) << " % 9)::DOUBLE / 100 AS l_tax, "
    << "['A', 'N', 'R'][(" << h(7) << " % 3)::INTEGER + 1] AS l_returnflag, "
    << "['O', 'F'][(" << h(8) << " % 2)::INTEGER + 1] AS l_linestatus, "
    << "DATE '1992-01-02' + (" << h(9) << " % 2526)::INTEGER AS l_shipdate, "
    << "['AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK'][(" << h(10) << " % 7)::INTEGER + 1] AS l_shipmode "
    << "FROM (SELECT i, (" << h(3) << " % 50)::INTEGER + 1 AS quantity FROM range(" << o.rows << ") t(i))";
  const std::string sql = q.str();
  session.query(sql, {.access = Access::read_write});
  return sql;
}

}  // namespace ut::data
