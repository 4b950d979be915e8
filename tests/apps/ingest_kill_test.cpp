// Durability: a real SIGKILL in the middle of `ut ingest` loses no committed document, the index is made
// consistent again on the next open, and a second run resumes where the first stopped.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>

#include "workloads/data/database.h"
#include "workloads/docs/document_store.h"

namespace fs = std::filesystem;

namespace {

std::string corpus_text(std::mt19937_64& rng, int i) {
  static const char* words[] = {"queue", "event", "heap", "kernel", "frame", "token", "vector", "index", "table"};
  std::string s = "# Document " + std::to_string(i) + "\n\n";
  for (int p = 0; p < 6; ++p) {
    for (int w = 0; w < 40; ++w) s += std::string(words[rng() % 9]) + (w % 9 == 8 ? ". " : " ");
    s += "\n\n";
  }
  return s;
}

// Runs `ut ingest` with stdout on a pipe; returns the child's pid and the read end.
pid_t spawn_ingest(const std::string& dir, const std::string& db, int* out_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(UT_BINARY, UT_BINARY, "ingest", dir.c_str(), "--db", db.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  *out_fd = fds[0];
  return pid;
}

TEST(IngestKill, Sigkill_LosesNothingCommitted_AndResumes) {
  const fs::path root = fs::path(::testing::TempDir()) / ("ut_ingest_kill_" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "corpus");
  std::mt19937_64 rng(std::random_device{}());
  constexpr int kFiles = 150;
  std::map<std::string, std::string> texts;
  for (int i = 0; i < kFiles; ++i) {
    const auto p = (root / "corpus" / ("doc" + std::to_string(1000 + i) + ".md")).string();
    texts[p] = corpus_text(rng, i);
    std::ofstream(p) << texts[p];
  }
  const std::string db = (root / "engine.duckdb").string();

  int fd = -1;
  pid_t pid = spawn_ingest((root / "corpus").string(), db, &fd);
  ASSERT_GT(pid, 0);
  // Read "stored <path>" lines; kill -9 once 30 documents are committed.
  std::set<std::string> committed;
  FILE* out = fdopen(fd, "r");
  char line[4096];
  while (committed.size() < 30 && std::fgets(line, sizeof line, out)) {
    std::string l(line);
    if (l.rfind("stored ", 0) == 0) committed.insert(l.substr(7, l.size() - 8));
  }
  ASSERT_EQ(committed.size(), 30u) << "ingest ended before 30 documents";
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fclose(out);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  {
    // Every document reported as stored is there, byte for byte; the index matches the stored embeddings.
    ut::data::Database d({.path = db});
    ut::vector::DocumentStore store(d, {.dim = 64, .save_index_on_close = false});
    for (auto& p : committed) {
      auto id = store.find_by_source(p);
      ASSERT_TRUE(id.has_value()) << p << " was reported stored but is missing";
      EXPECT_EQ(store.body(*id).value(), texts[p]);
    }
    std::size_t embedded = 0;
    for (auto& doc : store.list()) embedded += doc.embedded;
    EXPECT_EQ(store.indexed(), embedded) << "index and stored embeddings disagree after the crash";
  }

  // The second run resumes: the committed files are skipped, the rest are stored, everything gets embedded.
  pid = spawn_ingest((root / "corpus").string(), db, &fd);
  out = fdopen(fd, "r");
  std::set<std::string> second;
  while (std::fgets(line, sizeof line, out)) {
    std::string l(line);
    if (l.rfind("stored ", 0) == 0) second.insert(l.substr(7, l.size() - 8));
  }
  std::fclose(out);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (auto& p : committed) EXPECT_FALSE(second.count(p)) << p << " was stored twice";
  ut::data::Database d({.path = db});
  ut::vector::DocumentStore store(d, {.dim = 64});
  auto docs = store.list();
  EXPECT_EQ(docs.size(), static_cast<std::size_t>(kFiles));
  std::size_t pending = 0, chunks = 0;
  for (auto& doc : docs) {
    pending += doc.pending;
    chunks += doc.chunks;
  }
  EXPECT_EQ(pending, 0u);
  EXPECT_EQ(store.indexed(), chunks);
  fs::remove_all(root);
}

// Titles are what a reader calls a document (the Markdown heading, else the file name); the path is the source,
// and ingesting the same file again updates the same document, also one stored by the first versions (whose
// title was the path).
TEST(Ingest, TitlesAreHeadingsOrFileNamesAndTheSourceFindsTheDocumentAgain) {
  const fs::path root = fs::path(::testing::TempDir()) / ("ut_ingest_titles_" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "docs" / "notes");
  std::mt19937_64 rng(std::random_device{}());
  const std::string heading = "Pinning packages " + std::to_string(rng() % 10000);
  const fs::path guide = root / "docs" / "guide.md", plain = root / "docs" / "plain.md",
                 readme = root / "docs" / "notes" / "read me.txt";
  std::ofstream(guide) << "```sh\n# not a title: a shell comment\n```\n\n#  " << heading << " #\n\nHold a version.\n";
  std::ofstream(plain) << "## only a second-level heading\n\nText.\n";
  std::ofstream(readme) << "# a text file's first line is not a Markdown heading\n";
  const std::string db = (root / "engine.duckdb").string();
  {
    // What the first versions stored for plain.md: the path as the title, no source.
    ut::data::Database d({.path = db});
    ut::vector::DocumentStore store(d, {.dim = 64});
    store.create(plain.string(), "older text");
  }
  const std::string cmd = std::string(UT_BINARY) + " ingest " + (root / "docs").string() + " --no-embed --db " + db +
                          " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::map<std::string, ut::vector::DocumentInfo> by_source;
  {
    ut::data::Database d({.path = db});
    ut::vector::DocumentStore store(d, {.dim = 64});
    for (auto& doc : store.list()) by_source[doc.source] = doc;
  }
  ASSERT_EQ(by_source.size(), 3u) << "the old plain.md document is updated, not doubled";
  EXPECT_EQ(by_source[guide.string()].title, heading);
  EXPECT_EQ(by_source[plain.string()].title, "plain");
  EXPECT_EQ(by_source[plain.string()].id, 1u) << "the document the first version stored";
  EXPECT_EQ(by_source[readme.string()].title, "read me");

  // Edited heading and text: the same document, renamed and updated.
  std::ofstream(guide) << "# Holding packages\n\nPin them.\n";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ut::data::Database d({.path = db});
  ut::vector::DocumentStore store(d, {.dim = 64});
  EXPECT_EQ(store.list().size(), 3u);
  const auto id = store.find_by_source(guide.string());
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, by_source[guide.string()].id);
  EXPECT_EQ(store.info(*id)->title, "Holding packages");
  EXPECT_EQ(store.body(*id).value(), "# Holding packages\n\nPin them.\n");
  fs::remove_all(root);
}

}  // namespace
