#include "engine/step_tuner.h"

#include <algorithm>
#include <cstdio>

#include "timeline/error.h"

namespace ut::engine {

StepTuner::StepTuner(StepTunerConfig config, int start_chunk) : config_(config) {
  if (config_.min_chunk < 1 || config_.max_chunk < config_.min_chunk || config_.step_budget_ms <= 0 ||
      config_.confirm_over < 1 || !(config_.grow_below > 0 && config_.grow_below < 0.5))
    throw UsageError("[StepTuner] need 1 <= min_chunk <= max_chunk, a positive step budget, confirm_over >= 1 and "
                     "0 < grow_below < 0.5");
  chunk_ = std::clamp(start_chunk, config_.min_chunk, config_.max_chunk);
}

std::optional<int> StepTuner::observe(double max_prefill_step_ms, int prefill_steps, int prompt_tokens) {
  std::lock_guard lock(mutex_);
  if (prefill_steps <= 0) return std::nullopt;  // everything came from the KV cache: nothing learned
  return observe_locked(max_prefill_step_ms, prompt_tokens > chunk_);  // only a longer prompt filled a chunk
}

std::optional<int> StepTuner::observe_step(double step_ms, bool full) {
  std::lock_guard lock(mutex_);
  return observe_locked(step_ms, full);
}

std::optional<int> StepTuner::observe_locked(double step_ms, bool full) {
  const int before = chunk_;
  char why[160];
  if (step_ms > config_.step_budget_ms) {
    fast_in_a_row_ = 0;
    if (++slow_in_a_row_ < config_.confirm_over) return std::nullopt;
    slow_in_a_row_ = 0;
    chunk_ = std::max(config_.min_chunk, chunk_ / 2);
    std::snprintf(why, sizeof why, "longest step %.1f ms > budget %.0f ms", step_ms, config_.step_budget_ms);
  } else if (step_ms < config_.step_budget_ms * config_.grow_below && full) {
    slow_in_a_row_ = 0;
    if (++fast_in_a_row_ < 3) return std::nullopt;
    fast_in_a_row_ = 0;
    chunk_ = std::min(config_.max_chunk, chunk_ * 2);
    std::snprintf(why, sizeof why, "longest step %.1f ms < %.1f ms three times in a row", step_ms,
                  config_.step_budget_ms * config_.grow_below);
  } else {
    fast_in_a_row_ = slow_in_a_row_ = 0;
    return std::nullopt;
  }
  if (chunk_ == before) return std::nullopt;
  log_.push_back(config_.what + " " + std::to_string(before) + " -> " + std::to_string(chunk_) + ": " + why);
  if (log_.size() > 100) log_.erase(log_.begin());
  return chunk_;
}

int StepTuner::chunk() const {
  std::lock_guard lock(mutex_);
  return chunk_;
}

std::vector<std::string> StepTuner::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

}  // namespace ut::engine
