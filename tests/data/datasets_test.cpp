// Datasets: the Debian package table from apt's lists, and the seeded lineitem generator.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <sstream>

#include "workloads/data/database.h"
#include "workloads/data/datasets.h"

namespace {

TEST(DataDatasets, ParsesPackageStanzas) {
  std::istringstream in(
      "Package: bash\nVersion: 5.2.15-2+b2\nInstalled-Size: 7164\nMaintainer: Matthias Klose <doko@debian.org>\n"
      "Architecture: amd64\nDescription: GNU Bourne Again SHell\n Bash is an sh-compatible command language.\n .\n"
      " More text.\nSection: shells\nPriority: required\n\n"
      "Package: tiny\nVersion: 1\nDescription: no size\n\n\n"
      "Version: 2\n\n");  // a stanza without Package is skipped
  const auto pkgs = ut::data::parse_debian_packages(in);
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[0].name, "bash");
  EXPECT_EQ(pkgs[0].section, "shells");
  EXPECT_EQ(pkgs[0].priority, "required");
  EXPECT_EQ(pkgs[0].installed_size_kib, 7164);
  EXPECT_EQ(pkgs[0].maintainer, "Matthias Klose <doko@debian.org>");
  EXPECT_EQ(pkgs[0].description, "GNU Bourne Again SHell\nBash is an sh-compatible command language.\n\nMore text.");
  EXPECT_EQ(pkgs[1].installed_size_kib, -1);
}

TEST(DataDatasets, MissingListsSayToRunAptGetUpdate) {
  ut::data::Database db;
  ut::data::Session s = db.connect();
  const auto empty = std::filesystem::temp_directory_path() / "ut-data-no-lists";
  std::filesystem::create_directories(empty);
  try {
    ut::data::load_debian_packages(s, "debian_packages", empty.string(), (empty / "no-status").string());
    FAIL();
  } catch (const ut::data::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("apt-get update"), std::string::npos) << e.what();
  }
}

TEST(DataDatasets, WithoutListsTheInstalledPackagesOfDpkgStatusAreLoaded) {
  const auto dir = std::filesystem::temp_directory_path() / ("ut-data-dpkg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "lists");
  {
    std::ofstream f(dir / "status");
    f << "Package: bash\nStatus: install ok installed\nPriority: required\nSection: shells\nInstalled-Size: 7164\n"
         "Maintainer: Matthias Klose <doko@debian.org>\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n"
         "Description: GNU Bourne Again SHell\n Bash is an sh-compatible command language.\n\n"
         "Package: gone\nStatus: deinstall ok config-files\nSection: misc\nVersion: 1.0\n\n"
         "Package: zstd\nStatus: install ok installed\nSection: utils\nInstalled-Size: 1700\nVersion: 1.5.4\n";
  }
  ut::data::Database db;
  ut::data::Session s = db.connect();
  const auto load = ut::data::load_debian_packages(s, "debian_packages", (dir / "lists").string(), (dir / "status").string());
  EXPECT_TRUE(load.from_dpkg_status);
  EXPECT_EQ(load.packages, 2u);
  const auto r = s.query("SELECT string_agg(name || ':' || section || ':' || installed_size_kib || ':' || source_list, ',' "
                         "ORDER BY name) FROM debian_packages");
  EXPECT_EQ(r.column(0).text(0), "bash:shells:7164:dpkg-status,zstd:utils:1700:dpkg-status");
  std::filesystem::remove_all(dir);
}

// This machine's packages, whatever it has: apt's lists when `apt-get update` has run (scripts/setup.sh runs it
// when it installs anything), else dpkg's record of the installed packages (this build's own dependencies among
// them). Never skipped: a Debian machine has one or the other.
TEST(DataDatasets, LoadsThisMachinesDebianPackages) {
  bool lists = false;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/var/lib/apt/lists", ec))
    lists = lists || e.path().filename().string().find("_Packages") != std::string::npos;
  ASSERT_TRUE(lists || std::filesystem::exists("/var/lib/dpkg/status"))
      << "neither apt package lists nor /var/lib/dpkg/status: not a Debian machine";
  ut::data::Database db;
  ut::data::Session s = db.connect();
  const auto load = ut::data::load_debian_packages(s);
  EXPECT_EQ(load.from_dpkg_status, !lists);
  // Every package list of a Debian release has tens of thousands; a machine that builds this project has
  // hundreds installed.
  EXPECT_GT(load.packages, lists ? 1000u : 100u);
  const auto r = s.query("SELECT count(*), count(DISTINCT section), count(installed_size_kib) FROM debian_packages");
  EXPECT_EQ(static_cast<std::size_t>(r.column(0).i64[0]), load.packages);
  EXPECT_GT(r.column(1).i64[0], 10);
  // Packages this build needs, present in either source.
  for (const char* name : {"bash", "cmake", "libvulkan-dev"})
    EXPECT_EQ(s.query(std::string("SELECT count(*) FROM debian_packages WHERE name = '") + name + "'").column(0).i64[0] >= 1,
              true) << name;
}

TEST(DataDatasets, LineitemIsSeededAndShapedLikeTpch) {
  ut::data::Database db({.threads = 2});
  ut::data::Session s = db.connect();
  auto checksum = [&](uint64_t seed) {
    ut::data::generate_lineitem(s, {.rows = 60000, .seed = seed});
    return s.query("SELECT sum(hash(l_partkey, l_suppkey, l_quantity, l_extendedprice, l_shipdate, l_shipmode)) "
                   "FROM lineitem").column(0).text(0);
  };
  const std::string a = checksum(7), b = checksum(7), c = checksum(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const auto r = s.query("SELECT count(*), count(DISTINCT l_returnflag), count(DISTINCT l_shipmode), "
                         "count(DISTINCT l_orderkey), max(l_suppkey), min(l_quantity), max(l_quantity), "
                         "max(l_discount) FROM lineitem");
  EXPECT_EQ(r.column(0).i64[0], 60000);
  EXPECT_EQ(r.column(1).i64[0], 3);
  EXPECT_EQ(r.column(2).i64[0], 7);
  EXPECT_EQ(r.column(3).i64[0], 15000);
  EXPECT_EQ(r.column(4).i64[0], 100);  // 10,000 suppliers * (60,000 / 6,000,000)
  EXPECT_EQ(r.column(5).i64[0], 1);
  EXPECT_EQ(r.column(6).i64[0], 50);
  EXPECT_DOUBLE_EQ(r.column(7).f64[0], 0.10);
}

}  // namespace
