#include "engine/default_models.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "workloads/ml/model.h"
#include "workloads/ml/synth.h"

namespace ut::engine {

std::string trained_models_dir() {
  const char* env = std::getenv("UT_TRAINED_MODELS_DIR");
  const std::string dir = env && *env ? env : UT_TRAINED_MODELS_DIR_DEFAULT;
  if (dir == "none") return {};
  namespace fs = std::filesystem;
  const bool present = fs::exists(fs::path(dir) / ml::SynthSpec::debian_embedder().file_name) &&
                       fs::exists(fs::path(dir) / ml::SynthSpec::debian_decoder().file_name);
  return present ? dir : std::string{};
}

DefaultModels default_models(std::string dir) {
  if (dir.empty()) {
    const char* env = std::getenv("UT_MODELS_DIR");
    dir = env && *env ? env : "models/synth";
  }
  std::filesystem::create_directories(dir);
  DefaultModels m;
  if (const auto trained = trained_models_dir(); !trained.empty()) {
    namespace fs = std::filesystem;
    m.embedder = (fs::path(trained) / ml::SynthSpec::debian_embedder().file_name).string();
    const std::string f16 = (fs::path(trained) / ml::SynthSpec::debian_decoder().file_name).string();
    const std::string q8 = (fs::path(dir) / "debian-llama-spm-q8_0.gguf").string();
    static std::mutex mu;  // two engines in one process must not quantize into the same file at once
    std::lock_guard lock(mu);
    if (!fs::exists(q8) || fs::last_write_time(q8) < fs::last_write_time(f16)) {
      // Several processes may start at once (tests in parallel): each writes its own file, the rename is atomic.
      const std::string tmp = q8 + ".part." + std::to_string(::getpid());
      ml::quantize_q8_0(f16, tmp);
      fs::rename(tmp, q8);
    }
    m.decoder = q8;
    m.random_weights = false;
    return m;
  }
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
