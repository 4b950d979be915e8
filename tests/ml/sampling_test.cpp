// GenRun's sampling options beyond the basic chain, against oracles written here from the definitions:
// penalties (llama.cpp's formula, recomputed over our own history).
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>

#include "tests/ml/fixture.h"
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
    std::uniform_real_distribution<float> low(-4.0f, 0.5f), high(2.0f, 3.0f);
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
    const auto fixed = row();
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

}  // namespace
}  // namespace ut::ml
