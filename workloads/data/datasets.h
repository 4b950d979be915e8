// Datasets: the machine's Debian package table (a real one) and a seeded TPC-H-lineitem-like generator.
//
//   ut::data::Session s = db.connect();
//   ut::data::DebianLoad d = ut::data::load_debian_packages(s);     // table debian_packages
//   ut::data::generate_lineitem(s, {.rows = 10'000'000, .seed = 7}); // table lineitem, built inside DuckDB
//
// debian_packages(name, version, section, priority, installed_size_kib BIGINT, maintainer, description,
//                 architecture, source_list): one row per stanza of every /var/lib/apt/lists/*_Packages[.lz4|.gz|.xz]
// file (compressed lists are read through apt's own `apt-helper cat-file`). A machine without lists (a container
// or cloud image whose apt lists were removed) still has dpkg's database: then the installed packages of
// /var/lib/dpkg/status are loaded (source_list 'dpkg-status'). With neither, the loader says to run
// `apt-get update`. The table is replaced as a whole.
//
// lineitem(l_orderkey BIGINT, l_partkey INTEGER, l_suppkey INTEGER, l_linenumber INTEGER, l_quantity INTEGER,
//          l_extendedprice DOUBLE, l_discount DOUBLE, l_tax DOUBLE, l_returnflag VARCHAR, l_linestatus VARCHAR,
//          l_shipdate DATE, l_shipmode VARCHAR): TPC-H's shape and cardinalities scaled by rows / 6,000,000
// (orders = rows/4, parts = 200,000 * sf, suppliers = 10,000 * sf; at least 1 each). Values come from DuckDB's
// hash(row, seed, field), so the same (rows, seed) gives the same table whatever the thread count.
// Deviation from TPC-H: l_quantity is INTEGER and prices are DOUBLE (TPC-H uses DECIMAL), so that the
// kernel path applies; DECIMAL columns go to DuckDB.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "workloads/data/database.h"

namespace ut::data {

struct DebianPackage {
  std::string name, version, section, priority, maintainer, description, architecture;
  std::string status;              // dpkg's "Status:" (only in dpkg's status file)
  int64_t installed_size_kib = -1;  // -1: field absent (NULL)
};

// Parses the stanzas of one Packages file (RFC 822-style, continuation lines start with a space).
std::vector<DebianPackage> parse_debian_packages(std::istream& in);

struct DebianLoad {
  std::size_t files = 0, packages = 0;
  std::vector<std::string> lists;
  bool from_dpkg_status = false;  // no apt lists: the installed packages from dpkg's status file
};

DebianLoad load_debian_packages(Session& session, const std::string& table = "debian_packages",
                                const std::string& lists_dir = "/var/lib/apt/lists",
                                const std::string& dpkg_status = "/var/lib/dpkg/status");

struct LineitemOptions {
  uint64_t rows = 1'000'000;
  uint64_t seed = 1;
  std::string table = "lineitem";
};

// Replaces `table` with a freshly generated one; returns the SQL it ran.
std::string generate_lineitem(Session& session, const LineitemOptions& options);

}  // namespace ut::data
