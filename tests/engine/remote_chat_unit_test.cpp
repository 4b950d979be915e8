// RemoteChat against a scripted OpenAI-style server (cpp-httplib, no models, no DuckDB), so that it also runs under
// ThreadSanitizer (scripts/test.sh): concurrent chats, the content order in each chat's ring, the usage taken from
// the server, a cancel in the middle of an endless stream, and the destructor with chats in flight.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/remote_chat.h"
#include "timeline/ring_buffer.h"

using nlohmann::json;

namespace {

// Streams "t0 ", "t1 ", ... — `max_tokens` of them, or without end when the request's max_tokens is 4096 — then
// usage and [DONE].
class ScriptedServer {
 public:
  ScriptedServer() {
    http_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"scripted"}]})", "application/json");
    });
    http_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      const json body = json::parse(req.body);
      ++chats_;
      const int n = body.value("max_tokens", 16);
      res.set_chunked_content_provider("text/event-stream", [this, n](size_t, httplib::DataSink& sink) {
        for (int i = 0; n == 4096 || i < n; ++i) {
          const json c{{"choices", {{{"index", 0}, {"delta", {{"content", "t" + std::to_string(i) + " "}}},
                                      {"finish_reason", nullptr}}}}};
          const std::string line = "data: " + c.dump() + "\n\n";
          if (!sink.write(line.data(), line.size())) {  // the client closed the stream
            ++closed_by_client_;
            return false;
          }
        }
        const std::string end =
            "data: " + json{{"choices", {{{"index", 0}, {"delta", json::object()}, {"finish_reason", "length"}}}}}.dump() +
            "\n\ndata: " + json{{"choices", json::array()}, {"usage", {{"prompt_tokens", 7}, {"completion_tokens", n}}}}.dump() +
            "\n\ndata: [DONE]\n\n";
        sink.write(end.data(), end.size());
        sink.done();
        return true;
      });
    });
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });  // the bound socket already queues connections
  }
  ~ScriptedServer() {
    http_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::atomic<int> chats_{0}, closed_by_client_{0};

 private:
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
};

struct Chat {
  ut::RingBuffer<ut::ml::StreamToken> ring{8192};
  std::atomic<bool> cancel{false};
  std::promise<std::pair<ut::ml::GenerateResult, std::exception_ptr>> done;
  ut::engine::RemoteChat::Done on_done() {
    return [this](ut::ml::GenerateResult r, std::exception_ptr e) { done.set_value({std::move(r), e}); };
  }
  ut::ml::GenerateOptions gen(int max_tokens) {
    ut::ml::GenerateOptions g;
    g.max_tokens = max_tokens;
    g.ring = &ring;
    g.cancel = &cancel;
    return g;
  }
};

TEST(RemoteChatUnit, ConcurrentChatsEachGetTheirTokensInOrder) {
  ScriptedServer server;
  ut::engine::RemoteChat remote({.url = server.url()});
  EXPECT_EQ(remote.model(), "scripted");
  std::vector<std::unique_ptr<Chat>> chats;
  for (int i = 0; i < 6; ++i) {
    chats.push_back(std::make_unique<Chat>());
    remote.start({{"user", "q" + std::to_string(i)}}, chats.back()->gen(20 + i), chats.back()->on_done());
  }
  for (int i = 0; i < 6; ++i) {
    auto [r, error] = chats[i]->done.get_future().get();
    ASSERT_FALSE(error);
    std::string expect;
    for (int k = 0; k < 20 + i; ++k) expect += "t" + std::to_string(k) + " ";
    EXPECT_EQ(r.text, expect);
    EXPECT_EQ(r.tokens.size(), static_cast<std::size_t>(20 + i)) << "usage.completion_tokens";
    EXPECT_EQ(r.prompt_tokens, 7);
    EXPECT_EQ(r.reason, ut::ml::StopReason::max_tokens);
    std::string streamed;
    uint32_t index = 0;
    bool last = false;
    while (auto t = chats[i]->ring.try_pop()) {
      EXPECT_EQ(t->index, index++);
      streamed += t->text;
      last = t->last;
    }
    EXPECT_EQ(streamed, expect);
    EXPECT_TRUE(last) << "the final event ends the ring";
  }
  EXPECT_EQ(server.chats_, 6);
}

TEST(RemoteChatUnit, CancelClosesAnEndlessStream) {
  ScriptedServer server;
  ut::engine::RemoteChat remote({.url = server.url()});
  Chat c;
  remote.start({{"user", "go on"}}, c.gen(4096), c.on_done());
  // Cancel once tokens arrive (the chat's ring is read as the HTTP route would).
  std::size_t seen = 0;
  auto fut = c.done.get_future();
  while (fut.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
    while (c.ring.try_pop()) ++seen;
    if (seen >= 3) c.cancel = true;
  }
  auto [r, error] = fut.get();
  ASSERT_FALSE(error);
  EXPECT_EQ(r.reason, ut::ml::StopReason::cancelled);
  EXPECT_GE(seen, 3u);
}

TEST(RemoteChatUnit, DestructorCancelsChatsInFlightAndWaits) {
  ScriptedServer server;
  std::vector<std::unique_ptr<Chat>> chats;
  {
    ut::engine::RemoteChat remote({.url = server.url()});
    for (int i = 0; i < 4; ++i) {
      chats.push_back(std::make_unique<Chat>());
      remote.start({{"user", "endless"}}, chats.back()->gen(4096), chats.back()->on_done());
    }
    // Every chat streaming before the destructor runs.
    for (auto& c : chats) ASSERT_TRUE(c->ring.pop_wait(std::chrono::seconds(30)));
  }
  for (auto& c : chats) {
    auto f = c->done.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready) << "done before the destructor returned";
    EXPECT_EQ(f.get().first.reason, ut::ml::StopReason::cancelled);
  }
}

}  // namespace
