// The models the engine uses when none are named: the project's own trained models (models/debian: a BERT
// embedder and a Llama decoder trained on Debian package descriptions, decoder run as Q8_0), else tiny
// synthetic ones (seeded random weights with real llama.cpp vocabularies) written on first use.
//
//   auto m = ut::engine::default_models();        // trained models, or writes ~/.cache/unified-timeline/tiny-*.gguf
//   ut::engine::Assistant ai(eng, {.embed_model = m.embedder, .chat_model = m.decoder});
//   if (m.random_weights) std::cout << "answers are meaningless text: the weights are random\n";
//
// UT_TRAINED_MODELS_DIR names the trained models' folder (default: models/debian of the source tree);
// UT_TRAINED_MODELS_DIR=none forces the synthetic ones. The Q8_0 decoder is made from the committed F16 one
// with llama.cpp's quantizer on first use (under 1 s) and kept beside the synthetic models: derived files go to
// a cache folder (models_cache_dir), never into the working directory.
#pragma once

#include <string>

namespace ut::engine {

struct DefaultModels {
  std::string embedder, decoder;
  bool random_weights = true;  // false: the project's trained models
};

// Where synthetic and derived models are written: $UT_MODELS_DIR when set, else $XDG_CACHE_HOME/unified-timeline,
// else ~/.cache/unified-timeline (a folder under the temporary directory when there is no home either).
std::string models_cache_dir();

// dir: where synthetic and derived models are written (empty: models_cache_dir()).
DefaultModels default_models(std::string dir = {});

// The trained models' folder, or empty when they are absent or switched off.
std::string trained_models_dir();

// Fills the model paths left empty with the defaults; returns true when a default with random weights is used.
bool fill_default_models(std::string& embed_model, std::string& chat_model);

// True when `path` is the project's trained decoder (its F16 file or the Q8_0 made from it), by file name.
bool is_trained_decoder(const std::string& path);

// Sources in a chat's context for the project's trained decoder (12.9 M parameters). Measured with `ut bench qa`
// (50 held-out questions, 1,000 stored packages, the right one retrieved first 42 times): its answer's first line
// named the right package 40 times with one source, 33 with two, 26 with three — given several, it often copies
// another entry's name (docs/measurements/qa-debian-50-*.json). Larger models get kDefaultRagK.
inline constexpr std::size_t kTrainedDecoderRagK = 1;

}  // namespace ut::engine
