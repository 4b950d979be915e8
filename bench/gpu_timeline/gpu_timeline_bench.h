// `ut bench gpu-timeline`: the plan's core promise measured on one card — UI frames drawn by the Vulkan render
// queue while the same GPU decodes (llama.cpp on CUDA), embeds document edits and aggregates ≥ 10M rows with the
// data path's CUDA kernels. For each SM partition asked for (--reserve-sms, e.g. "0,auto"): frames idle, one
// batch of chats decoding alone and every GROUP BY alone, then the same frames and chats under the full load (the
// idle frames are measured once, in the first run: frames are Vulkan work, outside any CUDA partition).
// Every lane's device is checked before anything is timed: a lane on the CPU stops the run (exit 2) unless
// --allow-cpu-lanes (a smoke run on a machine without a GPU; its JSON says where each lane ran).
//
//   ut::bench::GpuTimelineOptions o;
//   o.reserve_sms = {0, -1};                       // no partition, then the automatic one
//   int rc = ut::bench::run_gpu_timeline_bench(o); // prints a table per run, saves o.json_path
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ut::bench {

struct GpuTimelineOptions {
  int frames = 10'000;                  // frames under load, per run
  int idle_frames = 0;                  // frames idle, measured once before the first run's load; 0: `frames`
  int chats = 4, tokens = 128;          // chats decoding together, tokens each
  int edits = 16;                       // documents re-embedded per load iteration
  uint64_t rows = 10'000'000;           // rows of the lineitem-like table the GROUP BYs scan
  std::vector<int> reserve_sms = {0, -1};  // one run per entry (EngineConfig::reserve_sms; -1: auto)
  unsigned width = 1280, height = 800;
  std::string json_path = "gpu-one-timeline.json";
  std::string screenshot;               // PNG of a frame under load (the last run's); empty: none
  std::string embed_model, chat_model;  // empty: the project's default models
  std::string backend;                  // empty: the best available
  bool allow_cpu_lanes = false;         // run even where a lane is not on the GPU (a smoke run)
  bool quick = false;                   // 120 frames, 2 chats x 16 tokens, 200k rows, 4 edits
  // The decode lane runs the own CUDA decode path (ml::GpuDecoder) on a CUDA queue of the engine's device, in the
  // work partition when one is active: one greedy sequence of `tokens` after a 16-token prompt at a time, instead
  // of llama.cpp chats (which run on ggml's private streams). The other lanes are unchanged.
  bool own_decoder = false;
};

// Returns 0 on a complete run, 2 when a lane is not on the GPU (without allow_cpu_lanes) or no Vulkan device can
// draw; throws ut::Error when the set-up fails. A frame the GPU does not finish within 2 s ends the process (exit
// status 3, the reason on stderr): tearing the device down would wait on that frame.
int run_gpu_timeline_bench(GpuTimelineOptions o);

}  // namespace ut::bench
