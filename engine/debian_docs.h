// The machine's Debian packages as documents the chat can retrieve (`ut serve --ingest-debian-packages`): one per
// package of the apt lists (else of dpkg's installed packages), titled with the package name, its text the name and
// description (the form the project's trained embedder and decoder learned), source "debian-package:<name>".
// Packages stored by an earlier run are skipped, so a restart adds only what is new; their chunks embed in the
// background on the ML lane like any document's.
//
//   auto r = ut::engine::store_debian_package_docs(rt, [](std::size_t done, std::size_t total) { /* progress */ });
//   // r.stored new documents, r.skipped already stored; embedding continues in the background
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>

#include "engine/runtime.h"

namespace ut::engine {

struct DebianDocsReport {
  std::size_t packages = 0;      // distinct package names with a description
  std::size_t stored = 0;        // documents created now
  std::size_t skipped = 0;       // already stored (same source)
  bool installed_only = false;   // no apt lists: dpkg's installed packages
  bool stopped = false;          // `stop` was set before every package was stored
};

inline const std::string kDebianPackageSource = "debian-package:";

struct DebianDocsOptions {
  std::string lists_dir = "/var/lib/apt/lists";      // as data::load_debian_packages
  std::string dpkg_status = "/var/lib/dpkg/status";
};

// Loads the table debian_packages (data::load_debian_packages: replaced as a whole), then stores the documents,
// scheduling embedding every few hundred so that it overlaps the storing. progress(done, total) is called from this
// thread as packages are handled; `stop` (optional) ends the loop early (the documents stored so far stay).
// Throws what loading the packages throws (no apt lists and no dpkg status: a data::DataError saying so).
DebianDocsReport store_debian_package_docs(Runtime& rt,
                                           const std::function<void(std::size_t, std::size_t)>& progress = {},
                                           const std::atomic<bool>* stop = nullptr,
                                           const DebianDocsOptions& options = {});

}  // namespace ut::engine
