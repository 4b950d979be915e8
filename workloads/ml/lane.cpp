#include "workloads/ml/lane.h"

#include <atomic>
#include <exception>

namespace ut::ml {

MlLane::MlLane(DevicePtr device, std::string label) : device_(std::move(device)) {
  if (!device_) throw UsageError("[MlLane::MlLane] no device");
  queue_ = device_->make_queue({.kind = QueueKind::compute, .label = std::move(label)});
}

CommandBuffer& MlLane::encode_embed(CommandBuffer& cb, Embedder& embedder, std::shared_ptr<EmbedJob> job) {
  if (!job) throw UsageError("[MlLane::encode_embed] no job");
  return cb.host_task([&embedder, job] { job->result = embedder.embed(job->texts); }, "embed");
}

namespace {

// Shared by the chain of step command buffers of one generation.
struct GenChain {
  std::shared_ptr<Generator> gen;
  QueuePtr queue;
  std::shared_ptr<GenerateResult> out;
  EventPtr done;
  uint64_t value = 0;
  std::atomic<bool> finished{false};  // written by a step on the queue, read by its completion handler
  std::exception_ptr error;
};

void commit_next(const std::shared_ptr<GenChain>& c);

void commit_final(const std::shared_ptr<GenChain>& c) {
  auto cb = c->queue->make_command_buffer("generate.done");
  cb.host_task(
        [c] {
          if (c->error) std::rethrow_exception(c->error);
          *c->out = c->gen->finish();
        },
        "generate.finish")
      .signal(c->done, c->value)
      .commit();
}

void on_step_done(const std::shared_ptr<GenChain>& c, const CommandBuffer& cb) {
  if (cb.status() == CommandBufferStatus::error && !c->error) {
    c->error = cb.error();
    c->finished = true;
  }
  if (c->finished) commit_final(c);
  else commit_next(c);
}

void commit_next(const std::shared_ptr<GenChain>& c) {
  auto cb = c->queue->make_command_buffer("generate.step");
  cb.host_task([c] { c->finished = !c->gen->step(); }, "generate.step")
      .on_completed([c](const CommandBuffer& done) { on_step_done(c, done); })
      .commit();
}

}  // namespace

void MlLane::generate(std::shared_ptr<Generator> gen, std::function<std::vector<int32_t>()> prompt,
                      GenerateOptions o, std::shared_ptr<GenerateResult> out, EventPtr done, uint64_t value,
                      std::vector<std::pair<EventPtr, uint64_t>> waits) {
  if (!gen || !out || !done || !prompt)
    throw UsageError("[MlLane::generate] generator, prompt, out and done are required");
  auto c = std::make_shared<GenChain>();
  c->gen = std::move(gen);
  c->queue = queue_;
  c->out = std::move(out);
  c->done = std::move(done);
  c->value = value;
  auto cb = queue_->make_command_buffer("generate.begin");
  for (auto& [e, v] : waits) cb.wait(e, v);
  cb.host_task(
        [c, prompt = std::move(prompt), o = std::move(o)]() mutable {
          c->gen->begin(prompt(), std::move(o));
          c->finished = !c->gen->step();
        },
        "generate.begin")
      .on_completed([c](const CommandBuffer& d) { on_step_done(c, d); })
      .commit();
}

}  // namespace ut::ml
