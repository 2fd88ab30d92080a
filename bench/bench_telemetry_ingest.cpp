// Telemetry ingest through the real socket path: C DEALER clients each keep W
// reports in flight to an fp::coord::Server over loopback TCP; the server stores
// them in SQLite (WAL, batched transactions) and acknowledges each after commit.
// Reports per second = reports / (first send .. last Ack).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <thread>

#include "bench_store.h"
#include "bench_util.h"
#include "benchmarks.h"
#include "config/cli_checks.h"
#include "coordinator/server.h"
#include "protocol/codec.h"
#include "protocol/framing.h"
#include "protocol/sample_messages.h"
#include "store/sqlite.h"

using namespace fp;

namespace {

// The shared sample with eight layers and a five-point curve, as a real report carries: a
// Fine-Pruning report on `task`, whose individual it names.
proto::TelemetryReport realistic_report(const std::string& key, uint64_t task,
                                        const std::string& individual) {
  proto::TelemetryReport r = proto::sample_report(key, task, kFinePruneMethod);
  r.individual = individual;
  r.layers.clear();
  for (int l = 0; l < 8; ++l) r.layers.push_back({"layer" + std::to_string(l), 64, 32, 4096, 2048});
  r.curve.clear();
  for (double t : {0.1, 0.3, 0.5, 0.7, 0.9}) r.curve.push_back({t, t, 0.9, 1000});
  return r;
}

}  // namespace

int fp::bench::telemetry_ingest(int argc, char** argv) {
  CLI::App app{"Telemetry ingest: reports per second into SQLite through ZeroMQ",
               "fp-bench telemetry_ingest"};
  int64_t reports = 200000;
  int clients = 4;
  int window = 2000;
  size_t batch = 4096;
  std::string db = "/tmp/fp_bench_ingest.db";
  app.add_option("--reports", reports, "reports in all (at least one per client)")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--clients", clients, "sending clients (agents)")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--window", window, "unacknowledged reports per client")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--batch", batch, "most reports per transaction")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--db", db, "database file (recreated)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  if (reports < clients) {  // each client's share rounds down: none was sent, exit 0
    fmt::print(stderr, "--reports {} is fewer than --clients {}: each client sends a share\n",
               reports, clients);
    return 2;
  }

  bench::BenchCampaign setup =
      bench::fresh_campaign(db, db + ".models", "bench", std::string(4096, 'm'), clients);
  // The coordinator stores one row per (task, method), only from the task's agent and under
  // its task's individual (since 6 Dec): each client holds a task per report, made here
  // (its Hello's own task aside). The reports had named one sample individual on the Hello's
  // task: every one was refused and the clients waited for ever.
  const int64_t per_client = reports / clients;
  std::vector<std::vector<std::pair<uint64_t, std::string>>> held(clients);
  {
    sql::Transaction tx(setup.store->db());
    bench::require_ok(tx.begin_status(), "the benchmark's tasks");
    for (int i = 0; i < clients; ++i) {
      for (int64_t k = 0; k < per_client; ++k) {
        const std::string individual = fmt::format("ind{}-{}", i, k);
        auto task = setup.store->add_task(setup.campaign_id, individual);
        bench::require_ok(task.status(), "the benchmark's tasks");
        bench::require_ok(setup.store->assign_task(*task, "bench" + std::to_string(i), 1.0),
                          "the benchmark's tasks");
        held[i].emplace_back(static_cast<uint64_t>(*task), individual);
      }
    }
    bench::require_ok(tx.commit(), "the benchmark's tasks");
  }
  // Written to the database file now, not by the first commits the clock measures.
  bench::require_ok(setup.store->db().exec("PRAGMA wal_checkpoint(TRUNCATE)"),
                    "the benchmark's tasks");

  zmq::context_t context(2);
  coord::ServerConfig config;
  config.endpoint = "tcp://127.0.0.1:*";
  config.telemetry_batch = batch;
  config.heartbeat_ms = 1000;
  config.security.plain = true;  // ingest cost alone: no encryption, no rate limit
  config.rate_limit = 0;
  coord::Server server(config, context, *setup.store, *setup.registry);
  bench::require_ok(server.bind(), "the coordinator");
  std::string endpoint = server.bound_endpoint();
  std::thread serving([&] { (void)server.run(); });

  // Each client: Hello, wait for its task, pre-encode its reports, then stream them.
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int64_t> acked{0}, duplicates{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      zmq::socket_t s(context, zmq::socket_type::dealer);
      proto::configure_dealer(s);
      s.set(zmq::sockopt::sndhwm, 0);
      s.connect(endpoint);
      std::string id = "bench" + std::to_string(i);
      (void)proto::send_frame(
          s, proto::encode(proto::Hello{
                 id, proto::kProtocolVersion, {1, 0, {"toy/ind" + std::to_string(i)}}, 0, id}));
      uint64_t task = 0;
      proto::PeerFrame f;
      while (task == 0 && proto::recv_from_dealer(s, f, true)) {
        auto m =
            proto::decode(f.payload.data(), f.payload.size(), proto::kMaxCoordinatorFrameBytes);
        if (m.ok() && std::holds_alternative<proto::TaskAssignment>(*m)) {
          task = std::get<proto::TaskAssignment>(*m).task_id;
        }
      }
      std::vector<std::string> frames;
      frames.reserve(per_client);
      for (int64_t k = 0; k < per_client; ++k) {
        const auto& [held_task, individual] = held[i][k];
        frames.push_back(
            proto::encode(realistic_report(id + ":" + std::to_string(k), held_task, individual)));
      }
      ++ready;
      while (!go) std::this_thread::yield();
      int64_t sent = 0, done = 0;
      while (done < per_client) {
        while (sent < per_client && sent - done < window) {
          // Blocking: a full send queue must delay a report, not drop it.
          s.send(zmq::buffer(frames[sent++]), zmq::send_flags::none);
        }
        if (!proto::recv_from_dealer(s, f, true)) continue;
        do {
          auto m =
              proto::decode(f.payload.data(), f.payload.size(), proto::kMaxCoordinatorFrameBytes);
          if (m.ok() && std::holds_alternative<proto::Ack>(*m)) {
            ++done;
            duplicates += std::get<proto::Ack>(*m).duplicate;
          } else if (m.ok() && std::holds_alternative<proto::Error>(*m)) {
            // A refused report is answered, not acknowledged: counted, or the client waits.
            ++done;
            if (refused++ == 0)
              fmt::print(stderr, "a report was refused: {}\n", std::get<proto::Error>(*m).reason);
          }
        } while (proto::recv_from_dealer(s, f, false));
      }
      acked += done;
    });
  }
  while (ready < clients) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto start = std::chrono::steady_clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double elapsed = bench::seconds_since(start);
  server.request_stop();
  serving.join();

  auto stored = setup.store->telemetry_count();
  const auto& stats = server.stats();
  fmt::print("telemetry ingest: {} clients x {} reports, window {}, batch <= {}\n", clients,
             per_client, window, batch);
  fmt::print("  {} reports acknowledged ({} duplicate, {} refused), {} rows in SQLite\n",
             acked.load() - refused.load(), duplicates.load(), refused.load(),
             stored.ok() ? *stored : -1);
  fmt::print(
      "  {:.3f} s: {:.0f} reports/s ({} bytes per report frame)\n", elapsed, acked.load() / elapsed,
      proto::encode(realistic_report("bench0:0", held[0][0].first, held[0][0].second)).size());
  fmt::print(
      "  server: {} frames in, {} stored; {} commits in the background, the commit "
      "worker busy {:.3f} s ({:.0f}% of the run)\n",
      stats.frames_in, stats.reports_stored, stats.commits_in_background, stats.commit_seconds,
      100 * stats.commit_seconds / elapsed);
  std::filesystem::remove_all(setup.registry->dir());
  return refused == 0 && acked.load() == clients * per_client && stored.ok() &&
                 *stored == acked.load()
             ? 0
             : 1;
}
