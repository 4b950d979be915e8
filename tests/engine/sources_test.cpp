// A chat's sources: the search's first rag_k candidates, and before them a stored query result found among the
// first result_window (choose_sources); Runtime::store_result marks its document as a result.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/assistant.h"
#include "runtime_fixture.h"

using namespace std::chrono_literals;
using ut::test::AssistantTest;
using ut::vector::SearchHit;

namespace {

std::vector<SearchHit> ranked(const std::string& kinds) {  // 'd' a document, 'r' a stored result; best first
  std::vector<SearchHit> hits;
  for (std::size_t i = 0; i < kinds.size(); ++i)
    hits.push_back({.chunk_id = i, .doc_id = i, .title = "t" + std::to_string(i),
                    .source = kinds[i] == 'r' ? std::string(ut::engine::kResultSource) + "SELECT " + std::to_string(i)
                                              : "/notes/" + std::to_string(i) + ".md",
                    .score = 1.0f - 0.1f * static_cast<float>(i)});
  return hits;
}

std::vector<uint64_t> ids(const std::vector<SearchHit>& hits) {
  std::vector<uint64_t> out;
  for (const auto& h : hits) out.push_back(h.chunk_id);
  return out;
}

TEST(ChooseSources, AResultInsideTheWindowGoesBeforeTheFirstK) {
  EXPECT_EQ(ids(ut::engine::choose_sources(ranked("ddrdr"), 1, 8)), (std::vector<uint64_t>{2, 0}));
  EXPECT_EQ(ids(ut::engine::choose_sources(ranked("dddddddr"), 2, 8)), (std::vector<uint64_t>{7, 0, 1}));
}

TEST(ChooseSources, AResultAmongTheFirstKIsNotRepeatedAndOnlyTheBestJoins) {
  EXPECT_EQ(ids(ut::engine::choose_sources(ranked("rdrd"), 2, 8)), (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(ids(ut::engine::choose_sources(ranked("ddrrd"), 1, 8)), (std::vector<uint64_t>{2, 0}));
}

TEST(ChooseSources, OutsideTheWindowOrWithNoWindowTheRankDecides) {
  EXPECT_EQ(ids(ut::engine::choose_sources(ranked("dddddddddr"), 1, 8)), (std::vector<uint64_t>{0}));
  EXPECT_EQ(ids(ut::engine::choose_sources(ranked("ddr"), 1, 0)), (std::vector<uint64_t>{0}));
  EXPECT_EQ(ids(ut::engine::choose_sources(ranked("dd"), 3, 8)), (std::vector<uint64_t>{0, 1}));
  EXPECT_TRUE(ut::engine::choose_sources({}, 3, 8).empty());
}

// End to end: the stored result carries its SQL as the source and reaches every chat's sources while it is among
// the candidates (here: six documents, so always), whatever the first rag_k are.
TEST_F(AssistantTest, AStoredQueryResultReachesTheChatsContext) {
  start();
  const char* notes[] = {"apt installs Debian packages.", "dpkg unpacks archives.", "systemd starts services.",
                         "grub boots the kernel.", "cron runs jobs on a schedule."};
  for (int i = 0; i < 5; ++i) ai->docs()->create("note" + std::to_string(i) + ".md", notes[i]);
  const std::string sql = "SELECT 'libs' AS section, 7273 AS packages UNION ALL SELECT 'python', 4210";
  const auto stored = rt->store_result("sql: sections", sql, rt->data().submit({.sql = sql}).get());
  ASSERT_TRUE(ai->wait_indexed(60s));
  const auto info = ai->docs()->info(stored.doc_id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->source, std::string(ut::engine::kResultSource) + sql);
  ASSERT_LT(ai->rag_k(), 6u) << "the test needs the result to compete with documents ranked above it";
  for (const char* q : {"What installs packages?", "Which sections are largest?", "How does the system boot?",
                        "What runs jobs?", "Which section has the most packages?", "What unpacks archives?"}) {
    auto j = post("/v1/chat/completions",
                  {{"messages", {{{"role", "user"}, {"content", q}}}}, {"max_tokens", 2}, {"temperature", 0}}, 200);
    std::vector<std::string> titles;
    for (const auto& s : j["sources"]) titles.push_back(s["document"]);
    EXPECT_NE(std::find(titles.begin(), titles.end(), "sql: sections"), titles.end()) << q;
    EXPECT_LE(titles.size(), ai->rag_k() + 1) << q;
  }
}

}  // namespace
