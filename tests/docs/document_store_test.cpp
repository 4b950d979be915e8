#include "workloads/docs/document_store.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <filesystem>
#include <random>

#include "timeline/error.h"

namespace {

using ut::vector::DocumentStore;

constexpr std::size_t kDim = 32;

// Deterministic unit vector per chunk text (stands in for an embedder: this tests storage and indexing).
std::vector<float> vec_for(const std::string& text) {
  std::mt19937_64 rng(std::hash<std::string>{}(text));
  std::normal_distribution<float> nd;
  std::vector<float> v(kDim);
  double n = 0;
  for (auto& x : v) n += std::pow(x = nd(rng), 2);
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

void embed_pending(DocumentStore& s) {
  auto p = s.pending(1000);
  std::vector<uint64_t> ids;
  std::vector<float> m;
  for (auto& c : p) {
    ids.push_back(c.id);
    auto v = vec_for(c.text);
    m.insert(m.end(), v.begin(), v.end());
  }
  s.store_embeddings(ids, m, "test-hash-embedder");
}

std::string paragraphs(int n, const std::string& tag) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "Paragraph " + std::to_string(i) + " about " + tag + " with a few words.\n\n";
  return s;
}

class DocumentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::path(::testing::TempDir()) / ("ut_docs_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    path = (dir / "engine.duckdb").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  ut::vector::DocumentStoreOptions opts(bool save = true) {
    return {.dim = kDim, .chunker = {.max_tokens = 12, .overlap_tokens = 0}, .save_index_on_close = save};
  }
  std::filesystem::path dir;
  std::string path;
};

TEST_F(DocumentStoreTest, EditReembedsExactlyTheChangedChunks) {
  ut::data::Database db({.path = path});
  DocumentStore s(db, opts());
  const auto id = s.create("notes.md", paragraphs(6, "queues"));
  auto chunks = s.chunks(id);
  ASSERT_EQ(chunks.size(), 6u);
  EXPECT_EQ(s.pending(100).size(), 6u);
  embed_pending(s);
  EXPECT_TRUE(s.pending(100).empty());
  // Change paragraph 2 and 4 only.
  std::string body = paragraphs(6, "queues");
  body.replace(body.find("Paragraph 2 about queues"), 24, "Paragraph 2 about events");
  body.replace(body.find("Paragraph 4 about queues"), 24, "Paragraph 4 about heaps!");
  s.update(id, body);
  auto pending = s.pending(100);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_GT(pending[0].id, pending[1].id);  // newest chunks first
  std::sort(pending.begin(), pending.end(), [](auto& a, auto& b) { return a.ord < b.ord; });
  EXPECT_NE(pending[0].text.find("events"), std::string::npos);
  EXPECT_NE(pending[1].text.find("heaps"), std::string::npos);
  auto info = s.list();
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].version, 2u);
  EXPECT_EQ(info[0].embedded, 4u);
  EXPECT_EQ(info[0].pending, 2u);
  EXPECT_EQ(s.body(id).value(), body) << "an edit is visible at once";
  EXPECT_THROW(s.update(999, "x"), ut::UsageError);
}

TEST_F(DocumentStoreTest, SearchFindsChunksAndDeletesReallyRemoveThem) {
  ut::data::Database db({.path = path});
  DocumentStore s(db, opts());
  const auto a = s.create("a.md", paragraphs(3, "alpha"));
  const auto b = s.create("b.md", paragraphs(3, "beta"));
  embed_pending(s);
  const auto target = s.chunks(b)[1];
  auto hits = s.search(vec_for(target.text), 3);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].chunk_id, target.id);
  EXPECT_EQ(hits[0].title, "b.md");
  EXPECT_NEAR(hits[0].score, 1.0f, 1e-4);
  EXPECT_TRUE(s.remove(b));
  EXPECT_FALSE(s.remove(b));
  for (auto& h : s.search(vec_for(target.text), 10)) EXPECT_EQ(h.doc_id, a) << "deleted document returned";
  EXPECT_EQ(s.indexed(), 3u);
  // Text with quotes and newlines round-trips.
  const std::string tricky = "It's a 'quoted'\nline; DROP TABLE ut_documents; --";
  const auto t = s.create("o'brien.md", tricky);
  EXPECT_EQ(s.body(t).value(), tricky);
  EXPECT_EQ(s.find_by_title("o'brien.md").value(), t);
}

TEST_F(DocumentStoreTest, ReopenUsesSavedIndexAndRebuildsAfterACrash) {
  std::vector<ut::vector::SearchHit> before;
  const auto q = vec_for("query");
  {
    ut::data::Database db({.path = path});
    DocumentStore s(db, opts(/*save=*/true));
    s.create("a.md", paragraphs(5, "alpha"));
    embed_pending(s);
    before = s.search(q, 5);
  }
  {
    ut::data::Database db({.path = path});
    DocumentStore s(db, opts(/*save=*/false));
    EXPECT_FALSE(s.index_was_rebuilt()) << "a cleanly saved index is loaded, not rebuilt";
    ASSERT_EQ(s.search(q, 5).size(), before.size());
    // More committed work, then a "crash": the index file is not saved again.
    s.create("b.md", paragraphs(4, "beta"));
    embed_pending(s);
  }
  ut::data::Database db({.path = path});
  DocumentStore s(db, opts());
  EXPECT_TRUE(s.index_was_rebuilt()) << "the stale index must be rebuilt from DuckDB";
  EXPECT_EQ(s.indexed(), 9u);
  EXPECT_EQ(s.list().size(), 2u);
}

// A database written before documents had a source opens, gains the column, and keeps its documents and chunks.
TEST_F(DocumentStoreTest, OpensADatabaseWrittenBeforeSourcesAndRecordsThem) {
  const std::string old_body = paragraphs(3, "legacy");
  {
    ut::data::Database db({.path = path});
    const ut::data::QueryOptions w{.access = ut::data::Access::read_write};
    // The schema as the first versions wrote it (no source column), with one document and its chunk.
    db.query(R"SQL(
      CREATE SEQUENCE ut_doc_seq START 2; CREATE SEQUENCE ut_chunk_seq START 2;
      CREATE TABLE ut_documents(id BIGINT PRIMARY KEY, title VARCHAR NOT NULL, body VARCHAR NOT NULL,
        version BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
      CREATE TABLE ut_chunks(id BIGINT PRIMARY KEY, doc_id BIGINT NOT NULL, ord INTEGER NOT NULL, hash UBIGINT NOT NULL,
        body VARCHAR NOT NULL, begin_off BIGINT NOT NULL, end_off BIGINT NOT NULL, tokens INTEGER NOT NULL,
        state VARCHAR NOT NULL, embedding VARCHAR, model VARCHAR, error VARCHAR);
      CREATE TABLE ut_meta(key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
      INSERT INTO ut_meta VALUES ('index_generation', '0');)SQL", w);
    db.query("INSERT INTO ut_documents (id, title, body, version) VALUES (1, '/old/path/notes.md', " +
                 ut::vector::sql_quote(old_body) + ", 3);\n"
                 "INSERT INTO ut_chunks VALUES (1, 1, 0, 7, 'legacy chunk', 0, 12, 2, 'pending', NULL, NULL, NULL);",
             w);
  }
  std::mt19937_64 rng(std::random_device{}());
  const std::string source = "/srv/docs/guide-" + std::to_string(rng() % 100000) + ".md";
  uint64_t id = 0;
  {
    ut::data::Database db({.path = path});
    DocumentStore s(db, opts());
    auto docs = s.list();
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0].title, "/old/path/notes.md");
    EXPECT_EQ(docs[0].source, "") << "documents of the old version have no source";
    EXPECT_EQ(docs[0].version, 3u);
    EXPECT_EQ(docs[0].pending, 1u);
    EXPECT_EQ(s.body(1).value(), old_body);
    id = s.create("Guide", paragraphs(2, "guide"), source);
    EXPECT_EQ(s.find_by_source(source), id);
    EXPECT_FALSE(s.find_by_source("/no/such/file.md").has_value());
    EXPECT_FALSE(s.find_by_source("").has_value()) << "no source is not a source";
    // The old document gets a title and a source; its chunks stay as they were.
    s.rename(1, "notes", "/old/path/notes.md");
    EXPECT_EQ(s.info(1)->title, "notes");
    EXPECT_EQ(s.find_by_source("/old/path/notes.md"), 1u);
    EXPECT_EQ(s.chunks(1).size(), 1u);
    EXPECT_THROW(s.rename(999, "x", ""), ut::UsageError);
  }
  ut::data::Database db({.path = path});  // a second open finds the column there
  DocumentStore s(db, opts());
  const auto info = s.info(id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->title, "Guide");
  EXPECT_EQ(info->source, source);
  EXPECT_EQ(s.list().size(), 2u);
}

TEST(Base64Floats, RoundTripIsExact) {
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<float> d(-1e6f, 1e6f);
  for (int n : {0, 1, 2, 3, 5, 384}) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = d(rng);
    EXPECT_EQ(ut::vector::decode_floats(ut::vector::encode_floats(v)), v);
  }
  EXPECT_THROW(ut::vector::decode_floats("@@@@"), ut::Error);
}

}  // namespace
