// Durability: a real SIGKILL in the middle of `ut ingest` loses no committed document, the index is made
// consistent again on the next open, and a second run resumes where the first stopped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

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

// Runs `ut ingest` with stderr on a pseudo-terminal (so isatty(2) holds) and returns what it wrote there.
std::string ingest_on_a_terminal(const std::string& dir, const std::string& db) {
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return "(no pseudo-terminal)";
  const std::string slave = ptsname(master);
  const pid_t pid = fork();
  if (pid == 0) {
    setsid();
    const int s = open(slave.c_str(), O_RDWR);
    const int null = open("/dev/null", O_WRONLY);
    dup2(s, STDERR_FILENO);
    dup2(null, STDOUT_FILENO);
    close(master);
    execl(UT_BINARY, UT_BINARY, "ingest", dir.c_str(), "--db", db.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(master, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  close(master);  // read ends with EIO once the child has closed the terminal
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? out : "(ut ingest failed) " + out;
}

// A bar redrawn with carriage returns only on a terminal; in a log, plain lines, at most one per 2 s per phase
// plus the final one, and no carriage return at all.
TEST(Ingest, ProgressBarsOnlyOnATerminalPlainLinesInLogs) {
  const fs::path root = fs::path(::testing::TempDir()) / ("ut_ingest_progress_" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "a");
  fs::create_directories(root / "b");
  std::mt19937_64 rng(std::random_device{}());
  const int files = 3 + static_cast<int>(rng() % 5);
  for (int i = 0; i < files; ++i) {
    std::ofstream(root / "a" / ("doc" + std::to_string(i) + ".md")) << corpus_text(rng, i);
    std::ofstream(root / "b" / ("doc" + std::to_string(i) + ".md")) << corpus_text(rng, i);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string log = (root / "stderr.log").string();
  const std::string cmd = std::string(UT_BINARY) + " ingest " + (root / "a").string() + " --db " +
                          (root / "a.duckdb").string() + " > /dev/null 2> " + log;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ifstream in(log);
  const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(err.find('\r'), std::string::npos) << "a carriage return in a log:\n" << err;
  const std::string n = std::to_string(files);
  EXPECT_NE(err.find("ut ingest: files " + n + "/" + n + " (100%)\n"), std::string::npos) << err;
  EXPECT_NE(err.find("ut ingest: embedding "), std::string::npos) << err;
  std::size_t lines = 0;
  for (std::size_t k = err.find("ut ingest: "); k != std::string::npos; k = err.find("ut ingest: ", k + 1)) ++lines;
  EXPECT_LE(static_cast<double>(lines), 2 * (1 + seconds / 2)) << err;

  const std::string tty = ingest_on_a_terminal((root / "b").string(), (root / "b.duckdb").string());
  EXPECT_NE(tty.find("\rfiles"), std::string::npos) << tty;
  EXPECT_NE(tty.find("] " + n + "/" + n), std::string::npos) << tty;
  EXPECT_EQ(tty.find("ut ingest: files"), std::string::npos) << "a terminal gets the bar, not log lines:\n" << tty;
  fs::remove_all(root);
}

// Models made on first use (the Q8_0 decoder from the trained F16 one, the synthetic models) go to the cache
// folder ($XDG_CACHE_HOME/unified-timeline, else ~/.cache/unified-timeline) or to $UT_MODELS_DIR, never into the
// working directory.
TEST(Ingest, DerivedModelsGoToTheCacheFolderNotTheWorkingDirectory) {
  const fs::path root = fs::path(::testing::TempDir()) / ("ut_ingest_cache_" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "work");
  fs::create_directories(root / "home");
  std::ofstream(root / "work" / "note.md") << "# Note\n\nA line to embed.\n";
  auto run_in_work = [&](const std::string& env) {
    const std::string cmd = "cd " + (root / "work").string() + " && env -u UT_MODELS_DIR -u XDG_CACHE_HOME -u UT_TRAINED_MODELS_DIR HOME=" +
                            (root / "home").string() + " " + env + " " + UT_BINARY +
                            " ingest note.md --db w.duckdb > /dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(run_in_work("XDG_CACHE_HOME=" + (root / "xdg").string() + " UT_TRAINED_MODELS_DIR=none"), 0);
  EXPECT_TRUE(fs::exists(root / "xdg" / "unified-timeline" / "tiny-bert-bge-random.gguf"));
  ASSERT_EQ(run_in_work("UT_TRAINED_MODELS_DIR=none"), 0);
  EXPECT_TRUE(fs::exists(root / "home" / ".cache" / "unified-timeline" / "tiny-llama-spm-random.gguf"));
  ASSERT_EQ(run_in_work("UT_MODELS_DIR=" + (root / "named").string() + " UT_TRAINED_MODELS_DIR=none"), 0);
  EXPECT_TRUE(fs::exists(root / "named" / "tiny-bert-bge-random.gguf"));
  // With the trained models (where the build has them): the Q8_0 decoder is made in the cache too.
  ASSERT_EQ(run_in_work("XDG_CACHE_HOME=" + (root / "xdg2").string()), 0);
  EXPECT_TRUE(fs::exists(root / "xdg2" / "unified-timeline" / "debian-llama-spm-q8_0.gguf") ||
              fs::exists(root / "xdg2" / "unified-timeline" / "tiny-llama-spm-random.gguf"));
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(root / "work")) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"note.md", "w.duckdb", "w.duckdb.hnsw", "w.duckdb.hnsw.gen"}))
      << "only the database the command was given";
  fs::remove_all(root);
}

}  // namespace
