// `ut ingest PATH...`: text and Markdown files and folders into the engine's documents, with progress (a bar on
// a terminal, plain lines in logs); resumable (a file whose stored text is unchanged is skipped) and safe to kill
// at any point.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "apps/ut/commands.h"
#include "engine/runtime.h"
#include "timeline/error.h"
#include "workloads/docs/chunker.h"

namespace ut::app {
namespace {

namespace fs = std::filesystem;

struct IngestOptions {
  std::vector<std::string> paths;
  std::string db = "ut-engine.duckdb";
  std::string embed_model;
  bool no_embed = false;
};

bool wanted(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".txt" || ext == ".md" || ext == ".markdown" || ext == ".rst";
}

// What a reader calls the document: a Markdown file's first "# heading" (outside code fences), else the file
// name without folders and extension ("/srv/notes/apt-pinning.md" -> "apt-pinning").
std::string document_title(const fs::path& file, const std::string& body) {
  const auto ext = file.extension().string();
  if (ext == ".md" || ext == ".markdown") {
    std::istringstream in(body);
    std::string line, fence;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto lead = line.find_first_not_of(' ');
      const bool fence_line =
          lead != std::string::npos && lead < 4 && (line.compare(lead, 3, "```") == 0 || line.compare(lead, 3, "~~~") == 0);
      if (fence_line) {
        const std::string mark = line.substr(lead, 3);
        fence = fence.empty() ? mark : fence == mark ? std::string() : fence;
        continue;
      }
      if (!fence.empty() || lead == std::string::npos || lead >= 4 || line.compare(lead, 2, "# ") != 0) continue;
      std::string title = line.substr(lead + 2);
      // Closing hashes ("# Title #") and surrounding blanks are not part of the heading.
      while (!title.empty() && (title.back() == '#' || title.back() == ' ' || title.back() == '\t')) title.pop_back();
      title.erase(0, title.find_first_not_of(" \t"));
      if (!title.empty()) return title;
    }
  }
  const std::string stem = file.stem().string();
  return stem.empty() ? file.filename().string() : stem;
}

// Progress on stderr. On a terminal: a bar redrawn in place. Elsewhere (a log file, a pipe): a plain line at
// most every 2 s and one at the end, as tqdm and indicatif do, so that logs hold no carriage returns and no flood.
class Progress {
 public:
  explicit Progress(const char* what)
      : what_(what), tty_(isatty(STDERR_FILENO) == 1), last_line_(std::chrono::steady_clock::now()) {}
  void update(std::size_t done, std::size_t total) {
    done_ = done;
    total_ = total;
    if (tty_) {
      const int width = 30;
      const int fill = total ? static_cast<int>(width * std::min(done, total) / total) : width;
      std::fprintf(stderr, "\r%-10s [%s%s] %zu/%zu", what_, std::string(static_cast<std::size_t>(fill), '#').c_str(),
                   std::string(static_cast<std::size_t>(width - fill), '.').c_str(), done, total);
      drawn_ = true;
      return;
    }
    if (std::chrono::steady_clock::now() - last_line_ >= std::chrono::seconds(2)) line();
  }
  // A message on a line of its own (a drawn bar is continued below it).
  void note(const std::string& text) {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  void finish() {
    if (tty_) {
      if (drawn_) std::fputc('\n', stderr);
      drawn_ = false;
    } else if (printed_ != done_) {
      line();
    }
  }

 private:
  void line() {
    const int pct = total_ ? static_cast<int>(100 * std::min(done_, total_) / total_) : 100;
    std::fprintf(stderr, "ut ingest: %s %zu/%zu (%d%%)\n", what_, done_, total_, pct);
    std::fflush(stderr);
    last_line_ = std::chrono::steady_clock::now();
    printed_ = done_;
  }

  const char* what_;
  bool tty_, drawn_ = false;
  std::size_t done_ = 0, total_ = 0;
  std::optional<std::size_t> printed_;
  std::chrono::steady_clock::time_point last_line_;
};

int ingest(const IngestOptions& o) {
  std::vector<fs::path> files;
  for (const auto& p : o.paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (auto& e : fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied))
        if (e.is_regular_file() && wanted(e.path())) files.push_back(e.path());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      throw UsageError("no such file or folder: '" + p + "'");
    }
  }
  std::sort(files.begin(), files.end());
  // Documents and embeddings only (no chat model); the engine's own queues stay on the CPU here.
  engine::Runtime rt({.engine = {.backend = "cpu"}, .db_path = o.db,
                      .embed_model = o.no_embed ? "none" : o.embed_model, .chat_model = "none", .heartbeat = false});
  engine::Assistant& ai = rt.assistant();
  std::size_t stored = 0, skipped = 0, failed = 0;
  Progress file_progress("files");
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string name = files[i].string();  // as found (the title the first versions stored)
    const std::string source = fs::absolute(files[i]).lexically_normal().string();
    std::ifstream f(files[i], std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string body = ss.str();
    if (!f && !f.eof()) {
      file_progress.note("ut ingest: cannot read '" + name + "'");
      ++failed;
      continue;
    }
    if (const std::size_t bad = vector::make_valid_utf8(body))
      file_progress.note("ut ingest: '" + name + "': " + std::to_string(bad) +
                         " bytes that are not UTF-8 stored as U+FFFD");
    try {
      const std::string title = document_title(files[i], body);
      auto& docs = *ai.docs();
      // The same file is the same document: found by its source, or (stored by an older version) by its path as
      // title, without a source.
      auto existing = docs.find_by_source(source);
      if (!existing) {
        existing = docs.find_by_title(name);
        if (existing && !docs.info(*existing)->source.empty()) existing.reset();
      }
      const auto info = existing ? docs.info(*existing) : std::nullopt;
      const bool same_body = existing && docs.body(*existing) == body;
      if (same_body && info->title == title && info->source == source) {
        ++skipped;
      } else {
        if (!existing) {
          docs.create(title, body, source);
        } else {
          if (!same_body) docs.update(*existing, body);
          docs.rename(*existing, title, source);
        }
        ++stored;
        std::printf("stored %s\n", source.c_str());  // committed: durable from here on
        std::fflush(stdout);
      }
    } catch (const std::exception& e) {
      file_progress.note("ut ingest: '" + name + "': " + e.what());
      ++failed;
    }
    file_progress.update(i + 1, files.size());
  }
  file_progress.finish();
  if (ai.can_embed()) {
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t total = 0, done_before = 0;
    for (auto& d : ai.docs()->list()) {
      total += d.chunks;
      done_before += d.embedded + d.failed;
    }
    ai.schedule_indexing();
    std::size_t embedded_now = done_before;
    Progress embed_progress("embedding");
    for (;;) {
      std::size_t embedded = 0, pending = 0;
      for (auto& d : ai.docs()->list()) {
        embedded += d.embedded + d.failed;
        pending += d.pending;
      }
      embed_progress.update(embedded, total);
      embedded_now = embedded;
      if (pending == 0) break;
      if (const std::string why = ai.indexing_error(); !why.empty()) {
        embed_progress.finish();
        std::fprintf(stderr, "ut ingest: embedding stopped: its results cannot be stored (%s); the documents are\n"
                             "ut ingest: committed, and their %zu pending chunks embed on the next run\n",
                     why.c_str(), pending);
        return 1;
      }
      ai.wait_indexed(std::chrono::milliseconds(500));  // blocks on the indexer; wakes to redraw the bar
    }
    embed_progress.finish();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (embedded_now > done_before)
      std::printf("embedded %zu chunks in %.2f s (%.0f chunks/s)\n", embedded_now - done_before, s,
                  static_cast<double>(embedded_now - done_before) / s);
    ai.docs()->save_index();
  }
  std::printf("ut ingest: %zu stored, %zu unchanged, %zu failed; %zu chunks indexed; database %s\n", stored, skipped,
              failed, ai.docs()->indexed(), o.db.c_str());
  return failed ? 1 : 0;
}

}  // namespace

void add_ingest_commands(CLI::App& app, CLI::App&, int& rc) {
  auto o = std::make_shared<IngestOptions>();
  auto* s = app.add_subcommand("ingest", "Store text and Markdown files (and folders) as documents and embed their chunks;\n"
                                         "re-running skips unchanged files, so an interrupted ingestion resumes");
  s->add_option("paths", o->paths, "Files or folders (.txt .md .markdown .rst)")->required();
  s->add_option("--db", o->db, "DuckDB file")->capture_default_str();
  s->add_option("--embed-model", o->embed_model, "GGUF embedding model (default: the project's small embedder)");
  s->add_flag("--no-embed", o->no_embed, "Store documents only; embed later");
  s->callback([o, &rc] { rc = ingest(*o); });
}

}  // namespace ut::app
