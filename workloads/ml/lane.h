// MlLane: embedding and generation as command-buffer work on the ML (compute) queue, signalling events.
//
//   ut::ml::MlLane lane(device);                                  // makes queue "Q_ml"
//   auto job = std::make_shared<ut::ml::EmbedJob>(ut::ml::EmbedJob{.texts = {"question"}});
//   auto cb = lane.queue()->make_command_buffer("embed");
//   ut::ml::MlLane::encode_embed(cb, embedder, job).signal(e_embed, 1).commit();
//   host->make_command_buffer("search").wait(e_embed, 1).host_task([&] { search(job->result); })
//       .signal(e_rag, 1).commit();
//   auto out = std::make_shared<ut::ml::GenerateResult>();
//   lane.generate(gen, [&] { return gen->tokenize_chat(build_prompt()); }, opts, out, e_done, 1,
//                 {{e_rag, 1}});
//   while (auto t = ring.pop_wait(50ms)) { if (t->last) break; }   // tokens stream meanwhile
//   e_done->wait(1);                                               // rethrows a failed generation
//
// Contract
// - encode_embed adds one host task; the embedding lands in job->result (its Buffer from the Embedder's heap).
// - generate() commits one command buffer per step (a prefill chunk or a token) to the lane's queue, each
//   committing the next from its completion handler, so other command buffers on Q_ml (embeddings) run
//   between steps. The first waits on `waits`; the prompt function runs then (after the waits). The last
//   buffer stores the result in *out and signals `done` at `value`; a failure is recorded on `done` (a wait
//   on it rethrows). No polling anywhere. The generator and the Embedder must outlive the work.
// - Only one generation per Generator at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "timeline/device.h"
#include "workloads/ml/embedder.h"
#include "workloads/ml/generator.h"

namespace ut::ml {

struct EmbedJob {
  std::vector<std::string> texts;
  EmbedResult result;
};

class MlLane {
 public:
  explicit MlLane(DevicePtr device, std::string label = "Q_ml");
  const QueuePtr& queue() const noexcept { return queue_; }
  const DevicePtr& device() const noexcept { return device_; }

  static CommandBuffer& encode_embed(CommandBuffer& cb, Embedder& embedder, std::shared_ptr<EmbedJob> job);

  void generate(std::shared_ptr<Generator> gen, std::function<std::vector<int32_t>()> prompt, GenerateOptions o,
                std::shared_ptr<GenerateResult> out, EventPtr done, uint64_t value,
                std::vector<std::pair<EventPtr, uint64_t>> waits = {});

 private:
  DevicePtr device_;
  QueuePtr queue_;
};

}  // namespace ut::ml
