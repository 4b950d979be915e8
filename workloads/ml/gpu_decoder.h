// GpuDecoder: the own decode path — greedy batch-1 decoding of a dense Llama/Qwen2-family model on a CUDA device
// of the timeline. Each step is one command buffer on the caller's queue (Q_ml): 1 + 5 × n_layer + 2 dispatches of
// the kernels in workloads/ml/cuda/, captured once as a CUDA graph and replayed for every later step (the steps'
// commands are identical: the position lives in device memory). The GPU writes each chosen token straight into a
// host-visible sequence (only the token crosses to the host), and a shared event counts the steps done, so the
// render lane (or anyone) can read decode progress from an event value. Prompt tokens are fed one step each
// (batch-1 prefill: no GEMM prefill yet).
//
//   auto dev = ut::Device::create({.backend = "cuda"});
//   auto q_ml = dev->make_queue({.kind = ut::QueueKind::compute, .label = "Q_ml"});
//   ut::ml::GpuDecoder dec(dev, q_ml, "model.gguf");
//   std::vector<int32_t> next = dec.generate(prompt_tokens, 64);  // 64 greedy tokens after the prompt
//   std::vector<float> logits = dec.logits();                    // the last step's logits (copied to the host)
//   dec.progress()->signaled_value();                            // steps finished so far
//   dec.reset();                                                 // an empty context again
//
// Contract: GpuDecoder::unsupported(path) says why a file cannot run on this path ("" when it can): llama/qwen2,
// n_embd and n_ff ≤ kDecodeMaxWidth and multiples of 8, head dim ≤ 256. Weights are stored as F16 (F16 files are
// exact; BF16/F32/Q8_0 are rounded to F16), activations and the KV cache in F32. The context is the model's,
// capped by Options::n_ctx. Throws ModelError for a bad file, a token out of range or a full context, UsageError
// for a device other than CUDA or a build without CUDA. Not thread-safe (one owner commits the steps).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "timeline/device.h"
#include "workloads/ml/decoder_file.h"

namespace ut::ml {

class GpuDecoder {
 public:
  struct Options {
    int n_ctx = 4096;  // cap on the context (the model's own length when smaller)
    // Each kernel may start while the one before it finishes (programmatic dependent launch), pulling its weights
    // into L2 first; off: plain stream order (for measuring what the overlap brings).
    bool overlap_launches = true;
  };
  // "" when the file fits this path, else why not (read from the file's metadata and tensor types only).
  static std::string unsupported(const std::string& gguf_path);

  GpuDecoder(DevicePtr device, QueuePtr queue, const std::string& gguf_path, Options options);
  GpuDecoder(DevicePtr device, QueuePtr queue, const std::string& gguf_path)
      : GpuDecoder(std::move(device), std::move(queue), gguf_path, Options{}) {}
  ~GpuDecoder();
  GpuDecoder(const GpuDecoder&) = delete;
  GpuDecoder& operator=(const GpuDecoder&) = delete;

  const DecoderShape& shape() const noexcept { return shape_; }
  int n_ctx() const noexcept { return n_ctx_; }
  int position() const noexcept { return pos_; }          // tokens in the KV cache
  std::size_t weight_bytes() const noexcept { return weight_bytes_; }
  const EventPtr& progress() const noexcept { return progress_; }  // value = steps finished since construction
  void set_overlap_launches(bool on) noexcept { overlap_ = on; }  // from the next step on (the graph is re-captured)

  // Feeds `prompt` (one step per token) and decodes `n` greedy tokens after it; returns those n tokens. With an
  // empty prompt it continues: after a generate(), with the n tokens that follow the ones it returned. All steps
  // are committed before the first is waited for: no host round trip between steps.
  std::vector<int32_t> generate(std::span<const int32_t> prompt, int n);
  // Feeds tokens without keeping what the model would pick (a prefill); logits() then holds the last one's.
  void feed(std::span<const int32_t> tokens);
  std::vector<float> logits();  // logits of the last step
  void reset();

 private:
  struct Layer {
    Buffer attn_norm, wqkv, bqkv, wo, ffn_norm, wgate, wup, wdown, kc, vc;
  };
  void load(const DecoderFile& file);
  void upload(const Buffer& dst, std::size_t dst_offset, const void* src, std::size_t bytes);
  void set_control(int pos, int n_fixed);
  void commit_step();
  void wait_steps();

  DevicePtr dev_;
  QueuePtr queue_;
  DecoderShape shape_;
  int n_ctx_ = 0, pos_ = 0;
  std::size_t weight_bytes_ = 0;
  HeapPtr weights_, state_, host_;
  Buffer tok_embd_, out_norm_, output_, x_, q_, att_, act_, logits_, ctl_, freq_;
  Buffer seq_, ctl_host_, logits_host_, staging_;  // host-visible
  std::vector<Layer> layers_;
  EventPtr progress_;
  uint64_t steps_ = 0;
  bool overlap_ = true;
  bool returned_next_ = false;  // generate() returned seq[pos_] (not yet in the cache)
  CommandBuffer last_;
};

}  // namespace ut::ml
