// `ut bench serve`: the load client against our server in-process on loopback (tiny synthetic models), against
// a stand-in that streams the way llama-server does, and against nothing at all.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "workloads/remote/openai_client.h"
#include "bench/serve/serve_bench.h"
#include "bench/serve/slow_clients_bench.h"
#include "engine/assistant.h"
#include "engine/default_models.h"
#include "server/routes.h"
#include "server/server.h"

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  auto d = fs::path(::testing::TempDir()) / (name + "_" + std::to_string(getpid()) + "_" + std::to_string(std::random_device{}()));
  fs::create_directories(d);
  return d;
}

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

// A loopback port with nothing listening: bound, read, closed.
int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(s);
    return 1;
  }
  close(s);
  return ntohs(a.sin_port);
}

class BenchServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("UT_TRAINED_MODELS_DIR", "none", 0);  // the tiny synthetic models, as ctest runs this binary
    dir = temp_dir("ut_bench_serve");
    const char* md = std::getenv("UT_MODELS_DIR");
    const auto models = ut::engine::default_models(md && *md ? md : (fs::temp_directory_path() / "ut-test-models").string());
    eng = std::make_unique<ut::engine::Engine>(ut::engine::EngineConfig{.backend = "cpu", .max_heavy_ops = 4});
    eng->start();
    ai = std::make_unique<ut::engine::Assistant>(
        *eng, ut::engine::AssistantConfig{.embed_model = models.embedder, .chat_model = models.decoder,
                                          .db_path = (dir / "t.duckdb").string()});
    srv = std::make_unique<ut::server::Server>(*eng, ut::server::ServerOptions{.port = 0});
    srv->add_routes([&](httplib::Server& h) { ut::server::add_openai_routes(h, *ai); });
    srv->start();
    url = "http://127.0.0.1:" + std::to_string(srv->port());
  }
  void TearDown() override {
    if (srv) srv->stop();
    srv.reset();
    ai.reset();
    eng.reset();
    fs::remove_all(dir);
  }
  fs::path dir;
  std::string url;
  std::unique_ptr<ut::engine::Engine> eng;
  std::unique_ptr<ut::engine::Assistant> ai;
  std::unique_ptr<ut::server::Server> srv;
};

TEST_F(BenchServeTest, ChatsAndEmbeddingLoadAgainstOurServer) {
  const ut::bench::ServeBenchOptions o{.label = "ut serve (test)", .chat_url = url, .chats = 2, .concurrency = {1, 2},
                                     .prompt_words = 8, .max_tokens = 4, .embed_clients = 1, .embed_batch = 4,
                                     .embed_seconds = 0.3, .warmup_s = 0.1, .timeout_s = 60,
                                     .json_path = (dir / "serve.json").string()};
  ASSERT_EQ(ut::bench::run_serve_bench(o), 0);
  const auto j = read_json(dir / "serve.json");
  EXPECT_EQ(j["schema"], "ut-bench/1");
  EXPECT_EQ(j["suite"], "serve");
  const auto& cfg = j["config"];
  EXPECT_EQ(cfg["label"], "ut serve (test)");
  EXPECT_EQ(cfg["side"], "ours") << "a label starting with \"ut serve\" is our server";
  EXPECT_EQ(cfg["chat_url"], url);
  EXPECT_EQ(cfg["embed_url"], url) << "defaults to the chat URL";
  // Both models listed by one server: the listed id that answers embeddings is the embedder, another the chat model.
  const auto listed = cfg["models_listed"]["embed_url"].get<std::vector<std::string>>();
  const std::string chat = cfg["chat_model"], embed = cfg["embed_model"];
  EXPECT_NE(std::find(listed.begin(), listed.end(), chat), listed.end()) << cfg["models_listed"].dump();
  EXPECT_NE(std::find(listed.begin(), listed.end(), embed), listed.end()) << cfg["models_listed"].dump();
  ut::remote::OpenAiClient probe(url, {.timeout_s = 60});
  EXPECT_TRUE(probe.embed(embed, {"probe"}).ok);
  EXPECT_FALSE(probe.embed(chat, {"probe"}).ok) << "the chat model is not the embedder";
  EXPECT_EQ(cfg["options"]["max_tokens"], 4);
  EXPECT_TRUE(cfg["options"]["ignore_eos"].get<bool>());
  EXPECT_GT(j["machine"]["cores"].get<int>(), 0);
  EXPECT_TRUE(j["device"].contains("backend"));
  EXPECT_EQ(cfg["chats_ok"], 8);
  EXPECT_EQ(cfg["chats_failed"], 0);

  // (case, metric) -> the values of side "ours".
  std::map<std::pair<std::string, std::string>, std::vector<double>> v;
  for (const auto& s : j["samples"]) {
    EXPECT_EQ(s["side"], "ours");
    v[{s["case"].get<std::string>(), s["metric"].get<std::string>()}] = s["values"].get<std::vector<double>>();
  }
  ASSERT_EQ(j["summary"].size(), j["samples"].size());
  auto vals = [&](const std::string& c, const std::string& m) { return v[{c, m}]; };
  auto has = [&](const std::string& c, const std::string& m) { return v.count({c, m}) == 1; };
  const auto& alone = cfg["phases"]["embeddings alone"];
  EXPECT_GT(alone["embeddings_in_window"].get<double>(), 0);
  EXPECT_GT(alone["embeddings_done"].get<int>(), 0);
  EXPECT_EQ(alone["embed_requests_failed"], 0) << alone["failures"].dump();
  ASSERT_EQ(vals("embeddings alone", "embeddings_per_s").size(), 1u);
  EXPECT_GT(vals("embeddings alone", "embeddings_per_s")[0], 0);
  EXPECT_EQ(vals("embeddings alone", "embed_request_ms").size(), alone["embed_requests_ok"].get<std::size_t>())
      << "every embedding request's time";

  for (const int conc : {1, 2}) {
    for (const std::string kind : {" alone", " + embeddings"}) {
      const std::string c = "chats=" + std::to_string(conc) + kind;
      SCOPED_TRACE(c);
      const auto& p = cfg["phases"][c];
      ASSERT_TRUE(p.is_object());
      EXPECT_EQ(p["requests_ok"], 2) << p["failures"].dump();
      EXPECT_EQ(p["requests_failed"], 0);
      const auto ttft = vals(c, "ttft_ms");
      const auto latency = vals(c, "latency_ms");
      const auto tokens = vals(c, "streamed_tokens");
      ASSERT_EQ(ttft.size(), 2u) << "one sample per request";
      ASSERT_EQ(latency.size(), 2u);
      ASSERT_EQ(tokens.size(), 2u);
      for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_GT(ttft[i], 0);
        EXPECT_LE(ttft[i], latency[i]);
        EXPECT_GT(tokens[i], 0);
        EXPECT_LE(tokens[i], 4);
      }
      EXPECT_TRUE(has(c, "decode_tokens_per_s"));
      ASSERT_EQ(vals(c, "generated_tokens_per_s").size(), 1u);
      EXPECT_GT(vals(c, "generated_tokens_per_s")[0], 0);
    }
    const std::string with = "chats=" + std::to_string(conc) + " + embeddings";
    const auto& w = cfg["phases"][with];
    EXPECT_GT(w["embed_requests_ok"].get<int>(), 0) << "the background load ran";
    EXPECT_GT(w["embeddings_in_window"].get<double>(), 0) << "and overlapped the chats";
    EXPECT_GT(vals(with, "embeddings_per_s").at(0), 0);
    EXPECT_EQ(w["embed_requests_failed"], 0) << w["failures"].dump();
    EXPECT_EQ(cfg["phases"]["chats=" + std::to_string(conc) + " alone"]["embed_requests_ok"], 0)
        << "no embedding load in the chats-alone phase";
  }
}

TEST_F(BenchServeTest, OpenLoopArrivalsFollowTheirScheduleWhateverTheServerDoes) {
  // Two rates, six requests each, no closed loop and no embeddings. Arrivals do not wait for answers, so a burst
  // may meet the fixture's admission limit (4 heavy operations): such a request is a counted 429, never lost.
  const ut::bench::ServeBenchOptions o{.label = "ut serve (test)", .chat_url = url, .chats = 6, .closed_loop = false,
                                     .rates = {5, 40}, .prompt_words = 8, .max_tokens = 4, .embed_clients = 0,
                                     .seed = std::random_device{}(), .timeout_s = 60,
                                     .json_path = (dir / "open.json").string()};
  ASSERT_EQ(ut::bench::run_serve_bench(o), 0);
  const auto j = read_json(dir / "open.json");
  const auto& cfg = j["config"];
  EXPECT_EQ(cfg["chats_ok"].get<int>() + cfg["chats_failed"].get<int>(), 12);
  EXPECT_EQ(cfg["options"]["rates"], json::array({5, 40}));
  EXPECT_TRUE(cfg["options"]["concurrency"].empty()) << "no closed-loop phase ran";
  EXPECT_TRUE(cfg.contains("open_loop_ttft_over_200ms_at_rate"));
  std::map<std::pair<std::string, std::string>, std::vector<double>> v;
  for (const auto& s : j["samples"])
    v[{s["case"].get<std::string>(), s["metric"].get<std::string>()}] = s["values"].get<std::vector<double>>();
  auto vals = [&](const std::string& c, const std::string& m) { return v[{c, m}]; };
  for (const std::string c : {"open loop 5/s", "open loop 40/s"}) {
    SCOPED_TRACE(c);
    const auto& p = cfg["phases"][c];
    ASSERT_TRUE(p.is_object()) << cfg["phases"].dump();
    const int ok = p["requests_ok"];
    EXPECT_GE(ok, 1);
    EXPECT_EQ(ok + p["requests_failed"].get<int>(), 6);
    for (const auto& f : p["failures"]) EXPECT_NE(f["message"].get<std::string>().find("HTTP 429"), std::string::npos) << f;
    EXPECT_EQ(p["ttft_statistic"], "max (fewer than 200 samples)");
    const auto ttft = vals(c, "ttft_ms"), lat = vals(c, "latency_ms");
    ASSERT_EQ(ttft.size(), static_cast<std::size_t>(ok)) << "one sample per answered request";
    ASSERT_EQ(lat.size(), static_cast<std::size_t>(ok));
    EXPECT_DOUBLE_EQ(p["ttft_p99_or_max_ms"].get<double>(), *std::max_element(ttft.begin(), ttft.end()));
    for (std::size_t i = 0; i < ttft.size(); ++i) EXPECT_LE(ttft[i], lat[i]);
    ASSERT_EQ(vals(c, "achieved_rate").size(), 1u);
    EXPECT_GT(vals(c, "achieved_rate")[0], 0);
  }
  EXPECT_GT(cfg["phases"]["open loop 40/s"]["rate"].get<double>(), cfg["phases"]["open loop 5/s"]["rate"].get<double>());
}

TEST(BenchServe, RatesParseOrSayWhatIsExpected) {
  EXPECT_EQ(ut::bench::parse_rates("0.5,1,2"), (std::vector<double>{0.5, 1, 2}));
  EXPECT_TRUE(ut::bench::parse_rates("").empty());
  for (const char* bad : {"0", "-1", "1,,2", "x", "1e9", "2/s"}) EXPECT_THROW(ut::bench::parse_rates(bad), std::invalid_argument) << bad;
}

TEST(BenchServe, NothingListeningCountsFailuresAndFails) {
  const auto dir = temp_dir("ut_bench_serve_down");
  const std::string url = "http://127.0.0.1:" + std::to_string(free_port());
  const ut::bench::ServeBenchOptions o{.chat_url = url, .chats = 2, .concurrency = {1}, .prompt_words = 8,
                                     .max_tokens = 4, .embed_clients = 1, .embed_batch = 2, .embed_seconds = 0.2,
                                     .warmup_s = 0.1, .timeout_s = 3, .json_path = (dir / "down.json").string()};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(ut::bench::run_serve_bench(o), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s) << "no hang";
  const auto j = read_json(dir / "down.json");
  const auto& cfg = j["config"];
  EXPECT_EQ(cfg["side"], url) << "not our label: the side is the label, here the chat URL";
  EXPECT_EQ(cfg["chats_ok"], 0);
  EXPECT_EQ(cfg["chats_failed"], 4) << "2 chats alone + 2 under the embedding load";
  const auto& p = cfg["phases"]["chats=1 alone"];
  EXPECT_EQ(p["requests_failed"], 2);
  ASSERT_FALSE(p["failures"].empty());
  EXPECT_NE(p["failures"][0]["message"].get<std::string>().find("cannot connect"), std::string::npos) << p["failures"].dump();
  EXPECT_GT(cfg["phases"]["embeddings alone"]["embed_requests_failed"].get<int>(), 0);
  EXPECT_EQ(cfg["phases"]["embeddings alone"]["embeddings_in_window"], 0);
  for (const auto& s : j["samples"]) {
    if (s["metric"] != "ttft_ms") continue;
    EXPECT_TRUE(s["values"].empty()) << "no successful chat, no sample";
  }
  bool noted = false;
  for (const auto& n : j["notes"]) noted = noted || n.get<std::string>().find("cannot connect") != std::string::npos;
  EXPECT_TRUE(noted) << "failures are written down: " << j["notes"].dump();
  fs::remove_all(dir);
}

// The stream shape of llama-server: a role chunk with null content, one token per chunk, a finish chunk, then a
// usage chunk with no choices; models listed as one id. Also an embeddings answer one vector short.
TEST(BenchServe, ClientParsesALlamaServerShapedStream) {
  httplib::Server fake;
  std::mutex mutex;  // the handler runs on the server's thread
  json last_chat;
  fake.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"object":"list","data":[{"id":"peer.gguf","object":"model"}]})", "application/json");
  });
  fake.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mutex);
      last_chat = json::parse(req.body);
    }
    res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
      auto send = [&](const std::string& data) {
        const std::string line = "data: " + data + "\n\n";
        sink.write(line.data(), line.size());
      };
      send(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]})");
      for (const char* t : {"Hello", " there", ",", " you"}) {
        std::this_thread::sleep_for(20ms);
        send(json{{"choices", {{{"index", 0}, {"delta", {{"content", t}}}, {"finish_reason", nullptr}}}}}.dump());
      }
      send(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})");
      send(R"({"choices":[],"usage":{"completion_tokens":4,"prompt_tokens":9,"total_tokens":13}})");
      send("[DONE]");
      sink.done();
      return true;
    });
  });
  fake.Post("/v1/embeddings", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"data":[{"index":0,"embedding":[0.6,0.8]}]})", "application/json");
  });
  fake.set_tcp_nodelay(true);  // as llama-server's own cpp-httplib is built
  const int port = fake.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::jthread t([&] { fake.listen_after_bind(); });
  struct Stop {
    httplib::Server& s;
    ~Stop() { s.stop(); }  // before t joins, also when an assertion returns early
  } stop{fake};

  ut::remote::OpenAiClient c("http://127.0.0.1:" + std::to_string(port) + "/v1/", {.timeout_s = 10});
  const auto models = c.models();
  ASSERT_TRUE(models.ok) << models.error;
  ASSERT_EQ(models.ids, std::vector<std::string>{"peer.gguf"});
  const auto r = c.chat({.model = "peer.gguf", .prompt = "hi", .max_tokens = 4});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.tokens, 4);
  EXPECT_EQ(r.completion_tokens, 4);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_GE(r.ttft_ms, 15);  // the first token came after one 20 ms pause
  EXPECT_LT(r.ttft_ms, 50) << "a request body held back by Nagle's algorithm costs ~40 ms (TCP_NODELAY)";
  EXPECT_GE(r.total_ms - r.ttft_ms, 55);  // three more pauses, timed per chunk as they arrived
  EXPECT_GT(r.decode_tps, 3 / 0.09);
  EXPECT_LT(r.decode_tps, 3 / 0.055);
  std::lock_guard lock(mutex);
  EXPECT_EQ(last_chat["ignore_eos"], true);
  EXPECT_EQ(last_chat["stream"], true);
  EXPECT_EQ(last_chat["temperature"], 0);
  EXPECT_EQ(last_chat["max_tokens"], 4);

  const auto e = c.embed("peer.gguf", {"a", "b"});
  EXPECT_FALSE(e.ok);
  EXPECT_NE(e.error.find("expected 2 embeddings"), std::string::npos) << e.error;
  EXPECT_EQ(ut::remote::http_error_text(429, R"({"error":{"message":"the engine is busy","type":"busy"}})"),
            "HTTP 429: the engine is busy");
}

}  // namespace

namespace {

// `ut bench slow-clients` against our server: every round opens its slow connections and both chats of every
// round are answered, so both series have --reps values and the report names the connections it opened.
TEST_F(BenchServeTest, SlowClientsBenchMeasuresBothPhases) {
  const fs::path out = dir / "slow.json";
  const int rc = ut::bench::run_slow_clients_bench(
      {.chat_url = url, .slow = 40, .reps = 5, .max_tokens = 4, .timeout_s = 60, .json_path = out.string()});
  ASSERT_EQ(rc, 0);
  const json j = read_json(out);
  EXPECT_EQ(j["suite"], "slow-clients");
  EXPECT_EQ(j["config"]["slow_per_round"], 40);
  EXPECT_EQ(j["config"]["slow_opened_in_all"], 40 * 6);  // the warm-up round too
  EXPECT_EQ(j["config"]["failed_chats"], 0);
  std::map<std::string, std::size_t> n;
  for (const auto& s : j["samples"]) n[s["case"].get<std::string>()] = s["values"].size();
  EXPECT_EQ(n["idle"], 5u);
  EXPECT_EQ(n["slow=40"], 5u);
  ASSERT_EQ(j["goals"].size(), 1u);
  EXPECT_EQ(j["goals"][0]["goal"], "<= 2x idle");
}

}  // namespace
