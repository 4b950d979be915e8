// `ut chat --json`: one JSON object per answer on stdout, with the sources the answer was given (`--rag-k`).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

// stdout of `cmd`, line by line; the exit status in *status.
std::vector<std::string> run_lines(const std::string& cmd, int* status) {
  std::vector<std::string> lines;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return lines;
  char buf[1 << 16];
  std::string all;
  while (std::fgets(buf, sizeof buf, p)) all += buf;
  *status = pclose(p);
  std::istringstream in(all);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(l);
  return lines;
}

TEST(ChatJson, EachAnswerIsOneObjectWithItsSourcesAsManyAsAsked) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_chat_json_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "docs");
  for (const char* name : {"queues", "events", "heaps"}) {
    std::ofstream f(dir / "docs" / (std::string(name) + ".md"));
    f << "# " << name << "\n\nThe engine's " << name << " keep the timeline: " << name << " notes for retrieval.\n";
  }
  const std::string db = (dir / "c.duckdb").string();
  const std::string ut = UT_BINARY;
  ASSERT_EQ(std::system((ut + " ingest --db " + db + " " + (dir / "docs").string() + " > /dev/null 2>&1").c_str()), 0);

  int status = -1;
  const auto two = run_lines(ut + " chat --db " + db + " --json --rag-k 2 --max-tokens 6 --temperature 0 "
                                   "'What keeps the timeline?' 2>/dev/null",
                             &status);
  ASSERT_EQ(status, 0);
  ASSERT_EQ(two.size(), 1u) << "one answer, one line";
  const auto a = nlohmann::json::parse(two[0]);
  EXPECT_TRUE(a["text"].is_string());
  EXPECT_EQ(a["tokens"]["completion"], 6);
  EXPECT_GT(a["tokens"]["prompt"].get<int>(), 0);
  EXPECT_TRUE(a["finish_reason"].is_string());
  ASSERT_TRUE(a["sources"].is_array());
  EXPECT_EQ(a["sources"].size(), 2u) << a.dump();
  for (const auto& s : a["sources"]) {
    const std::string title = s["document"];
    EXPECT_TRUE(title == "queues" || title == "events" || title == "heaps") << "titles are the Markdown headings: " << title;
  }

  const auto none = run_lines(ut + " chat --db " + db + " --json --no-rag --max-tokens 4 --temperature 0 'Hi' 2>/dev/null",
                              &status);
  ASSERT_EQ(status, 0);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_TRUE(nlohmann::json::parse(none[0])["sources"].empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
