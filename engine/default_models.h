// The models the engine uses when none are named: the project's own small models where present, else
// tiny synthetic ones (seeded random weights with real llama.cpp vocabularies) written on first use.
//
//   auto m = ut::engine::default_models();        // writes models/synth/tiny-*.gguf if missing
//   ut::engine::Assistant ai(eng, {.embed_model = m.embedder, .chat_model = m.decoder});
//   if (m.random_weights) std::cout << "answers are meaningless text: the weights are random\n";
#pragma once

#include <string>

namespace ut::engine {

struct DefaultModels {
  std::string embedder, decoder;
  bool random_weights = true;  // true while the project's trained models do not exist yet
};

// dir: where synthetic models are written ($UT_MODELS_DIR, else models/synth under the working directory).
DefaultModels default_models(std::string dir = {});

// Fills the model paths left empty with the defaults; returns true when a default with random weights is used.
bool fill_default_models(std::string& embed_model, std::string& chat_model);

}  // namespace ut::engine
