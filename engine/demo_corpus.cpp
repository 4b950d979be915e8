#include "engine/demo_corpus.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/default_models.h"

namespace ut::engine {

std::vector<std::pair<std::string, std::string>> demo_corpus() {
  std::vector<std::pair<std::string, std::string>> docs;
  for (const char* p : {"README.md", "docs/ARCHITECTURE.md", "docs/API.md", "workloads/data/README.md"}) {
    std::ifstream f(p);
    if (!f) continue;
    std::stringstream ss;
    ss << f.rdbuf();
    docs.emplace_back(p, ss.str());
  }
  // With the trained models: Debian package descriptions too (the first 200 of the committed check set, which
  // holds packages the models never saw in training), so the chat question below has a true answer to find.
  if (const auto dir = trained_models_dir(); !dir.empty()) {
    std::ifstream f(dir + "/retrieval-check.jsonl");
    std::string line;
    for (int i = 0; i < 200 && std::getline(f, line); ++i) {
      const auto j = nlohmann::json::parse(line);
      docs.emplace_back(j["package"].get<std::string>(), j["doc"].get<std::string>());
    }
  }
  if (docs.empty()) {
    docs.emplace_back("engine.md", "The engine overlaps UI frames, inference and SQL on one machine.\n\n"
                                   "The render queue never waits on ML: it reads event values and draws what is ready.");
  }
  return docs;
}

}  // namespace ut::engine
