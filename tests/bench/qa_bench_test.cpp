// `ut bench qa`: the rule that decides whether an answer is right, and the committed question set itself.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>

#include "bench/qa/qa_bench.h"

namespace {

using ut::bench::names_package;

TEST(QaBench, AnswerNamesThePackageAsAWholeWord) {
  EXPECT_TRUE(names_package("abicheck: binary compatibility checking tool", "abicheck"));
  EXPECT_TRUE(names_package("You want agenda.app.", "agenda.app"));         // a sentence's dot is not the name's
  EXPECT_TRUE(names_package("Install libstdc++6 for that", "libstdc++6"));  // + belongs to names
  EXPECT_TRUE(names_package("[Mlmmj#0] says so", "mlmmj"));                 // case ignored, brackets split
  EXPECT_FALSE(names_package("abicheck-dev: headers", "abicheck"));        // another package
  EXPECT_FALSE(names_package("libabicheck: a library", "abicheck"));
  EXPECT_FALSE(names_package("agenda: a calendar", "agenda.app"));
  EXPECT_FALSE(names_package("", "abicheck"));
}

TEST(QaBench, CommittedSetHoldsFiftyQuestionsWhoseAnswersAreAmongTheDocuments) {
  std::ifstream f(std::string(UT_SOURCE_DIR) + "/models/debian/qa-eval.jsonl");
  ASSERT_TRUE(f) << "models/debian/qa-eval.jsonl is missing (tools/train/make_qa_set.py)";
  std::set<std::string> asked, stored;
  for (std::string line; std::getline(f, line);) {
    const auto j = nlohmann::json::parse(line);
    const std::string pkg = j.at("package"), doc = j.at("doc");
    EXPECT_TRUE(stored.insert(pkg).second) << "document stored twice: " << pkg;
    EXPECT_EQ(doc.substr(0, pkg.size() + 1), pkg + "\n") << "a document starts with its package's name";
    if (j.contains("question")) {
      asked.insert(pkg);
      const std::string q = j.at("question");
      EXPECT_FALSE(names_package(q, pkg)) << "the question gives the answer away: " << q;
    }
  }
  EXPECT_EQ(asked.size(), 50u);
  EXPECT_EQ(stored.size(), 1000u);
  for (const auto& p : asked) EXPECT_TRUE(stored.count(p)) << p;
}

}  // namespace
