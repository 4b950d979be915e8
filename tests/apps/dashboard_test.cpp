// The live dashboard, as a person sees it: `ut serve` runs, headless Chromium loads GET / and runs its
// scripts, and the screenshot must show the charts drawn from live data (not just the page skeleton).
#include <gtest/gtest.h>
#include <signal.h>
#include <stb/stb_image.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/apps/serve_process.h"
#include "tests/common/skip.h"

namespace {

TEST(Dashboard, DrawsLiveChartsInHeadlessChromium) {
  if (!std::filesystem::exists("/usr/bin/chromium"))
    UT_SKIP_NO_UI("chromium is not installed (scripts/setup.sh installs it)");
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_dashboard_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  ut::test::ServeProcess server({"--db", (dir / "d.duckdb").string()});
  ASSERT_TRUE(server.up) << "ut serve did not start";
  const int port = server.port;

  const std::string png = (dir / "dashboard.png").string();
  const std::string cmd = "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 "
                          "--virtual-time-budget=5000 --screenshot=" + png + " http://127.0.0.1:" +
                          std::to_string(port) + "/ > " + (dir / "chromium.log").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  const int status = server.stop();
  ASSERT_EQ(rc, 0) << cmd;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "ut serve must stop cleanly on SIGTERM";

  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(png.c_str(), &w, &h, &n, 3);
  ASSERT_NE(px, nullptr) << "no screenshot";
  // The frame-time line (#4fc3f7) and the queue-activity slices are only drawn after the page fetched live data.
  long chart_pixels = 0, lit = 0;
  for (int i = 0; i < w * h; ++i) {
    const unsigned char r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
    chart_pixels += std::abs(r - 0x4f) < 24 && std::abs(g - 0xc3) < 24 && std::abs(b - 0xf7) < 24;
    lit += r + g + b > 200;
  }
  stbi_image_free(px);
  EXPECT_EQ(w, 1280);
  EXPECT_GT(lit, 2000) << "the page is blank";
  EXPECT_GT(chart_pixels, 50) << "no chart was drawn from live data";
  // Kept for a person to look at (ctest's working directory is the build tree).
  std::filesystem::copy_file(png, "dashboard-chromium.png", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove_all(dir);
}

}  // namespace
