// Shared set-up for the render tests: a CPU timeline device and a UiModel filled the way the lanes will fill it.
#pragma once

#include <string>
#include <vector>

#include "timeline/device.h"
#include "workloads/render/renderer.h"
#include "workloads/render/ui_model.h"

namespace ut::render::test {

// Pushes a short streamed answer, RAG sources ready at E_rag = ready_value, a SQL result and two documents.
inline void fill_model(UiModel& m, uint64_t ready_value) {
  m.chat.publish({.prompt = "Which Debian sections have the most packages?", .status = "generating", .model = "qwen2.5-0.5b (test)"});
  for (const char* t : {"The ", "largest ", "sections ", "are ", "libs, ", "devel ", "and ", "python; ", "see ", "the ", "SQL ",
                        "pane ", "for ", "the ", "counts."})
    (void)m.tokens.try_push({.text = t});
  m.rag.publish({.ready_value = ready_value,
                 .sources = {{"sql: packages by section", 0.91f}, {"docs/debian.md#2", 0.77f}, {"docs/apt.md#5", 0.64f}}});
  SqlView v;
  v.query = "SELECT section, count(*) AS n FROM debian_packages GROUP BY section ORDER BY n DESC LIMIT 6";
  v.status = SqlStatus::done;
  v.message = "6 rows in 4.2 ms (GPU pre-aggregation)";
  v.columns = {"section", "n"};
  v.rows = {{"libs", "9120"}, {"devel", "4311"}, {"python", "3908"}, {"utils", "2876"}, {"net", "1622"}, {"doc", "1520"}};
  m.sql.publish(std::move(v));
  m.docs.publish({.docs = {{.id = 1, .name = "guide.md", .chunks = 12, .embedded = 12},
                           {.id = 2, .name = "notes.md", .chunks = 8, .embedded = 5}},
                  .editing_text = "Edits show at once; changed chunks re-embed in the background."});
}

// Fraction of pixels in [x0,x1)x[y0,y1) within `tol` of rgb.
inline double fraction_near(const Image& img, int x0, int y0, int x1, int y1, const uint8_t rgb[3], int tol = 8) {
  std::size_t hit = 0, all = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = img.at(static_cast<uint32_t>(x), static_cast<uint32_t>(y));
      ++all;
      if (std::abs(p[0] - rgb[0]) <= tol && std::abs(p[1] - rgb[1]) <= tol && std::abs(p[2] - rgb[2]) <= tol) ++hit;
    }
  return all ? static_cast<double>(hit) / static_cast<double>(all) : 0.0;
}

// Pixels brighter than `lum` (text, plots, badges) in a rectangle.
inline std::size_t bright_pixels(const Image& img, int x0, int y0, int x1, int y1, int lum = 150) {
  std::size_t n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = img.at(static_cast<uint32_t>(x), static_cast<uint32_t>(y));
      if ((p[0] * 3 + p[1] * 6 + p[2]) / 10 > lum) ++n;
    }
  return n;
}

}  // namespace ut::render::test
