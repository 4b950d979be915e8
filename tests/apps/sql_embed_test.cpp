// `ut sql --embed`: a query result becomes text rows in the documents, embedded, so chat can cite it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cwchar>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "workloads/data/database.h"
#include "workloads/docs/document_store.h"

TEST(SqlEmbed, ResultRowsBecomeAnEmbeddedDocument) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_sql_embed_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "e.duckdb").string();
  const std::string cmd = std::string(UT_BINARY) + " sql --db " + db +
                          " \"SELECT 42 AS answer, 'queues' AS topic UNION ALL SELECT 7, 'events'\" --embed > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ut::data::Database d({.path = db});
  ut::vector::DocumentStore store(d, {.dim = 64});
  auto docs = store.list();
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].title.rfind("sql: SELECT 42", 0), 0u);
  EXPECT_EQ(docs[0].pending, 0u);
  EXPECT_GE(docs[0].embedded, 1u);
  const std::string body = store.body(docs[0].id).value();
  EXPECT_NE(body.find("answer: 42; topic: queues."), std::string::npos) << body;
  EXPECT_NE(body.find("answer: 7; topic: events."), std::string::npos) << body;
  EXPECT_EQ(store.indexed(), docs[0].embedded);
  std::filesystem::remove_all(dir);
}

namespace {

// Runs a shell command; its stdout, or nullopt when it did not exit 0.
std::optional<std::string> run(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return std::nullopt;
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  return pclose(p) == 0 ? std::optional(out) : std::nullopt;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string sql_literal(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

class SqlFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::path(::testing::TempDir()) / ("ut_sql_format_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string ut_sql(const std::string& format, const std::string& sql) const {
    return std::string(UT_BINARY) + " sql --db " + (dir / "f.duckdb").string() + " --format " + format + " " +
           shell_quote(sql) + " 2>/dev/null";
  }
  std::filesystem::path dir;
};

// Random text with what CSV must quote: commas, quotes, line breaks, and non-ASCII letters.
std::string awkward_text(std::mt19937_64& rng) {
  static const char* parts[] = {"apt", ",", "\"", "\n", "Grüße", "日本", " ", "'", "x;y", "tab\there"};
  std::string s;
  for (int i = 0, n = 1 + static_cast<int>(rng() % 5); i < n; ++i) s += parts[rng() % 10];
  return s;
}

TEST_F(SqlFormat, CsvPipesIntoPythonsCsvModule) {
  if (std::system("python3 -c 'import csv' 2>/dev/null") != 0) GTEST_SKIP() << "python3 is not installed";
  std::mt19937_64 rng(std::random_device{}());
  std::vector<std::vector<std::string>> want = {{"n", "label, quoted \"too\"", "nothing"}};
  std::string sql = "SELECT * FROM (VALUES ";
  for (int i = 0; i < 20; ++i) {
    const int64_t n = static_cast<int64_t>(rng() % 2000000) - 1000000;
    const std::string text = awkward_text(rng);
    want.push_back({std::to_string(n), text, ""});
    sql += std::string(i ? ", " : "") + "(" + std::to_string(n) + ", " + sql_literal(text) + ", NULL::VARCHAR)";
  }
  sql += ") t(n, \"label, quoted \"\"too\"\"\", nothing)";
  const auto out = run(ut_sql("csv", sql) +
                       " | python3 -c 'import csv, io, json, sys; "
                       "print(json.dumps(list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding=\"utf-8\", "
                       "newline=\"\")))))'");
  ASSERT_TRUE(out.has_value()) << "ut sql --format csv | python3 csv failed";
  const auto rows = nlohmann::json::parse(*out).get<std::vector<std::vector<std::string>>>();
  EXPECT_EQ(rows, want);
}

TEST_F(SqlFormat, JsonIsAnArrayOfObjectsWithTypedValues) {
  std::mt19937_64 rng(std::random_device{}());
  const int64_t big = static_cast<int64_t>(rng() >> 2);
  const std::string text = awkward_text(rng);
  const auto out = run(ut_sql("json", "SELECT " + std::to_string(big) + "::BIGINT AS i, 2.5::DOUBLE AS d, 12.30::DECIMAL(6,2)"
                                      " AS m, true AS b, NULL::INTEGER AS z, DATE '2026-12-07' AS day, " +
                                      sql_literal(text) + " AS s UNION ALL SELECT 1, 0.1, 0, false, 4, NULL, ''"));
  ASSERT_TRUE(out.has_value());
  const auto j = nlohmann::json::parse(*out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["i"], big);
  EXPECT_TRUE(j[0]["i"].is_number_integer());
  EXPECT_EQ(j[0]["d"], 2.5);
  EXPECT_DOUBLE_EQ(j[0]["m"].get<double>(), 12.3);
  EXPECT_EQ(j[0]["b"], true);
  EXPECT_TRUE(j[0]["z"].is_null());
  EXPECT_EQ(j[0]["day"], "2026-12-07");
  EXPECT_EQ(j[0]["s"], text);
  EXPECT_EQ(j[1]["z"], 4);
  EXPECT_TRUE(j[1]["day"].is_null());
  EXPECT_EQ(j[1]["s"], "");
  const auto empty = run(ut_sql("json", "SELECT 1 AS a WHERE false"));
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(nlohmann::json::parse(*empty), nlohmann::json::array());
}

// Terminal columns of UTF-8 text by the C library's own wcwidth (an oracle independent of ut's width rule).
std::size_t columns_by_libc(const std::string& s) {
  std::mbstate_t st{};
  std::size_t cols = 0;
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    wchar_t wc = 0;
    const std::size_t n = std::mbrtowc(&wc, p, static_cast<std::size_t>(end - p), &st);
    if (n == static_cast<std::size_t>(-1) || n == static_cast<std::size_t>(-2) || n == 0) return SIZE_MAX;
    const int w = wcwidth(wc);
    cols += w > 0 ? static_cast<std::size_t>(w) : 0;
    p += n;
  }
  return cols;
}

// The first `count` lines of `text`.
std::vector<std::string> first_lines(const std::string& text, std::size_t count) {
  std::vector<std::string> lines;
  for (std::size_t start = 0; lines.size() < count && start < text.size();) {
    const std::size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl - start));
    start = nl == std::string::npos ? text.size() : nl + 1;
  }
  return lines;
}

// The display columns at which `sep` occurs in `line`.
std::vector<std::size_t> columns_of(const std::string& line, const std::string& sep) {
  std::vector<std::size_t> cols;
  for (std::size_t k = line.find(sep); k != std::string::npos; k = line.find(sep, k + sep.size()))
    cols.push_back(columns_by_libc(line.substr(0, k)));
  return cols;
}

TEST_F(SqlFormat, TableAndMarkdownAlignNonAsciiTextByDisplayWidth) {
  ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr) << "the C.UTF-8 locale is needed for the oracle";
  ASSERT_EQ(columns_by_libc("日本"), 4u);
  ASSERT_EQ(columns_by_libc("e\u0301"), 1u);
  const std::string sql =
      "SELECT * FROM (VALUES ('Grüße', 1, 'ok'), ('日本語のテキスト', 22, 'x'), ('e\u0301te\u0301', 333, '한국어'), "
      "('plain', 4444, 'ascii')) t(name, n, note)";
  const auto table = run(ut_sql("table", sql));
  ASSERT_TRUE(table.has_value());
  // Header, types, the rule and four rows: " | " (the rule's "-+-") at the same columns on every line.
  const auto lines = first_lines(*table, 7);
  ASSERT_EQ(lines.size(), 7u) << *table;
  const auto want = columns_of(lines[0], " | ");
  ASSERT_EQ(want.size(), 2u) << *table;
  for (std::size_t i = 1; i < lines.size(); ++i)
    EXPECT_EQ(columns_of(lines[i], i == 2 ? "-+-" : " | "), want) << "line " << i << " of\n" << *table;
  EXPECT_NE(table->find("(4 rows)"), std::string::npos) << *table;
  const auto md = run(ut_sql("markdown", sql));
  ASSERT_TRUE(md.has_value());
  const auto md_lines = first_lines(*md, 6);
  ASSERT_EQ(md_lines.size(), 6u) << *md;
  for (const auto& line : md_lines) EXPECT_EQ(columns_of(line, "|"), columns_of(md_lines[0], "|")) << *md;
  EXPECT_NE(md->find("|---"), std::string::npos) << *md;
  EXPECT_NE(md->find(":|"), std::string::npos) << "numbers are right-aligned:\n" << *md;
}

}  // namespace
