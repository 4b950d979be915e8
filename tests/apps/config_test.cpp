// `ut` reads options from a TOML config file: ./ut.toml when present, $UT_CONFIG or --config otherwise; the
// command line wins over the file, an unknown key is an error, `ut config` prints every option.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

// Runs `ut ARGS` in `dir` with `env` (e.g. "UT_CONFIG=x.toml") and nothing else of a config in the environment;
// its output goes to dir/out.txt. Returns the exit status.
int run(const fs::path& dir, const std::string& args, const std::string& env = "") {
  const std::string cmd = "cd '" + dir.string() + "' && env -u UT_CONFIG " + env + " " + UT_BINARY + " " + args +
                          " > out.txt 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::path(::testing::TempDir()) / ("ut_config_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

bool synth_wrote(const fs::path& dir, const std::string& out) {
  return fs::exists(dir / out / "tiny-llama-spm-random.gguf");
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

// $UT_CONFIG names the file; it wins over ./ut.toml, which is then not read at all.
TEST(Config, UtConfigNamesTheFileAndWinsOverUtToml) {
  const auto dir = fresh_dir("env");
  std::ofstream(dir / "ut.toml") << "models.synth.out = \"from-ut-toml\"\n";
  std::ofstream(dir / "env.toml") << "[models.synth]\nout = \"from-env\"\n";
  ASSERT_EQ(run(dir, "models synth", "UT_CONFIG=env.toml"), 0) << read(dir / "out.txt");
  EXPECT_TRUE(synth_wrote(dir, "from-env")) << read(dir / "out.txt");
  EXPECT_FALSE(fs::exists(dir / "from-ut-toml"));
  ASSERT_EQ(run(dir, "models synth --out from-cli", "UT_CONFIG=env.toml"), 0) << read(dir / "out.txt");
  EXPECT_TRUE(synth_wrote(dir, "from-cli")) << "the command line wins over $UT_CONFIG's file too";
  fs::remove_all(dir);
}

// A config file that was asked for and is not there is an error naming it, whether --config or $UT_CONFIG asked;
// nothing runs. (Without either, a missing ./ut.toml is no error: the first test runs without one.)
TEST(Config, MissingNamedFileIsAnErrorNamingIt) {
  const auto dir = fresh_dir("missing");
  EXPECT_NE(run(dir, "--config nowhere.toml models synth"), 0);
  EXPECT_NE(read(dir / "out.txt").find("nowhere.toml"), std::string::npos) << read(dir / "out.txt");
  EXPECT_NE(run(dir, "models synth", "UT_CONFIG=absent.toml"), 0);
  EXPECT_NE(read(dir / "out.txt").find("absent.toml"), std::string::npos) << read(dir / "out.txt");
  EXPECT_FALSE(synth_wrote(dir, "models/synth")) << "nothing ran";
  ASSERT_EQ(run(dir, "models synth --out plain"), 0) << read(dir / "out.txt");
  EXPECT_TRUE(synth_wrote(dir, "plain"));
  fs::remove_all(dir);
}

// A value of the wrong type is an error naming the option; a file that is not TOML is an error too. Nothing runs.
TEST(Config, WrongTypesAndMalformedFilesAreErrors) {
  const auto dir = fresh_dir("bad");
  std::ofstream(dir / "type.toml") << "models.synth.out = \"typed\"\nmodels.synth.seed = \"not-a-number\"\n";
  EXPECT_NE(run(dir, "--config type.toml models synth"), 0);
  EXPECT_NE(read(dir / "out.txt").find("seed"), std::string::npos) << read(dir / "out.txt");
  EXPECT_FALSE(fs::exists(dir / "typed"));

  std::ofstream(dir / "broken.toml") << "[models.synth\nout = \"broken\"\n";
  EXPECT_NE(run(dir, "--config broken.toml models synth"), 0) << read(dir / "out.txt");
  EXPECT_NE(read(dir / "out.txt").find("parse"), std::string::npos) << read(dir / "out.txt");
  EXPECT_FALSE(fs::exists(dir / "broken"));
  fs::remove_all(dir);
}

}  // namespace
