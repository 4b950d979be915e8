#include "workloads/docs/document_store.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "timeline/error.h"

namespace ut::vector {
namespace {

constexpr const char* kSchema = R"SQL(
CREATE SEQUENCE IF NOT EXISTS ut_doc_seq START 1;
CREATE SEQUENCE IF NOT EXISTS ut_chunk_seq START 1;
CREATE TABLE IF NOT EXISTS ut_documents(
  id BIGINT PRIMARY KEY, title VARCHAR NOT NULL, body VARCHAR NOT NULL, version BIGINT NOT NULL,
  updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp, source VARCHAR);
CREATE TABLE IF NOT EXISTS ut_chunks(
  id BIGINT PRIMARY KEY, doc_id BIGINT NOT NULL, ord INTEGER NOT NULL, hash UBIGINT NOT NULL, body VARCHAR NOT NULL,
  begin_off BIGINT NOT NULL, end_off BIGINT NOT NULL, tokens INTEGER NOT NULL, state VARCHAR NOT NULL,
  embedding VARCHAR, model VARCHAR, error VARCHAR);
CREATE TABLE IF NOT EXISTS ut_meta(key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
INSERT OR IGNORE INTO ut_meta VALUES ('index_generation', '0');
)SQL";

const data::QueryOptions kWrite{.access = data::Access::read_write};
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string id_list(std::span<const uint64_t> ids) {
  std::string s;
  for (auto id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

uint64_t as_u64(const data::Column& c, std::size_t row) {
  return c.physical() == data::Physical::i128 ? static_cast<uint64_t>(c.i128[row]) : static_cast<uint64_t>(c.i64[row]);
}

}  // namespace

const char* to_string(ChunkState s) noexcept {
  switch (s) {
    case ChunkState::pending: return "pending";
    case ChunkState::embedded: return "embedded";
    case ChunkState::failed: return "failed";
  }
  return "?";
}

static ChunkState state_of(const std::string& s) {
  return s == "embedded" ? ChunkState::embedded : s == "failed" ? ChunkState::failed : ChunkState::pending;
}

std::string sql_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\0') throw UsageError("[sql_quote] text contains a NUL byte");
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string encode_floats(std::span<const float> v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const std::size_t n = v.size_bytes();
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    const uint32_t b = (uint32_t{p[i]} << 16) | (i + 1 < n ? uint32_t{p[i + 1]} << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    out += kB64[(b >> 18) & 63];
    out += kB64[(b >> 12) & 63];
    out += i + 1 < n ? kB64[(b >> 6) & 63] : '=';
    out += i + 2 < n ? kB64[b & 63] : '=';
  }
  return out;
}

std::vector<float> decode_floats(std::string_view text) {
  int map[256];
  std::fill(std::begin(map), std::end(map), -1);
  for (int i = 0; i < 64; ++i) map[static_cast<unsigned char>(kB64[i])] = i;
  std::vector<unsigned char> bytes;
  bytes.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const int v = map[static_cast<unsigned char>(c)];
    if (v < 0) throw Error("[decode_floats] stored embedding is not base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<unsigned char>((acc >> bits) & 0xFF));
    }
  }
  if (bytes.size() % sizeof(float) != 0) throw Error("[decode_floats] stored embedding has a partial float");
  std::vector<float> v(bytes.size() / sizeof(float));
  // memcpy with the null data() of an empty vector is undefined even for 0 bytes (UBSan, Base64Floats test).
  if (!bytes.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

DocumentStore::DocumentStore(data::Database& db, DocumentStoreOptions options) : db_(db), opt_(std::move(options)) {
  if (opt_.dim == 0) throw UsageError("[DocumentStore::DocumentStore] dim must be > 0");
  const std::string& path = db_.options().path;
  if (opt_.index_path.empty() && !path.empty() && path != ":memory:") opt_.index_path = path + ".hnsw";
  db_.query(kSchema, kWrite);
  // Databases written before documents had a source: add the column (empty for their documents).
  if (db_.query("SELECT 1 FROM information_schema.columns WHERE table_name = 'ut_documents' AND column_name = 'source'")
          .rows() == 0)
    db_.query("ALTER TABLE ut_documents ADD COLUMN source VARCHAR", kWrite);
  open_index();
}

DocumentStore::~DocumentStore() {
  if (!opt_.save_index_on_close) return;
  try {
    save_index();
  } catch (...) {
    // The index is rebuilt from DuckDB on the next open; nothing is lost.
  }
}

void DocumentStore::open_index() {
  auto r = db_.query("SELECT value FROM ut_meta WHERE key = 'index_generation'");
  generation_ = r.rows() ? std::stoull(r.column(0).str[0]) : 0;
  if (!opt_.index_path.empty() && std::filesystem::exists(opt_.index_path) &&
      std::filesystem::exists(opt_.index_path + ".gen")) {
    uint64_t file_gen = UINT64_MAX;
    std::ifstream(opt_.index_path + ".gen") >> file_gen;
    if (file_gen == generation_) {
      try {
        index_ = HnswIndex::load(opt_.index_path, opt_.dim, opt_.hnsw);
        return;
      } catch (const Error&) {
        // Fall through: rebuild from DuckDB.
      }
    }
  }
  // Missing or stale (a crash after the last save): rebuild from the stored embeddings.
  index_ = std::make_unique<HnswIndex>(opt_.dim, opt_.hnsw);
  auto s = db_.connect();
  auto st = s.stream("SELECT id, embedding FROM ut_chunks WHERE state = 'embedded'");
  data::Result chunk;
  while (st.next(chunk)) {
    for (std::size_t i = 0; i < chunk.rows(); ++i) {
      const auto v = decode_floats(chunk.column(1).str[i]);
      if (v.size() != opt_.dim) continue;  // written by a model of another size: re-embedded when asked
      index_->upsert(as_u64(chunk.column(0), i), v);
    }
  }
  rebuilt_ = true;
}

void DocumentStore::save_index() {
  std::lock_guard lock(write_mutex_);
  if (opt_.index_path.empty()) return;
  index_->save(opt_.index_path);
  const std::string tmp = opt_.index_path + ".gen.tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << generation_;
    if (!f.flush()) throw Error("[DocumentStore::save_index] cannot write '" + tmp + "'");
  }
  std::filesystem::rename(tmp, opt_.index_path + ".gen");
}

// Appends to `sql` the statements that make doc_id's chunks match `body`; records chunk ids leaving the index.
void DocumentStore::apply_chunks(data::Session& s, std::string& sql, uint64_t doc_id, const std::string& body) {
  auto old = s.query("SELECT id, hash FROM ut_chunks WHERE doc_id = " + std::to_string(doc_id));
  std::unordered_multimap<uint64_t, uint64_t> by_hash;  // hash -> chunk id
  for (std::size_t i = 0; i < old.rows(); ++i) by_hash.emplace(as_u64(old.column(1), i), as_u64(old.column(0), i));
  const auto chunks = chunk_text(body, opt_.count_tokens, opt_.chunker);
  for (std::size_t ord = 0; ord < chunks.size(); ++ord) {
    const Chunk& c = chunks[ord];
    auto it = by_hash.find(c.hash);
    if (it != by_hash.end()) {
      sql += "UPDATE ut_chunks SET ord = " + std::to_string(ord) + ", begin_off = " + std::to_string(c.begin) +
             ", end_off = " + std::to_string(c.end) + " WHERE id = " + std::to_string(it->second) + ";\n";
      by_hash.erase(it);
    } else {
      sql += "INSERT INTO ut_chunks VALUES (nextval('ut_chunk_seq'), " + std::to_string(doc_id) + ", " +
             std::to_string(ord) + ", " + std::to_string(c.hash) + ", " + sql_quote(c.text) + ", " +
             std::to_string(c.begin) + ", " + std::to_string(c.end) + ", " + std::to_string(c.tokens) +
             ", 'pending', NULL, NULL, NULL);\n";
    }
  }
  if (!by_hash.empty()) {
    std::vector<uint64_t> gone;
    for (auto& [h, id] : by_hash) gone.push_back(id);
    sql += "DELETE FROM ut_chunks WHERE id IN (" + id_list(gone) + ");\n";
  }
}

uint64_t DocumentStore::create(const std::string& title, const std::string& body, const std::string& source) {
  if (title.empty()) throw UsageError("[DocumentStore::create] empty title");
  if (opt_.before_write) opt_.before_write();
  std::lock_guard lock(write_mutex_);
  auto s = db_.connect();
  const uint64_t id = as_u64(s.query("SELECT nextval('ut_doc_seq')", kWrite).column(0), 0);
  std::string sql = "INSERT INTO ut_documents (id, title, body, version, source) VALUES (" + std::to_string(id) +
                    ", " + sql_quote(title) + ", " + sql_quote(body) + ", 1, " +
                    (source.empty() ? std::string("NULL") : sql_quote(source)) + ");\n";
  apply_chunks(s, sql, id, body);
  s.query(sql, kWrite);
  return id;
}

void DocumentStore::update(uint64_t id, const std::string& body) {
  if (opt_.before_write) opt_.before_write();
  std::lock_guard lock(write_mutex_);
  auto s = db_.connect();
  if (s.query("SELECT 1 FROM ut_documents WHERE id = " + std::to_string(id)).rows() == 0) {
    throw UsageError("[DocumentStore::update] no document " + std::to_string(id));
  }
  auto before = s.query("SELECT id FROM ut_chunks WHERE doc_id = " + std::to_string(id));
  std::string sql = "UPDATE ut_documents SET body = " + sql_quote(body) +
                    ", version = version + 1, updated_at = current_timestamp WHERE id = " + std::to_string(id) + ";\n";
  apply_chunks(s, sql, id, body);
  const bool drops_chunks = sql.find("DELETE FROM ut_chunks") != std::string::npos;
  if (drops_chunks) {
    // The index changes: the saved index file is stale from now on until the next save.
    sql += "UPDATE ut_meta SET value = '" + std::to_string(++generation_) + "' WHERE key = 'index_generation';\n";
  }
  s.query(sql, kWrite);
  // Drop the chunks that are gone from the index (after the commit: a failed edit changes nothing).
  auto after = s.query("SELECT id FROM ut_chunks WHERE doc_id = " + std::to_string(id));
  std::vector<uint64_t> still;
  for (std::size_t i = 0; i < after.rows(); ++i) still.push_back(as_u64(after.column(0), i));
  for (std::size_t i = 0; i < before.rows(); ++i) {
    const uint64_t cid = as_u64(before.column(0), i);
    if (std::find(still.begin(), still.end(), cid) == still.end()) index_->remove(cid);
  }
}

void DocumentStore::rename(uint64_t id, const std::string& title, const std::string& source) {
  if (title.empty()) throw UsageError("[DocumentStore::rename] empty title");
  if (opt_.before_write) opt_.before_write();
  std::lock_guard lock(write_mutex_);
  auto s = db_.connect();
  if (s.query("SELECT 1 FROM ut_documents WHERE id = " + std::to_string(id)).rows() == 0)
    throw UsageError("[DocumentStore::rename] no document " + std::to_string(id));
  s.query("UPDATE ut_documents SET title = " + sql_quote(title) +
              ", source = " + (source.empty() ? std::string("NULL") : sql_quote(source)) +
              ", updated_at = current_timestamp WHERE id = " + std::to_string(id),
          kWrite);
}

bool DocumentStore::remove(uint64_t id) {
  if (opt_.before_write) opt_.before_write();
  std::lock_guard lock(write_mutex_);
  auto s = db_.connect();
  auto gone = s.query("SELECT id FROM ut_chunks WHERE doc_id = " + std::to_string(id));
  if (s.query("SELECT 1 FROM ut_documents WHERE id = " + std::to_string(id)).rows() == 0) return false;
  s.query("DELETE FROM ut_chunks WHERE doc_id = " + std::to_string(id) + ";\nDELETE FROM ut_documents WHERE id = " +
              std::to_string(id) + ";\nUPDATE ut_meta SET value = '" + std::to_string(++generation_) +
              "' WHERE key = 'index_generation';",
          kWrite);
  for (std::size_t i = 0; i < gone.rows(); ++i) index_->remove(as_u64(gone.column(0), i));
  return true;
}

std::optional<std::string> DocumentStore::body(uint64_t id) {
  auto r = db_.query("SELECT body FROM ut_documents WHERE id = " + std::to_string(id));
  if (r.rows() == 0) return std::nullopt;
  return r.column(0).str[0];
}

std::optional<uint64_t> DocumentStore::find_by_title(const std::string& title) {
  auto r = db_.query("SELECT id FROM ut_documents WHERE title = " + sql_quote(title) + " ORDER BY id LIMIT 1");
  if (r.rows() == 0) return std::nullopt;
  return as_u64(r.column(0), 0);
}

std::optional<uint64_t> DocumentStore::find_by_source(const std::string& source) {
  if (source.empty()) return std::nullopt;
  auto r = db_.query("SELECT id FROM ut_documents WHERE source = " + sql_quote(source) + " ORDER BY id LIMIT 1");
  if (r.rows() == 0) return std::nullopt;
  return as_u64(r.column(0), 0);
}

std::vector<DocumentInfo> DocumentStore::documents(const std::string& where) {
  auto r = db_.query(
      "SELECT d.id, d.title, coalesce(d.source, ''), d.version, count(c.id), "
      "count(c.id) FILTER (WHERE c.state = 'embedded'), count(c.id) FILTER (WHERE c.state = 'pending'), "
      "count(c.id) FILTER (WHERE c.state = 'failed') "
      "FROM ut_documents d LEFT JOIN ut_chunks c ON c.doc_id = d.id " + where + " GROUP BY ALL ORDER BY d.id");
  std::vector<DocumentInfo> out;
  for (std::size_t i = 0; i < r.rows(); ++i) {
    out.push_back({as_u64(r.column(0), i), r.column(1).str[i], r.column(2).str[i], as_u64(r.column(3), i),
                   as_u64(r.column(4), i), as_u64(r.column(5), i), as_u64(r.column(6), i), as_u64(r.column(7), i)});
  }
  return out;
}

std::vector<DocumentInfo> DocumentStore::list() { return documents(""); }

std::optional<DocumentInfo> DocumentStore::info(uint64_t id) {
  auto d = documents("WHERE d.id = " + std::to_string(id));
  if (d.empty()) return std::nullopt;
  return d[0];
}

std::vector<ChunkInfo> DocumentStore::chunks(uint64_t doc_id) {
  auto r = db_.query("SELECT id, doc_id, ord, body, state FROM ut_chunks WHERE doc_id = " + std::to_string(doc_id) +
                     " ORDER BY ord");
  std::vector<ChunkInfo> out;
  for (std::size_t i = 0; i < r.rows(); ++i) {
    out.push_back({as_u64(r.column(0), i), as_u64(r.column(1), i), static_cast<uint32_t>(r.column(2).i64[i]),
                   r.column(3).str[i], state_of(r.column(4).str[i])});
  }
  return out;
}

std::vector<ChunkInfo> DocumentStore::pending(std::size_t limit) {
  // Newest first: a fresh edit or SQL result is what someone is about to ask about; a backlog can wait.
  auto r = db_.query("SELECT id, doc_id, ord, body FROM ut_chunks WHERE state = 'pending' ORDER BY id DESC LIMIT " +
                     std::to_string(limit));
  std::vector<ChunkInfo> out;
  for (std::size_t i = 0; i < r.rows(); ++i) {
    out.push_back({as_u64(r.column(0), i), as_u64(r.column(1), i), static_cast<uint32_t>(r.column(2).i64[i]),
                   r.column(3).str[i], ChunkState::pending});
  }
  return out;
}

void DocumentStore::store_embeddings(std::span<const uint64_t> ids, std::span<const float> vectors,
                                     const std::string& model) {
  if (vectors.size() != ids.size() * opt_.dim) {
    throw UsageError("[DocumentStore::store_embeddings] expected " + std::to_string(ids.size()) + " × " +
                     std::to_string(opt_.dim) + " floats");
  }
  if (ids.empty()) return;
  std::lock_guard lock(write_mutex_);
  auto s = db_.connect();
  std::string sql;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    sql += "UPDATE ut_chunks SET state = 'embedded', error = NULL, model = " + sql_quote(model) + ", embedding = '" +
           encode_floats(vectors.subspan(i * opt_.dim, opt_.dim)) + "' WHERE id = " + std::to_string(ids[i]) + ";\n";
  }
  sql += "UPDATE ut_meta SET value = '" + std::to_string(++generation_) + "' WHERE key = 'index_generation';\n";
  s.query(sql, kWrite);
  // Index only chunks that still exist (a concurrent edit may have removed some).
  auto live = s.query("SELECT id FROM ut_chunks WHERE state = 'embedded' AND id IN (" + id_list(ids) + ")");
  std::unordered_map<uint64_t, std::size_t> row;
  for (std::size_t i = 0; i < ids.size(); ++i) row[ids[i]] = i;
  for (std::size_t i = 0; i < live.rows(); ++i) {
    const uint64_t id = as_u64(live.column(0), i);
    index_->upsert(id, vectors.subspan(row[id] * opt_.dim, opt_.dim));
  }
}

void DocumentStore::mark_failed(std::span<const uint64_t> ids, const std::string& error) {
  if (ids.empty()) return;
  std::lock_guard lock(write_mutex_);
  db_.query("UPDATE ut_chunks SET state = 'failed', error = " + sql_quote(error) + " WHERE id IN (" + id_list(ids) + ")",
            kWrite);
}

std::vector<SearchHit> DocumentStore::search(std::span<const float> query, std::size_t k) {
  const auto hits = index_->search(query, k);
  if (hits.empty()) return {};
  std::vector<uint64_t> ids;
  for (auto& h : hits) ids.push_back(h.id);
  auto r = db_.query("SELECT c.id, c.doc_id, c.ord, c.body, d.title, coalesce(d.source, '') FROM ut_chunks c JOIN ut_documents d ON d.id = "
                     "c.doc_id WHERE c.id IN (" + id_list(ids) + ")");
  std::unordered_map<uint64_t, std::size_t> at;
  for (std::size_t i = 0; i < r.rows(); ++i) at[as_u64(r.column(0), i)] = i;
  std::vector<SearchHit> out;
  for (auto& h : hits) {
    auto it = at.find(h.id);
    if (it == at.end()) continue;  // removed between the index search and the lookup
    const std::size_t i = it->second;
    out.push_back({h.id, as_u64(r.column(1), i), static_cast<uint32_t>(r.column(2).i64[i]), r.column(4).str[i],
                   r.column(3).str[i], r.column(5).str[i], h.score});
  }
  return out;
}

}  // namespace ut::vector
