// `ut` reads options from a TOML config file: ./ut.toml when present, $UT_CONFIG or --config otherwise; the
// command line wins over the file, an unknown key is an error, `ut config` prints every option.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

int run(const fs::path& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir.string() + "' && " + UT_BINARY + " " + args + " > out.txt 2>&1";
  return std::system(cmd.c_str());
}

std::string read(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), {}};
}

TEST(Config, FileOptionsApplyAndTheCommandLineWins) {
  const auto dir = fs::path(::testing::TempDir()) / ("ut_config_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "ut.toml") << "[models.synth]\nout = \"from-file\"\n";
  ASSERT_EQ(run(dir, "models synth"), 0) << read(dir / "out.txt");
  EXPECT_TRUE(fs::exists(dir / "from-file" / "tiny-llama-spm-random.gguf")) << read(dir / "out.txt");

  ASSERT_EQ(run(dir, "models synth --out from-cli"), 0) << read(dir / "out.txt");
  EXPECT_TRUE(fs::exists(dir / "from-cli" / "tiny-llama-spm-random.gguf"));

  std::ofstream(dir / "other.toml") << "models.synth.out = \"from-env\"\n";
  ASSERT_EQ(run(dir, "--config other.toml models synth"), 0) << read(dir / "out.txt");
  EXPECT_TRUE(fs::exists(dir / "from-env" / "tiny-llama-spm-random.gguf"));

  std::ofstream(dir / "typo.toml") << "models.synth.outt = \"x\"\n";
  EXPECT_NE(run(dir, "--config typo.toml models synth"), 0);
  EXPECT_NE(read(dir / "out.txt").find("models.synth.outt"), std::string::npos) << read(dir / "out.txt");

  ASSERT_EQ(run(dir, "config"), 0);
  const std::string all = read(dir / "out.txt");
  EXPECT_NE(all.find("serve.port"), std::string::npos);
  EXPECT_NE(all.find("models.synth.out=\"from-file\""), std::string::npos) << "shows the value from ut.toml";
  fs::remove_all(dir);
}

}  // namespace
