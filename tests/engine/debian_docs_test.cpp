// `ut serve --ingest-debian-packages`: the machine's packages become documents once each, titled by name.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "engine/debian_docs.h"
#include "tests/engine/runtime_fixture.h"

namespace ut::test {
namespace {

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
}

TEST_F(AssistantTest, DebianPackagesAreStoredOnceEachAndARestartAddsOnlyNewOnes) {
  start();
  const auto lists = dir / "lists";
  std::filesystem::create_directories(lists);
  write(lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
        "Package: sniffit\nVersion: 0.5-1\nSection: net\nDescription: packet sniffer and monitoring tool\n\n"
        "Package: bash\nVersion: 5.2.15-2\nSection: shells\nDescription: GNU Bourne Again SHell\n\n"
        "Package: nodesc\nVersion: 1\nSection: misc\n\n");
  write(lists / "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
        "Package: bash\nVersion: 5.2.15-2+deb12u1\nSection: shells\nDescription: GNU Bourne Again SHell\n\n");
  const engine::DebianDocsOptions where{.lists_dir = lists.string(), .dpkg_status = (dir / "no-status").string()};
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  const auto r = engine::store_debian_package_docs(
      *rt, [&](std::size_t d, std::size_t t) { calls.emplace_back(d, t); }, nullptr, where);
  EXPECT_EQ(r.packages, 2u) << "bash once although in two lists; a package without a description is no document";
  EXPECT_EQ(r.stored, 2u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_FALSE(r.installed_only);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(std::size_t{2}, std::size_t{2}));

  std::map<std::string, std::string> by_title;
  for (const auto& d : ai->docs()->list()) by_title[d.title] = d.source;
  EXPECT_EQ(by_title, (std::map<std::string, std::string>{{"bash", "debian-package:bash"},
                                                          {"sniffit", "debian-package:sniffit"}}));
  ASSERT_TRUE(ai->wait_indexed(120s)) << "the documents' chunks embed in the background";

  // A restart with one more package: only that one is stored.
  write(lists / "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages",
        "Package: zstd\nVersion: 1.5.4\nSection: utils\nDescription: fast lossless compression utility\n\n");
  const auto again = engine::store_debian_package_docs(*rt, {}, nullptr, where);
  EXPECT_EQ(again.stored, 1u);
  EXPECT_EQ(again.skipped, 2u);
  EXPECT_EQ(ai->docs()->list().size(), 3u);

  std::atomic<bool> stop{true};  // stopped before the first package: nothing stored, and it says so
  write(lists / "deb.debian.org_debian_dists_bookworm-backports_main_binary-amd64_Packages",
        "Package: jq\nVersion: 1.6\nSection: utils\nDescription: lightweight command-line JSON processor\n\n");
  const auto stopped = engine::store_debian_package_docs(*rt, {}, &stop, where);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.stored, 0u);
  EXPECT_EQ(ai->docs()->list().size(), 3u);
}

}  // namespace
}  // namespace ut::test
