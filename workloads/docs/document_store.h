// DocumentStore: documents and their chunks in the engine's DuckDB file, the HNSW index beside it, and the
// bookkeeping for background re-embedding.
//
//   ut::data::Database db({.path = "engine.duckdb"});
//   ut::vector::DocumentStore docs(db, {.dim = 384, .chunker = {.max_tokens = 256, .overlap_tokens = 32},
//                                       .count_tokens = [&](std::string_view s) { return n_tokens(s); }});
//   uint64_t id = docs.create("notes.md", "First paragraph.\n\nSecond.");    // durable and visible at once
//   docs.create("Install notes", text, "/home/me/notes/install.md");         // title, and where it came from
//   auto same = docs.find_by_source("/home/me/notes/install.md");             // re-ingesting finds it again
//   docs.update(id, "First paragraph.\n\nSecond, edited.");                  // only changed chunks go pending
//   auto work = docs.pending(64);                                            // chunks that need embeddings
//   docs.store_embeddings(ids, vectors);                                     // -> embedded, into the index
//   auto hits = docs.search(query_vector, 5);                                // chunk, document, score, text
//   docs.save_index();                                                       // also done by the destructor
//
// Contract
// - Every create/update/remove is one DuckDB transaction: committed before the call returns, or not at all.
// - A chunk is identified by (document, content hash): an edit keeps the embedding of every chunk whose text
//   did not change; new or changed chunks become `pending`; chunks no longer present are deleted and leave the
//   index at once. store_embeddings() ignores chunks deleted meanwhile. mark_failed() records an error.
// - The index file (<db>.hnsw) carries the generation it was saved at; on open, a missing or stale index (a
//   crash after the last save) is rebuilt from the embeddings stored in DuckDB, so nothing committed is lost.
// - A document has a title (what a reader calls it) and optionally a source (where it came from: a file path);
//   databases written before sources existed get the column when opened, with no source for their documents.
// - Thread-safe: mutations are serialised; search runs concurrently with them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "workloads/data/database.h"
#include "workloads/docs/chunker.h"
#include "workloads/vector/vector_index.h"

namespace ut::vector {

enum class ChunkState { pending, embedded, failed };
const char* to_string(ChunkState s) noexcept;

struct DocumentStoreOptions {
  std::size_t dim = 384;
  ChunkerOptions chunker;
  TokenCounter count_tokens = count_words;
  std::string index_path;  // default: <database path>.hnsw (in-memory databases keep the index in memory)
  HnswParams hnsw;
  bool save_index_on_close = true;  // tests turn it off to simulate a crash
  // Called before each create/update/rename/remove takes the write lock (the engine waits there while a chat
  // that has not produced its first token holds the CPU cores: an edit's chunking and writes would slow it).
  std::function<void()> before_write;
};

struct DocumentInfo {
  uint64_t id = 0;
  std::string title;
  std::string source;  // where it came from (a file's absolute path); empty when none was given
  uint64_t version = 0;
  std::size_t chunks = 0, embedded = 0, pending = 0, failed = 0;
};

struct ChunkInfo {
  uint64_t id = 0, doc_id = 0;
  uint32_t ord = 0;
  std::string text;
  ChunkState state = ChunkState::pending;
};

struct SearchHit {
  uint64_t chunk_id = 0, doc_id = 0;
  uint32_t ord = 0;
  std::string title, text;
  std::string source;  // the document's (DocumentInfo::source)
  float score = 0;
};

class DocumentStore {
 public:
  DocumentStore(data::Database& db, DocumentStoreOptions options);
  ~DocumentStore();  // saves the index; never throws

  uint64_t create(const std::string& title, const std::string& body, const std::string& source = {});
  void update(uint64_t id, const std::string& body);  // throws UsageError for an unknown id
  // Sets the title and the source (an edit of the metadata only: chunks and embeddings stay).
  void rename(uint64_t id, const std::string& title, const std::string& source);
  bool remove(uint64_t id);
  std::optional<std::string> body(uint64_t id);
  std::optional<uint64_t> find_by_title(const std::string& title);
  std::optional<uint64_t> find_by_source(const std::string& source);
  std::optional<DocumentInfo> info(uint64_t id);
  std::vector<DocumentInfo> list();
  std::vector<ChunkInfo> chunks(uint64_t doc_id);

  std::vector<ChunkInfo> pending(std::size_t limit);
  // vectors: ids.size() × dim floats, row i for ids[i].
  void store_embeddings(std::span<const uint64_t> ids, std::span<const float> vectors, const std::string& model);
  void mark_failed(std::span<const uint64_t> ids, const std::string& error);

  std::vector<SearchHit> search(std::span<const float> query, std::size_t k);
  std::size_t indexed() const { return index_->size(); }
  std::size_t index_removed() const { return index_->removed(); }  // tombstones the index still holds
  bool index_was_rebuilt() const noexcept { return rebuilt_; }
  void save_index();

 private:
  void open_index();
  void apply_chunks(data::Session& s, std::string& sql, uint64_t doc_id, const std::string& body);
  std::vector<DocumentInfo> documents(const std::string& where);  // list() with a WHERE clause on d

  data::Database& db_;
  DocumentStoreOptions opt_;
  std::mutex write_mutex_;
  std::unique_ptr<HnswIndex> index_;
  uint64_t generation_ = 0;
  bool rebuilt_ = false;
};

// Floats <-> base64 text (how embeddings are stored: exact, and a plain VARCHAR for DuckDB).
std::string encode_floats(std::span<const float> v);
std::vector<float> decode_floats(std::string_view text);
// A DuckDB string literal: 'it''s'.
std::string sql_quote(std::string_view s);

}  // namespace ut::vector
