// EngineFeed: the engine's real lanes feeding `ut ui` — chat with retrieval (tokens streamed into the UI's ring,
// RAG badges gated on E_rag), SQL over this machine's Debian packages, and the documents (chunk embedding state;
// edits typed in the documents pane stored at once and re-embedded in the background).
//
//   ut::engine::EngineFeed feed(model, {.backend = "", .db_path = "ut-engine.duckdb"});
//   FrameLoop loop({.device = feed.device(), .renderer = r, .model = &model});   // one device, one trace
//   feed.start();  loop.run(frames);  feed.stop();
//
// Contract: the feed owns a Runtime (engine, paths, one database); the FrameLoop is the UI's heartbeat, so the
// engine's own heartbeat is not started. All feed work runs on one producer thread and the
// engine's queues; nothing it does waits for a frame, and the UI never waits for it (UiModel's rules).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "engine/runtime.h"
#include "workloads/render/ui_model.h"

namespace ut::engine {

struct EngineFeedOptions {
  std::string backend;                     // empty: the best available
  int reserve_sms = 0;                     // EngineConfig::reserve_sms
  std::string db_path = "ut-engine.duckdb";  // the documents `ut ingest` and `ut serve` use
  std::string first_question = "Which Debian sections have the most packages?";
  int max_tokens = 96;
};

// The UI's set-up fields that show an engine (before the FrameLoop starts, UiModel's contract): its device for the
// queue activity, E_rag as the RAG badges' gate, E_embed / E_rag / E_data and the shared heap in the diagnostics.
void show_engine(render::UiModel& model, const Engine& engine);

class EngineFeed {
 public:
  EngineFeed(render::UiModel& model, EngineFeedOptions opts);
  ~EngineFeed();
  EngineFeed(const EngineFeed&) = delete;
  EngineFeed& operator=(const EngineFeed&) = delete;

  DevicePtr device() const { return rt_->engine().device_ptr(); }
  void start();
  void stop();  // cancels a running answer; returns when the producer thread has ended

 private:
  void run();
  void publish_docs();
  void ask(const std::string& question);
  void run_sql();

  render::UiModel& model_;
  EngineFeedOptions opts_;
  std::unique_ptr<Runtime> rt_;
  Assistant* ai_ = nullptr;  // rt_->assistant()
  std::string models_note_;
  std::atomic<bool> stop_{false};
  std::shared_ptr<ChatJob> job_;  // the answer being streamed (producer thread only)
  std::map<uint64_t, std::string> bodies_;  // stored texts by document id (producer thread only)
  std::thread thread_;
};

}  // namespace ut::engine
