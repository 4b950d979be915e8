// `ut ui` on the engine's own lanes, as a person would run it (headless on lavapipe in CI): the documents get
// embedded, the SQL pane fills from DuckDB, and the chat answer arrives with RAG badges once E_rag fires.
#include <gtest/gtest.h>
#include <stb/stb_image.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

#include "tests/common/skip.h"

namespace {

TEST(UiEngine, PanesFillFromTheRealLanes) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_ui_engine_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string png = (dir / "ui.png").string(), db = (dir / "ui.duckdb").string();
  // 900 frames: 15 s at 60 Hz, time for the tiny models to embed the documents and answer.
  const std::string cmd = std::string(UT_BINARY) + " ui --headless --frames 900 --lanes engine --db " + db +
                          " --screenshot " + png + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int rc = pclose(p);
  // scripts/setup.sh installs lavapipe; where it is missing the test says so, and CI (UT_REQUIRE_UI=1) fails.
  if (out.find("UI unavailable") != std::string::npos) UT_SKIP_NO_UI("no Vulkan device: " + out);
  ASSERT_EQ(rc, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("E_rag=([0-9]+)"))) << out;
  EXPECT_GE(std::stoull(m[1]), 1u) << "the chat's context never became ready:\n" << out;

  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(png.c_str(), &w, &h, &n, 3);
  ASSERT_NE(px, nullptr) << "no screenshot";
  ASSERT_EQ(w, 1280);
  // RAG badges (button colour 0.16, 0.42, 0.30 -> 41, 107, 77) in the chat pane's top rows; the documents pane's
  // progress bars filled (ImGui's histogram colour, 230, 179, 0) once chunks are embedded.
  long badge = 0, embedded_bar = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const unsigned char* c = px + 3 * (y * w + x);
      if (x < 600 && y < 120) badge += std::abs(c[0] - 41) < 12 && std::abs(c[1] - 107) < 12 && std::abs(c[2] - 77) < 12;
      if (x < 600 && y > 520) embedded_bar += c[0] > 200 && c[1] > 150 && c[1] < 210 && c[2] < 40;
    }
  stbi_image_free(px);
  EXPECT_GT(badge, 300) << "no RAG badge drawn";
  EXPECT_GT(embedded_bar, 2000) << "no document shows embedded chunks";
  std::filesystem::copy_file(png, "ui-engine-lavapipe.png", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove_all(dir);
}

}  // namespace
