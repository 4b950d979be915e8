// The UI's panes: chat (streamed tokens + RAG badges), SQL (query, status, result table), documents, and
// diagnostics (per-queue activity from the Trace, frame-time graph, event values, heap use).
//
//   ut::render::UiState state;                              // the UI's own memory (transcript, cached trace)
//   renderer->render([&] { info = ut::render::draw_ui(model, state, input); });
//   if (!info.rag_ready) { /* the chat pane showed its spinner this frame */ }
//
// Contract: call from the render thread only, inside Renderer::render's draw callback. draw_ui never blocks:
// it drains the token ring with try_pop, copies snapshot pointers and reads events with signaled_value().
// The layout is fixed fractions of the display (pane_layout), so tests can look for each pane on a screenshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workloads/render/frame_stats.h"
#include "workloads/render/ui_model.h"

namespace ut::render {

struct PaneSpec {
  const char* title;
  float x, y, w, h;              // fractions of the display
  uint8_t title_rgb[3];          // title-bar colour (8-bit), distinct per pane
};
// chat, sql, documents, diagnostics — in that order.
const std::vector<PaneSpec>& pane_specs();
constexpr uint8_t kWindowBgRgb[3] = {28, 31, 38};
constexpr float kPaneMarginPx = 6.0f;
constexpr float kTitleBarPx = 19.0f;  // ImGui's default font (13 px) + frame padding

struct PaneRect {
  float x, y, w, h;              // pixels
};
PaneRect pane_rect(const PaneSpec& p, float width, float height);

// Per-frame inputs the FrameLoop prepares on its own thread (so draw_ui takes no lock to read them).
struct UiFrameInput {
  uint64_t frame = 0;
  double target_hz = 60;
  std::vector<float> cpu_ms, gpu_ms;   // recent frame times for the graph
  FrameStatsSummary summary;           // over the whole run so far
  std::string device_name;             // the Vulkan device drawing this
};

// What the frame showed (for tests and KPIs).
struct UiFrameInfo {
  bool rag_ready = false;              // RAG badges drawn (E_rag reached the snapshot's ready value)
  bool chat_placeholder = true;        // the chat pane showed its waiting placeholder/spinner
  std::size_t tokens_drained = 0;      // tokens taken from the ring this frame
  bool sql_result = false;
  uint64_t e_rag_seen = 0;             // E_rag's value as read (non-blocking) this frame
};

struct UiState {
  std::string transcript;              // tokens so far (bounded)
  std::size_t tokens_total = 0;
  bool streaming = false;
  // Trace cache, refreshed at most every 100 ms.
  struct Lane {
    std::string label, kind;
    std::vector<std::pair<uint64_t, uint64_t>> spans;  // start, end (ns)
    std::size_t failed = 0;
  };
  std::vector<Lane> lanes;
  uint64_t lanes_at_ns = 0;
  double timeline_window_s = 5.0;
  // Documents pane editor: the UI's own copy of the text (shown at once), sent to the docs lane when changed.
  uint64_t editing_id = 0;
  std::string edit_buffer;
  bool edit_unsent = false;
  // Chat input line.
  std::string question;
};

// Sets the colours the panes rely on (dark theme, window background kWindowBgRgb). Call once per context.
void apply_style();
UiFrameInfo draw_ui(UiModel& model, UiState& state, const UiFrameInput& in);

}  // namespace ut::render
