#include "bench/qa/qa_bench.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "bench/report.h"
#include "engine/default_models.h"
#include "engine/runtime.h"
#include "timeline/error.h"

namespace ut::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Question {
  std::string package, question;
};
struct EvalSet {
  std::vector<Question> questions;
  std::vector<std::pair<std::string, std::string>> docs;  // package, document text
};

EvalSet read_set(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error("cannot open the question set '" + path + "' (tools/train/make_qa_set.py writes it)");
  EvalSet s;
  for (std::string line; std::getline(f, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    if (j.contains("question")) s.questions.push_back({j["package"], j["question"]});
    s.docs.emplace_back(j["package"], j["doc"]);
  }
  if (s.questions.empty()) throw Error("'" + path + "' holds no question");
  return s;
}

std::string first_line(const std::string& text) {
  std::size_t a = text.find_first_not_of(" \n\t");
  if (a == std::string::npos) return {};
  return text.substr(a, text.find('\n', a) - a);
}

struct Answer {
  std::string text;
  std::vector<std::string> sources;  // titles, best first
  bool right = false;
  double ms = 0;
};

// One chat through the Assistant, greedy; waits for the whole answer.
Answer ask(engine::Assistant& ai, const Question& q, bool retrieve, int max_tokens) {
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<engine::ChatJob> job;
  while (!(job = ai.chat({.messages = {{"user", q.question}},
                          .gen = {.sampling = {.temperature = 0.f}, .max_tokens = max_tokens},
                          .retrieve = retrieve}))) {
    std::this_thread::sleep_for(10ms);  // admission full (never, one chat at a time): try again
  }
  job->wait();
  Answer a;
  a.text = job->result->text;
  for (const auto& h : job->sources) a.sources.push_back(h.title);
  a.right = names_package(first_line(a.text), q.package);
  a.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return a;
}

void ingest(engine::Assistant& ai, const EvalSet& s) {
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& [name, text] : s.docs) ai.docs()->create(name, text, name + ".txt");
  ai.schedule_indexing();
  for (;;) {
    std::size_t pending = 0, chunks = 0;
    for (const auto& d : ai.docs()->list()) {
      pending += d.pending;
      chunks += d.chunks;
    }
    std::printf("  embedding the documents: %zu of %zu chunks\n", chunks - pending, chunks);
    std::fflush(stdout);
    if (pending == 0) break;
    if (const std::string why = ai.indexing_error(); !why.empty()) throw Error("embedding the documents failed: " + why);
    ai.wait_indexed(10s);
  }
  std::printf("  %zu documents stored and embedded in %.1f s\n", s.docs.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

bool names_package(const std::string& line, const std::string& package) {
  const auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '.' || c == '-';
  };
  std::string want = package;
  std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return std::tolower(c); });
  for (std::size_t i = 0; i < line.size();) {
    if (!name_char(line[i])) {
      ++i;
      continue;
    }
    std::size_t e = i;
    while (e < line.size() && name_char(line[e])) ++e;
    std::string w = line.substr(i, e - i);
    while (!w.empty() && (w.back() == '.' || w.back() == '-')) w.pop_back();  // end of a sentence
    std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
    if (w == want) return true;
    i = e;
  }
  return false;
}

int run_qa_bench(const QaBenchOptions& o) {
  EvalSet s = read_set(o.set);
  if (o.limit > 0 && static_cast<std::size_t>(o.limit) < s.questions.size()) s.questions.resize(o.limit);
  const std::string trained = engine::trained_models_dir();
  if (trained.empty())
    throw Error("the trained models (models/debian, or UT_TRAINED_MODELS_DIR) are needed: random weights answer nothing");
  const fs::path dir = fs::temp_directory_path() / ("ut-bench-qa-" + std::to_string(getpid()));
  fs::create_directories(dir);
  engine::RuntimeConfig rc{.engine = {.backend = o.backend}, .db_path = (dir / "qa.duckdb").string(),
                           .heartbeat = false, .governor = false};
  rc.assistant.rag_k = static_cast<std::size_t>(o.rag_k);  // 0: the engine picks for the model
  rc.assistant.rag_deadline = 120s;  // what is measured is the answer, not the deadline: context always arrives
  Report rep("qa");
  int right_rag = 0, right_plain = 0, found = 0;
  std::size_t rag_k = 0;
  nlohmann::ordered_json answers = nlohmann::ordered_json::array();
  {
    engine::Runtime rt(rc);
    engine::Assistant& ai = rt.assistant();
    rag_k = ai.rag_k();
    std::printf("ut bench qa: %zu questions, %zu documents (%s), models %s, %zu source(s) per answer\n",
                s.questions.size(), s.docs.size(), o.set.c_str(), trained.c_str(), rag_k);
    ingest(ai, s);
    rep.set_device(rt.engine().device().caps());
    std::printf("  %-28s %-5s %-5s %-5s  first line with retrieval\n", "package", "found", "rag", "plain");
    for (const auto& q : s.questions) {
      const Answer with = ask(ai, q, true, o.max_tokens), without = ask(ai, q, false, o.max_tokens);
      const bool hit = std::find(with.sources.begin(), with.sources.end(), q.package) != with.sources.end();
      right_rag += with.right;
      right_plain += without.right;
      found += hit;
      rep.add("retrieval", "ours", "names_package", "0/1", with.right ? 1.0 : 0.0);
      rep.add("no_retrieval", "ours", "names_package", "0/1", without.right ? 1.0 : 0.0);
      rep.add("retrieval", "ours", "answer_ms", "ms", with.ms);
      rep.add("no_retrieval", "ours", "answer_ms", "ms", without.ms);
      std::printf("  %-28.28s %-5s %-5s %-5s  %.70s\n", q.package.c_str(), hit ? "yes" : "no", with.right ? "right" : "-",
                  without.right ? "right" : "-", first_line(with.text).c_str());
      answers.push_back({{"package", q.package}, {"question", q.question}, {"sources", with.sources},
                         {"right_with_retrieval", with.right}, {"right_without", without.right},
                         {"answer_with_retrieval", with.text}, {"answer_without", without.text}});
    }
  }
  const double n = static_cast<double>(s.questions.size());
  const double share_rag = right_rag / n, share_plain = right_plain / n, share_found = found / n;
  rep.add("retrieval", "ours", "share_named", "fraction", share_rag);
  rep.add("no_retrieval", "ours", "share_named", "fraction", share_plain);
  rep.add("retrieval", "ours", "share_right_package_in_sources", "fraction", share_found);
  rep.add_goal({.kpi = "answers whose first line names the right package, with retrieval (" + std::to_string(rag_k) +
                       (rag_k == 1 ? " source)" : " sources)"),
                .goal = ">= 0.6",
                .case_name = "retrieval", .metric = "share_named", .value = share_rag, .met = share_rag >= 0.6,
                .peer = "no retrieval", .peer_value = share_plain, .statistic = "share",
                .detail = std::to_string(right_rag) + " of " + std::to_string(s.questions.size()) +
                          "; the right package was among the " + std::to_string(rag_k) + " sources for " + std::to_string(found)});
  rep.config() = {{"set", o.set}, {"questions", s.questions.size()}, {"documents", s.docs.size()},
                  {"max_tokens", o.max_tokens}, {"sampling", "greedy"}, {"rag_k", rag_k},
                  {"models", trained},
                  {"right", "the answer's first line has the package name as one of its words (case ignored)"},
                  {"answers", answers}};
  rep.write(o.json);
  std::printf("right package named in the first line: %d of %zu with retrieval (%.0f%%; goal >= 60%%: %s), %d of %zu "
              "without; the right package among the %zu sources: %d\nsaved %s\n",
              right_rag, s.questions.size(), 100 * share_rag, share_rag >= 0.6 ? "met" : "missed", right_plain,
              s.questions.size(), rag_k, found, o.json.c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace ut::bench
