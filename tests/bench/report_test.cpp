// bench/report.h: the one writer of the "ut-bench/1" schema. Summaries are checked against a brute-force oracle
// on fresh random values; the written file is parsed back and checked field by field.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "bench/report.h"
#include "timeline/error.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ut::bench::Report;
using ut::bench::summarize;

namespace {

std::mt19937_64& rng() {
  static std::mt19937_64 r{std::random_device{}()};
  return r;
}

std::vector<double> random_values(std::size_t n) {
  std::uniform_real_distribution<double> d(-1000.0, 1000.0);
  std::uniform_int_distribution<int> coin(0, 3);
  std::vector<double> v;
  for (std::size_t i = 0; i < n; ++i) {
    // Some repeats on purpose: ties must not change the statistics.
    v.push_back(!v.empty() && coin(rng()) == 0 ? v[rng()() % v.size()] : d(rng()));
  }
  return v;
}

std::size_t count_at_most(const std::vector<double>& v, double x) {
  return static_cast<std::size_t>(std::count_if(v.begin(), v.end(), [x](double y) { return y <= x; }));
}

// The k-th smallest (1-based) by counting, without sorting: the smallest x with at least k values <= x.
double kth_smallest(const std::vector<double>& v, std::size_t k) {
  double best = std::numeric_limits<double>::infinity();
  for (double x : v)
    if (count_at_most(v, x) >= k && x < best) best = x;
  return best;
}

fs::path temp_file(const std::string& name) {
  return fs::path(::testing::TempDir()) /
         (name + "_" + std::to_string(getpid()) + "_" + std::to_string(rng()() % 1000000) + ".json");
}

json write_and_read(const Report& r) {
  const auto path = temp_file("report");
  r.write(path.string());
  std::ifstream f(path);
  json j = json::parse(f);
  fs::remove(path);
  return j;
}

}  // namespace

TEST(Report, SummaryOfKnownValues) {
  const std::vector<double> odd = {5, 1, 3, 2, 4};
  auto s = summarize(odd);
  EXPECT_EQ(s.n, 5u);
  EXPECT_EQ(*s.median, 3);
  EXPECT_EQ(*s.min, 1);
  EXPECT_EQ(*s.max, 5);
  EXPECT_FALSE(s.p99);
  s = summarize(std::vector<double>{4, 1, 3, 2});
  EXPECT_EQ(*s.median, 2.5) << "even n: the mean of the two middle values";
  s = summarize(std::vector<double>{});
  EXPECT_EQ(s.n, 0u);
  EXPECT_FALSE(s.median || s.min || s.max || s.p99);
}

TEST(Report, SummaryMatchesACountingOracleOnRandomValues) {
  for (int round = 0; round < 20; ++round) {
    const std::size_t n = 1 + rng()() % 400;
    const auto v = random_values(n);
    SCOPED_TRACE("n = " + std::to_string(n));
    const auto s = summarize(v);
    ASSERT_EQ(s.n, n);
    EXPECT_EQ(*s.min, kth_smallest(v, 1));
    EXPECT_EQ(*s.max, kth_smallest(v, n));
    const double median = n % 2 ? kth_smallest(v, n / 2 + 1) : (kth_smallest(v, n / 2) + kth_smallest(v, n / 2 + 1)) / 2;
    EXPECT_DOUBLE_EQ(*s.median, median);
    if (n < 200) {
      EXPECT_FALSE(s.p99) << "p99 only from 200 samples";
    } else {
      // Nearest rank: the smallest value with at least 99% of all values at or below it.
      double p99 = std::numeric_limits<double>::infinity();
      for (double x : v)
        if (100 * count_at_most(v, x) >= 99 * n && x < p99) p99 = x;
      ASSERT_TRUE(s.p99);
      EXPECT_EQ(*s.p99, p99);
    }
  }
}

TEST(Report, P99FromExactly200Samples) {
  std::vector<double> v;
  for (int i = 1; i <= 200; ++i) v.push_back(i);
  std::shuffle(v.begin(), v.end(), rng());
  EXPECT_FALSE(summarize(std::span<const double>(v.data(), 199)).p99);
  const auto s = summarize(v);
  ASSERT_TRUE(s.p99);
  EXPECT_EQ(*s.p99, 198);  // rank ceil(0.99 * 200) = 198
}

TEST(Report, WrittenFileFollowsTheSchema) {
  Report r("timeline");
  r.set_command("ut bench timeline --quick");
  r.config()["iterations"] = 200;
  r.config()["quick"] = true;
  r.set_device("cuda", "NVIDIA H200", "580.159.04 / CUDA 13.0", 132, 150'000'000'000ull);
  const auto many = random_values(250), few = random_values(7);
  for (double x : many) r.add("wake", "ours", "latency_us", "us", x);  // one at a time
  r.add("wake", "raw", "latency_us", "us", few);                       // a whole series
  r.add("wake", "raw", "latency_us", "us", std::nan(""));               // skipped, counted in a note
  r.add("ring", "ours", "items_per_s", "1/s", 1.5e8);
  r.add_goal({.kpi = "wake-up", .goal = "<= 50 us", .case_name = "wake", .metric = "latency_us", .value = 12,
              .met = true, .peer = "raw", .peer_value = 10});
  r.add_goal({.kpi = "ring", .goal = ">= 1000000000 1/s", .case_name = "ring", .metric = "items_per_s",
              .value = 1.5e8, .met = false, .statistic = "best", .caveat = "one thread each"});
  r.add_note("a note");
  const json j = write_and_read(r);

  EXPECT_EQ(j["schema"], "ut-bench/1");
  EXPECT_EQ(j["suite"], "timeline");
  ASSERT_TRUE(j["commit"].is_string());
  const std::string commit = j["commit"];
  EXPECT_TRUE(std::regex_match(commit, std::regex("[0-9a-f]{40}")) || commit == "unknown") << commit;
  EXPECT_EQ(j["dirty"].is_null(), commit == "unknown") << "dirty is known exactly when the commit is";
  EXPECT_TRUE(j["dirty"].is_null() || j["dirty"].is_boolean());
  EXPECT_TRUE(std::regex_match(j["date"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << j["date"];
  EXPECT_EQ(j["command"], "ut bench timeline --quick");
  EXPECT_FALSE(j["machine"]["cpu"].get<std::string>().empty());
  EXPECT_GT(j["machine"]["cores"].get<int>(), 0);
  EXPECT_GT(j["machine"]["memory_bytes"].get<double>(), 0);
  EXPECT_FALSE(j["machine"]["os"].get<std::string>().empty());
  EXPECT_EQ(j["device"], (json{{"backend", "cuda"}, {"name", "NVIDIA H200"}, {"driver", "580.159.04 / CUDA 13.0"},
                               {"compute_units", 132}, {"memory_bytes", 150'000'000'000ull}}));
  EXPECT_EQ(j["config"], (json{{"iterations", 200}, {"quick", true}}));

  ASSERT_EQ(j["samples"].size(), 3u);
  ASSERT_EQ(j["summary"].size(), 3u);
  const auto& ours = j["samples"][0];
  EXPECT_EQ(ours["case"], "wake");
  EXPECT_EQ(ours["side"], "ours");
  EXPECT_EQ(ours["metric"], "latency_us");
  EXPECT_EQ(ours["unit"], "us");
  EXPECT_EQ(ours["values"].get<std::vector<double>>(), many) << "every sample, in the order measured";
  EXPECT_EQ(j["samples"][1]["values"].get<std::vector<double>>(), few);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& row = j["summary"][i];
    const auto& sample = j["samples"][i];
    for (const char* k : {"case", "side", "metric", "unit"}) EXPECT_EQ(row[k], sample[k]) << k;
    const auto values = sample["values"].get<std::vector<double>>();
    const auto s = summarize(values);
    EXPECT_EQ(row["n"], values.size());
    EXPECT_EQ(row["median"].get<double>(), *s.median);
    EXPECT_EQ(row["min"].get<double>(), *s.min);
    EXPECT_EQ(row["max"].get<double>(), *s.max);
  }
  EXPECT_TRUE(j["summary"][0]["p99"].is_number()) << "250 samples";
  EXPECT_TRUE(j["summary"][1]["p99"].is_null()) << "7 samples";
  EXPECT_TRUE(j["summary"][2]["p99"].is_null()) << "1 sample";

  ASSERT_EQ(j["goals"].size(), 2u);
  EXPECT_EQ(j["goals"][0], (json{{"kpi", "wake-up"}, {"goal", "<= 50 us"}, {"case", "wake"}, {"metric", "latency_us"},
                                 {"value", 12}, {"met", true}, {"peer", "raw"}, {"peer_value", 10}}));
  EXPECT_FALSE(j["goals"][1]["met"].get<bool>());
  EXPECT_FALSE(j["goals"][1].contains("peer"));
  EXPECT_EQ(j["goals"][1]["statistic"], "best");
  EXPECT_EQ(j["goals"][1]["caveat"], "one thread each");
  EXPECT_FALSE(j["goals"][1].contains("detail")) << "optional texts only when set";
  const auto notes = j["notes"].get<std::vector<std::string>>();
  ASSERT_GE(notes.size(), 2u);
  EXPECT_EQ(notes[0], "a note");
  EXPECT_NE(notes[1].find("1 non-finite"), std::string::npos) << notes[1];
}

TEST(Report, DefaultsNameThisProcessAndTheHostCpu) {
  Report r("data");
  const json j = write_and_read(r);
  EXPECT_EQ(j["command"].get<std::string>().rfind("ut_bench_report_tests", 0), 0u)
      << "this process's command line, the program without its folder: " << j["command"];
  EXPECT_EQ(j["device"]["backend"], "cpu");
  EXPECT_EQ(j["device"]["name"], j["machine"]["cpu"]);
  EXPECT_EQ(j["device"]["memory_bytes"], j["machine"]["memory_bytes"]);
  EXPECT_TRUE(j["samples"].empty());
  EXPECT_TRUE(j["summary"].empty());
  EXPECT_TRUE(j["goals"].empty());
}

TEST(Report, BuildInfoIsACommitOrUnknown) {
  const auto b = ut::bench::build_info();
  EXPECT_TRUE(std::regex_match(b.commit, std::regex("[0-9a-f]{40}")) || b.commit == "unknown") << b.commit;
  EXPECT_EQ(b.dirty.has_value(), b.commit != "unknown");
}

TEST(Report, AUnitChangeWithinASeriesIsAnError) {
  Report r("ml");
  r.add("batch=1", "ours", "batch_ms", "ms", 1.0);
  EXPECT_THROW(r.add("batch=1", "ours", "batch_ms", "s", 1.0), ut::UsageError);
  r.add("batch=1", "bare llama.cpp", "batch_ms", "ms", 2.0);  // another side is another series
  ASSERT_NE(r.find("batch=1", "ours", "batch_ms"), nullptr);
  EXPECT_EQ(r.find("batch=1", "ours", "batch_ms")->values, std::vector<double>{1.0});
  EXPECT_EQ(r.find("batch=2", "ours", "batch_ms"), nullptr);
}

TEST(Report, AnUnwritablePathThrows) {
  Report r("ui");
  EXPECT_THROW(r.write("/nonexistent-folder/x/ut-bench-ui.json"), ut::Error);
}
