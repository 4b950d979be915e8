#include "bench/cli.h"

#include "engine/engine.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "bench/data/data_bench.h"
#include "bench/gpu_timeline/gpu_timeline_bench.h"
#include "bench/mixed/mixed_bench.h"
#include "bench/ml/decode_bench.h"
#include "bench/ml/grammar_bench.h"
#include "bench/ml/ml_bench.h"
#include "bench/models/models_bench.h"
#include "bench/qa/qa_bench.h"
#include "bench/serve/serve_bench.h"
#include "bench/serve/slow_clients_bench.h"
#include "bench/timeline/timeline_bench.h"
#include "bench/ui/ui_bench.h"
#include "bench/vector/vector_bench.h"
#include "engine/engine.h"

namespace ut::bench {
namespace {

void add_timeline(CLI::App& bench, int& rc) {
  auto o = std::make_shared<TimelineBenchOptions>();
  auto* bt = bench.add_subcommand("timeline",
                                  "Event wake-up latency, command-buffer submit overhead, ring-buffer throughput "
                                  "(and GPU event/priority/overlap figures where a GPU is present)");
  bt->add_option("--json", o->json_path, "Save results here (default ut-bench-timeline.json)");
  bt->add_option("--backend", o->backend, "cpu or cuda (default: cpu; GPU figures are added when present)");
  bt->add_flag("--quick", o->quick, "Fewer iterations (a smoke run)");
  bt->callback([o, &rc] { rc = run_timeline_bench(*o); });
}

void add_ml(CLI::App& bench, int& rc) {
  auto cfg = std::make_shared<MlBenchConfig>();
  auto json = std::make_shared<std::string>();
  auto* b = bench.add_subcommand(
      "ml", "Embeddings/s (batch 1-256), time to first token (128/512/2048-token prompts), prefill chunk sizes,\n"
            "decode tokens/s, and our lane's overhead against a bare llama.cpp loop (same model, same run)");
  b->add_option("--json", *json, "Save results here (default ut-bench-ml.json)");
  b->add_flag("--quick", cfg->quick, "Smoke run: few batch sizes, one prompt length, fewer tokens");
  b->add_option("--models", cfg->models_dir, "Folder with the real-size synthetic models")->capture_default_str();
  b->add_option("--batch-chats", cfg->batch_chats, "Concurrent chats decoded together (default 1,4,16; quick 1,4)")
      ->delimiter(',')->check(CLI::Range(1, 64));
  b->callback([cfg, json, &rc] { rc = run_and_report_ml_bench(*cfg, json->empty() ? "ut-bench-ml.json" : *json); });
}

void add_decode(CLI::App& bench, int& rc) {
  auto cfg = std::make_shared<DecodeBenchConfig>();
  auto json = std::make_shared<std::string>("ut-bench-decode.json");
  auto* b = bench.add_subcommand(
      "decode", "Batch-1 greedy decode on a CUDA GPU: the own decode path (our kernels on a timeline queue) against\n"
                "llama.cpp's CUDA backend on the same model and card, with the copy-bandwidth roofline (needs a GPU)");
  b->add_option("--json", *json, "Save results here")->capture_default_str();
  b->add_option("--model", cfg->model, "Decoder GGUF (default: the Qwen2.5-0.5B shape from --models, written if absent)");
  b->add_option("--models", cfg->models_dir, "Folder with the real-size synthetic models")->capture_default_str();
  b->add_option("--tokens", cfg->tokens, "Tokens generated per run")->capture_default_str()->check(CLI::Range(2, 8192));
  b->add_option("--reps", cfg->reps, "Repetitions (medians are reported)")->capture_default_str()->check(CLI::Range(1, 100));
  b->add_option("--chats", cfg->chats, "llama.cpp's batched decode of this many chats (0: skip)")
      ->capture_default_str()->check(CLI::Range(0, 64));
  b->add_flag("--own-only", cfg->own_only, "Measure the own path alone (no llama.cpp side: no comparison)");
  b->callback([cfg, json, &rc] { rc = run_and_report_decode_bench(*cfg, *json); });
}

void add_grammar(CLI::App& bench, int& rc) {
  auto cfg = std::make_shared<GrammarBenchConfig>();
  auto json = std::make_shared<std::string>("ut-bench-grammar.json");
  auto* b = bench.add_subcommand("grammar", "Decode tokens/s of a chat answered as free text and as a json_object "
                                            "(llama.cpp's grammar sampler), greedy and sampled");
  b->add_option("--model", cfg->model, "Decoder GGUF")->capture_default_str();
  b->add_option("--reps", cfg->reps, "Answers per mode (median reported)")->capture_default_str();
  b->add_option("--max-tokens", cfg->max_tokens, "Tokens per answer at most")->capture_default_str();
  b->add_option("--threads", cfg->threads, "CPU threads (0: the model's default)")->capture_default_str();
  b->add_option("--json", *json, "Save results here")->capture_default_str();
  b->callback([cfg, json, &rc] {
    try {
      rc = run_grammar_bench(*cfg, *json);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ut bench grammar: %s\n", e.what());
      rc = 1;
    }
  });
}

void add_data(CLI::App& bench, int& rc) {
  auto bo = std::make_shared<DataBenchOptions>();
  auto* b = bench.add_subcommand("data", "GROUP BY on a synthetic lineitem table: our pre-aggregation (scan + move + "
                                         "kernels) vs DuckDB alone, for several group counts; saves JSON");
  b->add_option("--rows", bo->rows, "lineitem rows")->capture_default_str();
  b->add_flag("--quick", bo->quick, "At most 1M rows, one repetition (a smoke run)");
  b->add_option("--json", bo->json_path, "Save results here")->capture_default_str();
  b->add_option("--reps", bo->reps, "Repetitions per query of DuckDB, ours cold (scan + move + kernels) and ours warm (columns resident); medians reported")->capture_default_str();
  b->add_option("--backend", bo->backend, "Backend for the kernels (default: a GPU with data kernels, else cpu)");
  b->callback([bo, &rc] { rc = run_data_bench(*bo); });
}

void add_ui(CLI::App& bench, int& rc) {
  auto bo = std::make_shared<UiBenchOptions>();
  auto* b = bench.add_subcommand("ui", "Frame-time distribution (CPU and GPU, p99, % over 16.6/33 ms, 1% low), idle\n"
                                       "and under concurrent ML/transfer load; saved as JSON naming the machine");
  b->add_option("--frames", bo->frames, "Frames per phase")->capture_default_str()->check(CLI::Range(10, 1000000));
  b->add_flag("--quick", bo->quick, "120 frames per phase (a smoke run)");
  b->add_flag("--no-low-priority-phase", bo->no_low_priority,
              "Measure idle and load only (skip the third phase, the load with Q_ml at low priority)");
  b->add_option("--json", bo->json_path, "Where to save the results")->capture_default_str();
  b->add_option("--width", bo->width, "Frame width")->capture_default_str()->check(CLI::Range(64, 8192));
  b->add_option("--height", bo->height, "Frame height")->capture_default_str()->check(CLI::Range(64, 8192));
  b->add_option("--backend", bo->backend, "Timeline backend: cpu or cuda (default: best available)");
  b->add_option("--render-on", bo->render_on,
                "Where frames run: timeline (command buffers of the Vulkan backend's render queue, E_frame a\n"
                "timeline semaphore), own (the renderer's own Vulkan device), auto (timeline where it can)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "timeline", "own"}));
  b->callback([bo, &rc] { rc = run_ui_bench(*bo); });
}

void add_vector(CLI::App& bench, int& rc) {
  auto o = std::make_shared<VectorBenchOptions>();
  auto* b = bench.add_subcommand("vector", "hnswlib (CPU) vs exact top-k (CPU, GPU where present): queries/s at "
                                           "recall@10 >= 0.95, on seeded random unit vectors");
  b->add_option("--n", o->n, "Stored vectors")->capture_default_str();
  b->add_option("--dim", o->dim, "Dimensions")->capture_default_str();
  b->add_option("--queries", o->queries, "Queries")->capture_default_str();
  b->add_option("--k", o->k, "Top-k (1..16)")->capture_default_str()->check(CLI::Range(1, 16));
  b->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  b->add_option("--json", o->json_path, "Save results here")->capture_default_str();
  b->add_flag("--quick", o->quick, "10k vectors, 50 queries (a smoke run)");
  b->add_flag("--no-hnsw", o->no_hnsw, "Skip hnswlib (its one-thread build is slow at 1M vectors)");
  b->add_option("--device-queries", o->device_queries, "Queries timed on the device in one batch (default --queries)");
  b->callback([o, &rc] { rc = run_vector_bench(*o); });
}

void add_mixed(CLI::App& bench, int& rc) {
  auto o = std::make_shared<MixedBenchOptions>();
  auto* b = bench.add_subcommand("mixed", "The plan's mixed workload (chats with RAG, SQL aggregations, document edits, UI\n"
                                          "heartbeat) at once vs one step after another: speed-up and overlap efficiency");
  b->add_option("--chats", o->chats, "Chat requests")->capture_default_str();
  b->add_option("--tokens", o->tokens, "Tokens per answer")->capture_default_str();
  b->add_option("--queries", o->queries, "SQL aggregations")->capture_default_str();
  b->add_option("--rows", o->rows, "Rows of the lineitem-like table")->capture_default_str();
  b->add_option("--edits", o->edits, "Document edits (each re-embeds its changed chunks)")->capture_default_str();
  b->add_option("--rounds", o->rounds, "Rounds of each side (the console and the goals use medians over them)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  b->add_option("--chat-model", o->chat_model, "GGUF chat model (default: the project's small models)");
  b->add_option("--embed-model", o->embed_model, "GGUF embedding model");
  b->add_option("--json", o->json_path, "Save results here")->capture_default_str();
  b->add_option("--backend", o->backend, "The engine's device: cpu or cuda (default: the best available)");
  b->add_option_function<std::string>(
       "--reserve-sms", [o](const std::string& v) { o->reserve_sms = engine::parse_reserve_sms(v); },
       "SMs kept for render and latency-critical GPU work (CUDA green contexts): a number, auto or 0")
      ->default_str("0");
  b->add_flag("--quick", o->quick, "A smoke run (seconds)");
  b->callback([o, &rc] { rc = run_mixed_bench(*o); });
}

void add_gpu_timeline(CLI::App& bench, int& rc) {
  auto o = std::make_shared<GpuTimelineOptions>();
  auto* b = bench.add_subcommand(
      "gpu-timeline", "One card, one timeline: UI frames on the Vulkan render queue while the same GPU decodes, embeds\n"
                      "and aggregates (every lane checked to be on the GPU); per SM partition: frames idle and loaded,\n"
                      "decode tokens/s and GROUP BY time alone and loaded (docs/measurements/gpu-one-timeline-*.json)");
  b->add_option("--frames", o->frames, "Frames under load, per run")->capture_default_str()->check(CLI::Range(10, 1000000));
  b->add_option("--idle-frames", o->idle_frames, "Frames idle, measured once before the first run's load (0: --frames)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  b->add_option("--chats", o->chats, "Chats decoding together")->capture_default_str()->check(CLI::Range(1, 64));
  b->add_option("--tokens", o->tokens, "Tokens per chat")->capture_default_str()->check(CLI::Range(1, 4096));
  b->add_option("--edits", o->edits, "Documents re-embedded per load step")->capture_default_str()->check(CLI::Range(1, 10000));
  b->add_option("--rows", o->rows, "Rows of the lineitem-like table")->capture_default_str();
  b->add_option_function<std::string>(
       "--reserve-sms",
       [o](const std::string& v) {
         o->reserve_sms.clear();
         for (std::size_t a = 0; a <= v.size();) {
           const std::size_t e = std::min(v.find(',', a), v.size());
           o->reserve_sms.push_back(engine::parse_reserve_sms(v.substr(a, e - a)));
           a = e + 1;
         }
       },
       "SM partitions, one run each: numbers, auto or 0, comma-separated")
      ->default_str("0,auto");
  b->add_option("--width", o->width, "Frame width")->capture_default_str()->check(CLI::Range(64, 8192));
  b->add_option("--height", o->height, "Frame height")->capture_default_str()->check(CLI::Range(64, 8192));
  b->add_option("--screenshot", o->screenshot, "Save a frame drawn under load (the last run) as PNG");
  b->add_option("--chat-model", o->chat_model, "GGUF chat model (default: the project's small models)");
  b->add_option("--embed-model", o->embed_model, "GGUF embedding model");
  b->add_option("--backend", o->backend, "The engine's device (default: the best available)");
  b->add_option("--json", o->json_path, "Save results here")->capture_default_str();
  b->add_flag("--allow-cpu-lanes", o->allow_cpu_lanes, "Run even where a lane is not on the GPU (a smoke run; no goals)");
  b->add_flag("--own-decoder", o->own_decoder,
              "Decode on the own CUDA path (our kernels on a CUDA queue in the work partition) instead of llama.cpp chats");
  b->add_flag("--quick", o->quick, "120 frames, 2 chats x 16 tokens, 1.1M rows (a smoke run; no goals)");
  b->callback([o, &rc] { rc = run_gpu_timeline_bench(*o); });
}

void add_models(CLI::App& bench, int& rc) {
  auto o = std::make_shared<ModelsBenchOptions>();
  auto* b = bench.add_subcommand(
      "models", "Quality of the trained models (models/debian) through llama.cpp: retrieval recall@1/5/10 of held-out\n"
                "packages, ours vs BM25 over the same text; decoder validation perplexity (F16, Q8_0); greedy samples");
  b->add_option("--corpus", o->corpus, "Corpus folder (tools/train/build_corpus.py)")->capture_default_str();
  b->add_option("--examples", o->examples, "Examples folder (tools/train/make_examples.py)")->capture_default_str();
  b->add_option("--models", o->models, "Folder with the trained GGUF models")->capture_default_str();
  b->add_option("--json", o->json, "Save results here")->capture_default_str();
  b->add_flag("--quick", o->quick, "200 queries and 50 chats instead of all");
  b->callback([o, &rc] {
    try {
      rc = run_models_bench(*o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ut bench models: %s\n", e.what());
      rc = 1;
    }
  });
}

void add_qa(CLI::App& bench, int& rc) {
  auto o = std::make_shared<QaBenchOptions>();
  auto* b = bench.add_subcommand(
      "qa", "Held-out Debian questions with known answers asked through the engine (the trained models):\n"
            "share of answers whose first line names the right package, with retrieval over 2,000 stored\n"
            "package documents and without (goal >= 60% with retrieval)");
  b->add_option("--set", o->set, "Questions and documents (tools/train/make_qa_set.py)")->capture_default_str();
  b->add_option("--max-tokens", o->max_tokens, "Tokens per answer")->capture_default_str()->check(CLI::Range(8, 1024));
  b->add_option("--rag-k", o->rag_k, "Sources retrieved into each answer's context (0: the engine's choice for the model)")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  b->add_option("--limit", o->limit, "Ask only the first N questions (0: all)")->capture_default_str()->check(CLI::Range(0, 100000));
  b->add_option("--backend", o->backend, "The engine's device (default: the best available)");
  b->add_option("--json", o->json, "Save results here")->capture_default_str();
  b->callback([o, &rc] {
    try {
      rc = run_qa_bench(*o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ut bench qa: %s\n", e.what());
      rc = 1;
    }
  });
}

void add_serve(CLI::App& bench, int& rc) {
  auto o = std::make_shared<ServeBenchOptions>();
  auto conc = std::make_shared<std::string>("1");
  auto* b = bench.add_subcommand(
      "serve", "Load any OpenAI-compatible server (`ut serve`, llama.cpp's llama-server, ...) with streamed chats,\n"
               "alone and under a background embedding load, and embeddings alone: TTFT, decode tokens/s, latency,\n"
               "aggregate tokens/s, embeddings/s. Run it once per server, same options, and compare the JSON files");
  b->add_option("--label", o->label, "Name of the server in the report and JSON (default: the chat URL)");
  b->add_option("--chat-url", o->chat_url, "Base URL of the server answering POST /v1/chat/completions")->capture_default_str();
  b->add_option("--embed-url", o->embed_url,
                "Base URL for POST /v1/embeddings (default: --chat-url; llama-server needs a second process)");
  b->add_option("--chat-model", o->chat_model,
                "\"model\" sent with chats (default: from GET /v1/models of --chat-url; the first id that is not\n"
                "the embedding model when both URLs are one server)");
  b->add_option("--embed-model", o->embed_model,
                "\"model\" sent with embeddings (default: the first id of GET /v1/models of --embed-url that\n"
                "answers an embedding request)");
  b->add_option("--token", o->token, "Bearer token sent as Authorization (default: none)");
  b->add_option("--chats", o->chats, "Chat requests per phase")->capture_default_str()->check(CLI::Range(1, 100000));
  b->add_option("--concurrency", *conc,
                "Chat clients at once; a comma list (1,4,16) runs one measurement per value: the scaling with\n"
                "concurrent chats")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              parse_concurrency(s);
              return std::string();
            } catch (const std::exception& e) {
              return std::string(e.what());
            }
          },
          "N[,N...]"));
  auto rates = std::make_shared<std::string>();
  b->add_option("--rates", *rates,
                "Open loop: one phase per rate, --chats requests arriving as a Poisson process at that many per\n"
                "second (each on its own connection, whether or not earlier ones are done); reports TTFT,\n"
                "inter-token time and throughput per rate and the first rate whose TTFT p99 passes 200 ms")
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              parse_rates(s);
              return std::string();
            } catch (const std::exception& e) {
              return std::string(e.what());
            }
          },
          "R[,R...]"));
  b->add_flag("--no-closed-loop", [o](int64_t) { o->closed_loop = false; },
              "Skip the closed-loop chat phases (--concurrency); with --rates only the open-loop phases run\n"
              "(and embeddings alone unless --embed-clients 0)");
  b->add_option("--prompt-words", o->prompt_words,
                "Words of seeded random text per prompt (every request differs, so no prompt cache helps)")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  b->add_option("--max-tokens", o->max_tokens, "max_tokens of each chat")->capture_default_str()->check(CLI::Range(1, 100000));
  b->add_option("--ignore-eos", o->ignore_eos,
                "Send \"ignore_eos\": true so every answer runs to --max-tokens (llama-server and ut serve honour it;\n"
                "--ignore-eos false for servers that reject unknown fields)")
      ->default_str("true");
  b->add_option("--embed-clients", o->embed_clients,
                "Clients sending embedding requests back to back during the background-load phases (0: skip them)")
      ->capture_default_str()->check(CLI::Range(0, 1024));
  b->add_option("--embed-batch", o->embed_batch, "Texts per /v1/embeddings request")->capture_default_str()->check(CLI::Range(1, 4096));
  b->add_option("--embed-seconds", o->embed_seconds, "Length of the embeddings-alone phase")
      ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  b->add_option("--warmup-s", o->warmup_s, "Embedding load before the chats of a phase start (and before the\n"
                                          "embeddings-alone window)")
      ->capture_default_str()->check(CLI::Range(0.0, 600.0));
  b->add_option("--seed", o->seed, "Seed of the random prompts and texts")->capture_default_str();
  b->add_option("--json", o->json_path, "Save results here (every request's numbers, the options, this machine)")
      ->capture_default_str();
  b->add_option("--timeout-s", o->timeout_s, "Limit per request: connecting, each read, and the whole answer")
      ->capture_default_str()->check(CLI::Range(0.1, 86400.0));
  b->callback([o, conc, rates, &rc] {
    try {
      o->concurrency = parse_concurrency(*conc);
      o->rates = parse_rates(*rates);
      rc = run_serve_bench(*o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ut bench serve: %s\n", e.what());
      rc = 1;
    }
  });
}

void add_slow_clients(CLI::App& bench, int& rc) {
  auto o = std::make_shared<SlowClientsOptions>();
  auto* b = bench.add_subcommand(
      "slow-clients", "A streamed chat's time to first token on an idle server, then with K slow connections open\n"
                      "(half send nothing, half stall mid-body): slow clients must not delay a normal request.\n"
                      "Run the server with deadlines longer than the run (ut serve --header-timeout 600\n"
                      "--body-timeout 600) and --max-connections above K");
  b->add_option("--chat-url", o->chat_url, "Base URL of the server")->capture_default_str();
  b->add_option("--chat-model", o->chat_model, "\"model\" sent with chats (default: none, the server's own)");
  b->add_option("--token", o->token, "Bearer token sent as Authorization (default: none)");
  b->add_option("--slow", o->slow, "Slow connections (fewer when the open-file limit, raised to its hard limit, "
                                   "does not allow them)")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  b->add_option("--reps", o->reps, "Chats per phase after one warm-up (medians over them)")
      ->capture_default_str()->check(CLI::Range(5, 1000));
  b->add_option("--max-tokens", o->max_tokens, "max_tokens of each chat")->capture_default_str()->check(CLI::Range(1, 4096));
  b->add_option("--timeout-s", o->timeout_s, "Limit per chat")->capture_default_str()->check(CLI::Range(0.1, 86400.0));
  b->add_option("--json", o->json_path, "Save results here")->capture_default_str();
  b->callback([o, &rc] {
    try {
      rc = run_slow_clients_bench(*o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ut bench slow-clients: %s\n", e.what());
      rc = 1;
    }
  });
}

}  // namespace

void add_bench_commands(CLI::App& bench, int& rc) {
  // The order of `ut bench --help`.
  add_timeline(bench, rc);
  add_ml(bench, rc);
  add_decode(bench, rc);
  add_grammar(bench, rc);
  add_data(bench, rc);
  add_ui(bench, rc);
  add_vector(bench, rc);
  add_mixed(bench, rc);
  add_gpu_timeline(bench, rc);
  add_models(bench, rc);
  add_qa(bench, rc);
  add_serve(bench, rc);
  add_slow_clients(bench, rc);
}

}  // namespace ut::bench
