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

bool fill_default_models(std::string& embed_model, std::string& chat_model) {
  if (!embed_model.empty() && !chat_model.empty()) return false;
  const auto m = default_models();
  bool random = false;
  if (embed_model.empty()) {
    embed_model = m.embedder;
    random = m.random_weights;
  }
  if (chat_model.empty()) {
    chat_model = m.decoder;
    random = random || m.random_weights;
  }
  return random;
}

}  // namespace ut::engine
