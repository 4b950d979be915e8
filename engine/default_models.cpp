#include "engine/default_models.h"

#include <cstdlib>
#include <filesystem>

#include "workloads/ml/synth.h"

namespace ut::engine {

DefaultModels default_models(std::string dir) {
  if (dir.empty()) {
    const char* env = std::getenv("UT_MODELS_DIR");
    dir = env && *env ? env : "models/synth";
  }
  std::filesystem::create_directories(dir);
  DefaultModels m;
  auto ensure = [&](const ml::SynthSpec& spec) {
    const std::string path = (std::filesystem::path(dir) / spec.file_name).string();
    if (!std::filesystem::exists(path)) ml::write_synthetic_model(spec, path);  // deterministic; a few MB
    return path;
  };
  m.embedder = ensure(ml::SynthSpec::tiny_embedder());
  m.decoder = ensure(ml::SynthSpec::tiny_decoder());
  m.random_weights = true;
  return m;
}

}  // namespace ut::engine
