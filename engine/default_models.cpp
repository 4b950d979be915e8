#include "engine/default_models.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "workloads/ml/model.h"
#include "workloads/ml/synth.h"

namespace ut::engine {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTrainedDecoderQ8 = "debian-llama-spm-q8_0.gguf";  // made from the committed F16 file

// Writes `path` through a file of this process and an atomic rename: processes that start at once (tests in
// parallel, a server and a CLI) never read a file another one is still writing.
template <class Write>
void write_once(const std::string& path, Write write) {
  const std::string tmp = path + ".part." + std::to_string(::getpid());
  write(tmp);
  fs::rename(tmp, path);
}

}  // namespace

std::string models_cache_dir() {
  if (const char* env = std::getenv("UT_MODELS_DIR"); env && *env) return env;
  // XDG base directories: $XDG_CACHE_HOME when it is an absolute path, else ~/.cache.
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return (fs::path(xdg) / "unified-timeline").string();
  const char* home = std::getenv("HOME");
  if (home && *home) return (fs::path(home) / ".cache" / "unified-timeline").string();
  return (fs::temp_directory_path() / ("unified-timeline-" + std::to_string(::getuid()))).string();
}

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
  if (dir.empty()) dir = models_cache_dir();
  fs::create_directories(dir);
  DefaultModels m;
  if (const auto trained = trained_models_dir(); !trained.empty()) {
    m.embedder = (fs::path(trained) / ml::SynthSpec::debian_embedder().file_name).string();
    const std::string f16 = (fs::path(trained) / ml::SynthSpec::debian_decoder().file_name).string();
    const std::string q8 = (fs::path(dir) / kTrainedDecoderQ8).string();
    static std::mutex mu;  // two engines in one process must not quantize into the same file at once
    std::lock_guard lock(mu);
    if (!fs::exists(q8) || fs::last_write_time(q8) < fs::last_write_time(f16))
      write_once(q8, [&](const std::string& tmp) { ml::quantize_q8_0(f16, tmp); });
    m.decoder = q8;
    m.random_weights = false;
    return m;
  }
  auto ensure = [&](const ml::SynthSpec& spec) {
    const std::string path = (fs::path(dir) / spec.file_name).string();
    if (!fs::exists(path))  // deterministic; a few MB
      write_once(path, [&](const std::string& tmp) { ml::write_synthetic_model(spec, tmp); });
    return path;
  };
  m.embedder = ensure(ml::SynthSpec::tiny_embedder());
  m.decoder = ensure(ml::SynthSpec::tiny_decoder());
  m.random_weights = true;
  return m;
}

bool is_trained_decoder(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  return name == kTrainedDecoderQ8 || name == ml::SynthSpec::debian_decoder().file_name;
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
