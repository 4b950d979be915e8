// GenRun's sampling options beyond the basic chain, against oracles written here from the definitions:
// penalties (llama.cpp's formula, recomputed over our own history), JSON grammars (llama.cpp parses them, and
// what they generate parses as JSON).
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>

#include <llama.h>
#include <nlohmann/json.hpp>

#include "tests/ml/fixture.h"
#include "timeline/error.h"
#include "workloads/ml/json_grammar.h"
#include "workloads/ml/gen_run.h"
#include "workloads/ml/generator.h"

namespace ut::ml {
namespace {

class SamplingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::fresh_seed();
    rng_.seed(seed_);
    model_ = Model::load(test::tiny_decoder_path(), ModelKind::decoder);
  }
  // A row of logits where a handful of tokens lead closely, so penalties change the winner.
  std::vector<float> row() {
    std::uniform_real_distribution<float> low(-4.0f, 0.5f), high(2.0f, 2.5f);
    std::vector<float> l(static_cast<std::size_t>(model_->n_vocab()));
    for (auto& x : l) x = low(rng_);
    for (int i = 0; i < 6; ++i) l[rng_() % l.size()] = high(rng_);
    return l;
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  ModelPtr model_;
};

TEST_F(SamplingTest, GreedyWithPenaltiesFollowsTheFormulaOverTheLastNTokens) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::uniform_real_distribution<float> pen(0.1f, 2.0f), rep(1.05f, 1.8f);
  for (int variant = 0; variant < 4; ++variant) {
    GenerateOptions o;
    o.sampling.temperature = 0.0f;
    o.sampling.presence_penalty = variant & 1 ? pen(rng_) : 0.0f;
    o.sampling.frequency_penalty = variant & 2 ? pen(rng_) : 0.0f;
    o.sampling.repeat_penalty = variant == 0 ? rep(rng_) : 1.0f;
    o.sampling.penalty_last_n = 2 + static_cast<int>(rng_() % 6);
    ASSERT_TRUE(o.sampling.penalized());
    GenRun run(*model_, {1}, o);
    std::deque<int32_t> window;  // the oracle's own history
    // The repeated row has two leaders 0.05 apart: the smallest penalty drawn above makes the second win.
    auto fixed = row();
    const auto lead = rng_() % fixed.size(), second = (lead + 1 + rng_() % (fixed.size() - 1)) % fixed.size();
    fixed[lead] = 3.0f;
    fixed[second] = 2.95f;
    bool differs = false;
    for (int step = 0; step < 30; ++step) {
      auto l = step % 2 ? row() : fixed;  // a repeated row shows the penalties at work
      std::map<int32_t, int> count;
      for (int32_t t : window) ++count[t];
      auto p = l;
      for (auto [t, c] : count) {
        float& x = p[static_cast<std::size_t>(t)];
        x = x <= 0 ? x * o.sampling.repeat_penalty : x / o.sampling.repeat_penalty;
        x -= float(c) * o.sampling.frequency_penalty + float(c > 0) * o.sampling.presence_penalty;
      }
      const auto want = static_cast<int32_t>(std::max_element(p.begin(), p.end()) - p.begin());
      const auto plain = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
      differs |= want != plain;
      ASSERT_EQ(run.sample(l.data()), want) << "variant " << variant << ", step " << step;
      window.push_back(want);
      if (static_cast<int>(window.size()) > o.sampling.penalty_last_n) window.pop_front();
    }
    EXPECT_TRUE(differs) << "variant " << variant << ": the penalties never changed the arg-max";
  }
}

TEST_F(SamplingTest, NoPenaltyIsNotPenalized) {
  GenerateOptions o;
  EXPECT_FALSE(o.sampling.penalized());
  o.sampling.presence_penalty = 0.5f;
  o.sampling.penalty_last_n = 0;
  EXPECT_FALSE(o.sampling.penalized());
}

TEST_F(SamplingTest, JsonGrammarsParseInLlamaCppAndUnsupportedKeywordsAreNamed) {
  using nlohmann::json;
  const std::vector<json> schemas = {
      json::parse(R"({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}})"),
      json::parse(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})"),
      json::parse(R"({"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 4})"),
      json::parse(R"({"type": "array", "minItems": 1})"),
      json::parse(R"({"anyOf": [{"type": "null"}, {"const": "x\"y"}], "title": "t"})"),
      json::parse(R"({"type": ["string", "integer"], "minLength": 1, "maxLength": 3})"),
      json::parse(R"({"enum": [1, "two", [3], {"four": 4}, null, true]})"),
      json::parse(R"({"type": "object"})"),
      json::parse("{}"),
  };
  for (const auto& sc : schemas) {
    const std::string g = json_schema_grammar(sc);
    llama_sampler* smp = llama_sampler_init_grammar(model_->vocab(), g.c_str(), "root");
    EXPECT_NE(smp, nullptr) << sc.dump() << "\n" << g;
    if (smp) llama_sampler_free(smp);
  }
  llama_sampler* obj = llama_sampler_init_grammar(model_->vocab(), json_object_grammar().c_str(), "root");
  EXPECT_NE(obj, nullptr);
  if (obj) llama_sampler_free(obj);
  for (const char* bad : {R"({"type": "string", "pattern": "a"})", R"({"$ref": "#/x"})", R"({"allOf": []})",
                          R"({"type": "integer", "minimum": 3})", R"({"type": "date"})"}) {
    try {
      json_schema_grammar(json::parse(bad));
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UsageError& e) {
      const json parsed = json::parse(bad);  // kept: an iterator into a temporary dangles (ASan found it)
      const auto key = parsed.begin();       // the only or first keyword is the offending one
      const std::string what = e.what();
      EXPECT_TRUE(what.find(key.key()) != std::string::npos || what.find("date") != std::string::npos) << what;
    }
  }
}

TEST_F(SamplingTest, GrammarConstrainedGenerationsParse) {
  using nlohmann::json;
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const json schema = json::parse(R"({"type": "object", "properties": {"n": {"type": "integer"},
      "pick": {"enum": ["apt", "dpkg"]}, "flags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 4}},
      "required": ["n", "pick", "flags"]})");
  Generator gen(model_, {.n_ctx = 1024});
  for (int i = 0; i < 3; ++i) {
    GenerateOptions o;
    o.sampling = {.temperature = i == 0 ? 0.0f : 1.0f, .seed = static_cast<uint32_t>(rng_())};
    o.max_tokens = 600;
    o.grammar = json_schema_grammar(schema);
    const auto r = gen.complete("package:", o);
    ASSERT_EQ(r.reason, StopReason::end_of_generation) << r.text;
    json v;
    ASSERT_NO_THROW(v = json::parse(r.text)) << r.text;
    EXPECT_TRUE(v["n"].is_number_integer()) << r.text;
    EXPECT_TRUE(v["pick"] == "apt" || v["pick"] == "dpkg") << r.text;
    ASSERT_TRUE(v["flags"].is_array()) << r.text;
    EXPECT_LE(v["flags"].size(), 4u);
    for (const auto& f : v["flags"]) EXPECT_TRUE(f.is_boolean()) << r.text;
    EXPECT_EQ(v.size(), 3u) << r.text;
  }
}

}  // namespace
}  // namespace ut::ml
