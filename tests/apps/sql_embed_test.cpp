// `ut sql --embed`: a query result becomes text rows in the documents, embedded, so chat can cite it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

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
