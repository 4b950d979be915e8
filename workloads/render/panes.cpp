#include "workloads/render/panes.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "timeline/clock.h"

namespace ut::render {
namespace {

ImVec4 rgb(const uint8_t c[3], float a = 1.0f) { return ImVec4(c[0] / 255.f, c[1] / 255.f, c[2] / 255.f, a); }

const ImVec4 kDim(0.60f, 0.62f, 0.68f, 1.0f);
const ImVec4 kGood(0.40f, 0.85f, 0.45f, 1.0f);
const ImVec4 kWarn(0.95f, 0.75f, 0.30f, 1.0f);
const ImVec4 kBad(0.95f, 0.40f, 0.35f, 1.0f);

// A ring of dots, one lit, turning with time: "waiting, and the UI is alive".
void spinner(float radius = 7.0f) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const ImVec2 c(p.x + radius + 1, p.y + radius + 2);
  constexpr int kDots = 8;
  const int lit = static_cast<int>(ImGui::GetTime() * 10.0) % kDots;
  for (int i = 0; i < kDots; ++i) {
    const float a = static_cast<float>(i) * 6.2831853f / kDots;
    const int alpha = i == lit ? 255 : 70;
    dl->AddCircleFilled(ImVec2(c.x + std::cos(a) * radius, c.y + std::sin(a) * radius), 1.8f,
                        IM_COL32(120, 180, 255, alpha));
  }
  ImGui::Dummy(ImVec2(radius * 2 + 4, radius * 2 + 4));
  ImGui::SameLine();
}

bool begin_pane(const PaneSpec& spec) {
  const ImVec2 size = ImGui::GetIO().DisplaySize;
  const PaneRect r = pane_rect(spec, size.x, size.y);
  ImGui::SetNextWindowPos(ImVec2(r.x, r.y), ImGuiCond_Always);
  ImGui::SetNextWindowSize(ImVec2(r.w, r.h), ImGuiCond_Always);
  ImGui::PushStyleColor(ImGuiCol_TitleBg, rgb(spec.title_rgb));
  ImGui::PushStyleColor(ImGuiCol_TitleBgActive, rgb(spec.title_rgb));
  ImGui::PushStyleColor(ImGuiCol_TitleBgCollapsed, rgb(spec.title_rgb));
  const bool open = ImGui::Begin(spec.title, nullptr,
                                 ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse |
                                     ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoFocusOnAppearing);
  ImGui::PopStyleColor(3);
  return open;
}

void draw_chat(UiModel& m, UiState& st, UiFrameInfo& info) {
  const PaneSpec& spec = pane_specs()[0];
  if (begin_pane(spec)) {
    // Tokens: drain what the producer pushed since the last frame (never blocks).
    while (auto tok = m.tokens.try_pop()) {
      st.transcript += tok->text;
      ++st.tokens_total;
      ++info.tokens_drained;
      st.streaming = !tok->end_of_message;
      if (tok->end_of_message) st.transcript += "\n\n";
    }
    constexpr std::size_t kMaxTranscript = 16 * 1024;
    if (st.transcript.size() > kMaxTranscript) st.transcript.erase(0, st.transcript.size() - kMaxTranscript);

    const auto chat = m.chat.latest();
    ImGui::TextColored(kDim, "You:");
    ImGui::SameLine();
    ImGui::TextWrapped("%s", chat && !chat->prompt.empty() ? chat->prompt.c_str() : "(no message yet)");
    ImGui::TextColored(kDim, "Status:");
    ImGui::SameLine();
    ImGui::TextUnformatted(chat && !chat->status.empty() ? chat->status.c_str() : "ML lane not connected");
    if (chat && !chat->model.empty()) {
      ImGui::SameLine();
      ImGui::TextColored(kDim, "(%s)", chat->model.c_str());
    }

    // RAG badges, once E_rag says the context for this answer is ready.
    const auto rag = m.rag.latest();
    info.e_rag_seen = m.e_rag ? m.e_rag->signaled_value() : 0;
    info.rag_ready = rag && m.e_rag && info.e_rag_seen >= rag->ready_value;
    ImGui::Separator();
    if (info.rag_ready) {
      ImGui::TextColored(kGood, "Context ready (E_rag = %llu):", static_cast<unsigned long long>(info.e_rag_seen));
      for (const auto& s : rag->sources) {
        char label[160];
        std::snprintf(label, sizeof label, "%s  %.2f", s.title.c_str(), static_cast<double>(s.score));
        ImGui::SameLine();
        if (ImGui::GetContentRegionAvail().x < ImGui::CalcTextSize(label).x + 16) ImGui::NewLine();
        ImGui::PushStyleColor(ImGuiCol_Button, ImVec4(0.16f, 0.42f, 0.30f, 1.0f));
        ImGui::SmallButton(label);
        ImGui::PopStyleColor();
      }
    } else {
      spinner();
      if (m.e_rag && rag)
        ImGui::TextColored(kWarn, "retrieving context... E_rag = %llu, ready at %llu",
                           static_cast<unsigned long long>(info.e_rag_seen),
                           static_cast<unsigned long long>(rag->ready_value));
      else if (m.e_rag)
        ImGui::TextColored(kWarn, "waiting for the ML lane (E_rag = %llu)", static_cast<unsigned long long>(info.e_rag_seen));
      else
        ImGui::TextColored(kDim, "RAG sources appear here (vector lane not connected)");
    }
    ImGui::Separator();
    // Ask: Enter hands the question to the chat lane (never waits; a full ring keeps the text in the box).
    ImGui::SetNextItemWidth(-1);
    if (ImGui::InputTextWithHint("##ask", "ask a question, Enter to send", &st.question,
                                 ImGuiInputTextFlags_EnterReturnsTrue) &&
        !st.question.empty() && m.questions.try_push(st.question))
      st.question.clear();
    ImGui::BeginChild("transcript", ImVec2(0, 0), false);
    info.chat_placeholder = st.transcript.empty();
    if (info.chat_placeholder) {
      spinner();
      ImGui::TextColored(kDim, "Assistant: waiting for the first token...");
    } else {
      ImGui::TextColored(kDim, "Assistant (%zu tokens):", st.tokens_total);
      ImGui::TextWrapped("%s%s", st.transcript.c_str(),
                         st.streaming && static_cast<int>(ImGui::GetTime() * 2) % 2 ? "_" : "");
      if (st.streaming) ImGui::SetScrollHereY(1.0f);
    }
    ImGui::EndChild();
  }
  ImGui::End();
}

void draw_sql(UiModel& m, UiFrameInfo& info) {
  if (begin_pane(pane_specs()[1])) {
    const auto v = m.sql.latest();
    if (!v) {
      spinner();
      ImGui::TextColored(kDim, "no query yet (data engine not connected)");
    } else {
      ImGui::TextColored(kDim, "Query:");
      ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.75f, 0.85f, 1.0f, 1.0f));
      ImGui::TextWrapped("%s", v->query.c_str());
      ImGui::PopStyleColor();
      const ImVec4 col = v->status == SqlStatus::done ? kGood : v->status == SqlStatus::failed ? kBad : kWarn;
      if (v->status == SqlStatus::running) spinner();
      ImGui::TextColored(col, "%s", to_string(v->status));
      if (!v->message.empty()) {
        ImGui::SameLine();
        ImGui::TextWrapped("%s", v->message.c_str());
      }
      const int cols = static_cast<int>(std::min<std::size_t>(v->columns.size(), 32));
      if (cols > 0 && ImGui::BeginTable("result", cols,
                                        ImGuiTableFlags_Borders | ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY)) {
        for (int c = 0; c < cols; ++c) ImGui::TableSetupColumn(v->columns[static_cast<std::size_t>(c)].c_str());
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableHeadersRow();
        ImGuiListClipper clip;
        clip.Begin(static_cast<int>(v->rows.size()));
        while (clip.Step())
          for (int r = clip.DisplayStart; r < clip.DisplayEnd; ++r) {
            ImGui::TableNextRow();
            const auto& row = v->rows[static_cast<std::size_t>(r)];
            for (int c = 0; c < cols && c < static_cast<int>(row.size()); ++c) {
              ImGui::TableSetColumnIndex(c);
              ImGui::TextUnformatted(row[static_cast<std::size_t>(c)].c_str());
            }
          }
        ImGui::EndTable();
        info.sql_result = true;
      }
    }
  }
  ImGui::End();
}

void draw_docs(UiModel& m, UiState& st) {
  if (begin_pane(pane_specs()[2])) {
    const auto v = m.docs.latest();
    if (!v || v->docs.empty()) {
      spinner();
      ImGui::TextColored(kDim, "documents lane not connected yet: edits and chunk embedding state appear here");
    } else {
      ImGui::TextColored(kDim, "click a document to edit it; chunks re-embed in the background as you type");
      for (const auto& d : v->docs) {
        const float f = d.chunks ? static_cast<float>(d.embedded) / static_cast<float>(d.chunks) : 0.f;
        char overlay[80];
        std::snprintf(overlay, sizeof overlay, "%zu / %zu chunks embedded%s", d.embedded, d.chunks,
                      d.failed ? " (some failed)" : "");
        ImGui::PushID(static_cast<int>(d.id));
        if (ImGui::Selectable(d.name.c_str(), st.editing_id == d.id, 0, ImVec2(170, 0)) && st.editing_id != d.id) {
          st.editing_id = d.id;
          st.edit_buffer = d.body;
          st.edit_unsent = false;
        }
        ImGui::SameLine(180);
        ImGui::ProgressBar(f, ImVec2(-1, 0), overlay);
        ImGui::PopID();
      }
      if (st.editing_id != 0) {
        ImGui::Separator();
        if (ImGui::InputTextMultiline("##doc", &st.edit_buffer, ImVec2(-1, -1))) st.edit_unsent = true;
        // A full ring keeps the edit for the next frame; the text on screen is already the new one.
        if (st.edit_unsent && m.edits.try_push({st.editing_id, st.edit_buffer})) st.edit_unsent = false;
      } else if (!v->editing_text.empty()) {
        ImGui::Separator();
        ImGui::TextWrapped("%s", v->editing_text.c_str());
      }
    }
  }
  ImGui::End();
}

void refresh_lanes(UiModel& m, UiState& st, uint64_t now) {
  if (!m.device || now - st.lanes_at_ns < 100'000'000) return;
  st.lanes_at_ns = now;
  const auto window = static_cast<uint64_t>(st.timeline_window_s * 1e9);
  const auto records = m.device->trace().since(now > window ? now - window : 0);
  std::map<std::string, UiState::Lane> by_label;
  for (auto& l : st.lanes) by_label[l.label] = {l.label, l.kind, {}, 0};  // keep idle queues visible
  for (const auto& r : records) {
    auto& lane = by_label[r.queue_label];
    lane.label = r.queue_label;
    lane.kind = r.queue_kind;
    lane.spans.emplace_back(r.start_ns, r.end_ns);
    lane.failed += r.failed ? 1 : 0;
  }
  st.lanes.clear();
  for (auto& [_, l] : by_label) st.lanes.push_back(std::move(l));
}

void draw_timeline(UiState& st, uint64_t now) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float label_w = 90, row_h = 16;
  const float width = std::max(50.0f, ImGui::GetContentRegionAvail().x - label_w);
  const auto window = static_cast<uint64_t>(st.timeline_window_s * 1e9);
  const uint64_t t0 = now > window ? now - window : 0;
  for (const auto& lane : st.lanes) {
    ImGui::TextUnformatted(lane.label.c_str());
    ImGui::SameLine(label_w);
    const ImVec2 p = ImGui::GetCursorScreenPos();
    dl->AddRectFilled(p, ImVec2(p.x + width, p.y + row_h - 3), IM_COL32(45, 50, 60, 255));
    const ImU32 col = lane.kind == "render"     ? IM_COL32(90, 200, 120, 255)
                      : lane.kind == "compute"  ? IM_COL32(230, 150, 60, 255)
                      : lane.kind == "transfer" ? IM_COL32(90, 150, 240, 255)
                                                : IM_COL32(200, 120, 220, 255);
    for (const auto& [s, e] : lane.spans) {
      if (e < t0) continue;
      const float x0 = p.x + width * static_cast<float>(static_cast<double>((std::max(s, t0) - t0)) / static_cast<double>(window));
      const float x1 = p.x + width * static_cast<float>(static_cast<double>((std::min(e, now) - t0)) / static_cast<double>(window));
      dl->AddRectFilled(ImVec2(x0, p.y), ImVec2(std::max(x1, x0 + 1.0f), p.y + row_h - 3), col);
    }
    ImGui::Dummy(ImVec2(width, row_h - 3));
  }
  if (st.lanes.empty()) ImGui::TextColored(kDim, "no queue activity recorded in the trace yet");
}

void draw_diagnostics(UiModel& m, UiState& st, const UiFrameInput& in) {
  if (begin_pane(pane_specs()[3])) {
    const auto& s = in.summary;
    ImGui::Text("frame %llu  on %s", static_cast<unsigned long long>(in.frame), in.device_name.c_str());
    ImGui::Text("cpu frame avg %.2f  p99 %.2f  max %.2f ms   gpu frame avg %.2f  p99 %.2f ms", s.cpu.avg, s.cpu.p99,
                s.cpu.max, s.gpu.avg, s.gpu.p99);
    ImGui::Text("%.1f Hz   late frames %llu   %.1f%% over 16.6 ms   %.1f%% over 33 ms   1%% low %.0f fps",
                s.achieved_hz, static_cast<unsigned long long>(s.late_frames), s.cpu.over_16_6_pct, s.cpu.over_33_pct,
                s.interval.count ? s.interval.one_pct_low_fps : 0.0);
    // Frame-time graph; the budget line is 16.6 ms of a 33.3 ms scale.
    const float graph_w = ImGui::GetContentRegionAvail().x;
    const ImVec2 gp = ImGui::GetCursorScreenPos();
    if (!in.cpu_ms.empty())
      ImGui::PlotLines("##cpu", in.cpu_ms.data(), static_cast<int>(in.cpu_ms.size()), 0, "cpu frame ms (0..33)", 0.0f,
                       33.3f, ImVec2(graph_w, 60));
    else
      ImGui::Dummy(ImVec2(graph_w, 60));
    const float budget_y = gp.y + 60 * 0.5f;
    ImGui::GetWindowDrawList()->AddLine(ImVec2(gp.x, budget_y), ImVec2(gp.x + graph_w, budget_y),
                                        IM_COL32(230, 80, 80, 160));
    if (!in.gpu_ms.empty())
      ImGui::PlotLines("##gpu", in.gpu_ms.data(), static_cast<int>(in.gpu_ms.size()), 0, "gpu frame ms (0..33)", 0.0f,
                       33.3f, ImVec2(graph_w, 36));

    const uint64_t now = now_ns();
    refresh_lanes(m, st, now);
    ImGui::Separator();
    ImGui::TextColored(kDim, "queues, last %.0f s (trace)", st.timeline_window_s);
    draw_timeline(st, now);

    ImGui::Separator();
    ImGui::Columns(2, "ev_heap", false);
    ImGui::TextColored(kDim, "events (signaled_value)");
    for (const auto& e : m.events)
      ImGui::Text("%-10s %llu", e->label().c_str(), static_cast<unsigned long long>(e->signaled_value()));
    ImGui::NextColumn();
    ImGui::TextColored(kDim, "heaps");
    for (const auto& h : m.heaps) {
      const double used = static_cast<double>(h->used()), size = static_cast<double>(h->size());
      char overlay[96];
      std::snprintf(overlay, sizeof overlay, "%s %.1f / %.1f MiB", h->label().c_str(), used / 1048576.0, size / 1048576.0);
      ImGui::ProgressBar(size > 0 ? static_cast<float>(used / size) : 0.f, ImVec2(-1, 0), overlay);
    }
    if (m.heaps.empty()) ImGui::TextColored(kDim, "(none watched)");
    ImGui::Columns(1);
  }
  ImGui::End();
}

}  // namespace

const std::vector<PaneSpec>& pane_specs() {
  static const std::vector<PaneSpec> specs = {
      {"Chat", 0.00f, 0.00f, 0.48f, 0.62f, {38, 92, 160}},
      {"SQL", 0.48f, 0.00f, 0.52f, 0.40f, {150, 96, 30}},
      {"Documents", 0.00f, 0.62f, 0.48f, 0.38f, {40, 120, 72}},
      {"Diagnostics", 0.48f, 0.40f, 0.52f, 0.60f, {112, 64, 150}},
  };
  return specs;
}

PaneRect pane_rect(const PaneSpec& p, float width, float height) {
  const float m = kPaneMarginPx;
  return {std::floor(p.x * width + m), std::floor(p.y * height + m), std::floor(p.w * width - 2 * m),
          std::floor(p.h * height - 2 * m)};
}

void apply_style() {
  ImGui::StyleColorsDark();
  ImGuiStyle& s = ImGui::GetStyle();
  s.WindowRounding = 0;
  s.WindowBorderSize = 1;
  s.Colors[ImGuiCol_WindowBg] = rgb(kWindowBgRgb);
  s.Colors[ImGuiCol_ChildBg] = ImVec4(0, 0, 0, 0);
}

UiFrameInfo draw_ui(UiModel& model, UiState& state, const UiFrameInput& in) {
  UiFrameInfo info;
  draw_chat(model, state, info);
  draw_sql(model, info);
  draw_docs(model, state);
  draw_diagnostics(model, state, in);
  return info;
}

}  // namespace ut::render
