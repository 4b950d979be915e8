// The models the engine uses when none are named: the project's own trained models (models/debian: a BERT
// embedder and a Llama decoder trained on Debian package descriptions, decoder run as Q8_0), else tiny
// synthetic ones (seeded random weights with real llama.cpp vocabularies) written on first use.
//
//   auto m = ut::engine::default_models();        // trained models, or writes models/synth/tiny-*.gguf
//   ut::engine::Assistant ai(eng, {.embed_model = m.embedder, .chat_model = m.decoder});
//   if (m.random_weights) std::cout << "answers are meaningless text: the weights are random\n";
//
// UT_TRAINED_MODELS_DIR names the trained models' folder (default: models/debian of the source tree);
// UT_TRAINED_MODELS_DIR=none forces the synthetic ones. The Q8_0 decoder is made from the committed F16 one
// with llama.cpp's quantizer on first use (under 1 s) and kept beside the synthetic models.
#pragma once

#include <string>

namespace ut::engine {

struct DefaultModels {
  std::string embedder, decoder;
  bool random_weights = true;  // false: the project's trained models
};

// dir: where synthetic and derived models are written ($UT_MODELS_DIR, else models/synth under the working
// directory).
DefaultModels default_models(std::string dir = {});

// The trained models' folder, or empty when they are absent or switched off.
std::string trained_models_dir();

// Fills the model paths left empty with the defaults; returns true when a default with random weights is used.
bool fill_default_models(std::string& embed_model, std::string& chat_model);

}  // namespace ut::engine
