#include "engine/debian_docs.h"

#include <unordered_set>

#include "workloads/data/datasets.h"

namespace ut::engine {

DebianDocsReport store_debian_package_docs(Runtime& rt, const std::function<void(std::size_t, std::size_t)>& progress,
                                           const std::atomic<bool>* stop, const DebianDocsOptions& options) {
  DebianDocsReport r;
  auto session = rt.database().connect();
  r.installed_only =
      data::load_debian_packages(session, "debian_packages", options.lists_dir, options.dpkg_status).from_dpkg_status;
  // One row per package name (a package in several lists, e.g. bookworm and bookworm-security, once).
  const data::Result rows = session.query(
      "SELECT name, any_value(description) FROM debian_packages WHERE description IS NOT NULL AND description <> '' "
      "GROUP BY name ORDER BY name");
  const data::Column& names = rows.column(0);
  const data::Column& descriptions = rows.column(1);
  r.packages = rows.rows();

  Assistant& ai = rt.assistant();
  std::unordered_set<std::string> stored;
  for (const auto& d : ai.docs()->list())
    if (d.source.rfind(kDebianPackageSource, 0) == 0) stored.insert(d.source);
  constexpr std::size_t kBatch = 256;  // documents between two embedding schedules and progress calls
  for (std::size_t i = 0; i < r.packages; ++i) {
    if (stop && stop->load()) {
      r.stopped = true;
      break;
    }
    const std::string& name = names.str[i];
    std::string source = kDebianPackageSource + name;
    if (stored.count(source)) {
      ++r.skipped;
    } else {
      ai.docs()->create(name, name + "\n" + descriptions.str[i], source);
      ++r.stored;
    }
    if ((i + 1) % kBatch == 0) {
      ai.schedule_indexing();
      if (progress) progress(i + 1, r.packages);
    }
  }
  ai.schedule_indexing();
  if (progress) progress(r.stored + r.skipped, r.packages);
  return r;
}

}  // namespace ut::engine
