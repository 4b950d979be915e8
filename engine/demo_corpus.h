// The documents `ut demo` and `ut ui` store when their database has none: the project's own documents
// (README.md, docs/ARCHITECTURE.md, docs/API.md, workloads/data/README.md, read from the working directory) and,
// with the trained models, 200 held-out Debian package descriptions (so a package question has a true answer).
//
//   for (auto& [title, body] : ut::engine::demo_corpus()) rt.assistant().docs()->create(title, body);
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ut::engine {

// (title, body) pairs; never empty (a short built-in note when no file is found).
std::vector<std::pair<std::string, std::string>> demo_corpus();

}  // namespace ut::engine
