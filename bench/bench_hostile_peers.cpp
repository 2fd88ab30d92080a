// Non-reading peers: each says Hello, is given a task, then asks for model chunks as
// fast as it likes and never reads a byte of the answers (its receive queue holds one
// message, its socket buffer 4 KiB). The coordinator must keep its memory within
// idle + peers x chunk_credit x chunk_size (docs/SECURITY.md), and drop them.
//
//   fp-bench hostile_peers --agents 10 --seconds 60
//
// Prints the coordinator's resident memory (this process; the peers run in a child
// process) before, during (peak) and after, and the bound.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <random>
#include <thread>

#include "bench_store.h"
#include "bench_util.h"
#include "benchmarks.h"
#include "config/cli_checks.h"
#include "coordinator/server.h"
#include "protocol/codec.h"
#include "protocol/framing.h"

using namespace fp;

namespace {

// The peers, in a child process: each says Hello, then asks for chunks and never reads.
uint64_t run_peers(const std::string& endpoint, const std::string& sha, int agents, double seconds,
                   int rate, uint64_t chunks_in_model, uint32_t chunk_size) {
  zmq::context_t context(1);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::vector<std::thread> peers;
  for (int i = 0; i < agents; ++i) {
    peers.emplace_back([&, i] {
      zmq::socket_t s(context, zmq::socket_type::dealer);
      proto::configure_dealer(s);
      s.set(zmq::sockopt::rcvhwm, 1);
      s.set(zmq::sockopt::rcvbuf, 4096);
      s.connect(endpoint);
      std::string id = "reader-not" + std::to_string(i);
      (void)proto::send_frame(
          s, proto::encode(proto::Hello{
                 id, proto::kProtocolVersion, {1, 0, {"toy/ind" + std::to_string(i)}}, 0, id}));
      const auto pause = std::chrono::microseconds(1000000 / std::max(1, rate));
      uint64_t n = 0;
      auto last_beat = std::chrono::steady_clock::now();
      while (!stop) {
        uint64_t offset = (n++ % chunks_in_model) * chunk_size;
        (void)proto::send_frame(s, proto::encode(proto::ChunkRequest{sha, offset, chunk_size}));
        ++sent;
        if (std::chrono::steady_clock::now() - last_beat > std::chrono::milliseconds(500)) {
          (void)proto::send_frame(s, proto::encode(proto::Heartbeat{1}));
          last_beat = std::chrono::steady_clock::now();
        }
        std::this_thread::sleep_for(pause);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : peers) t.join();
  return sent.load();
}

}  // namespace

int fp::bench::hostile_peers(int argc, char** argv) {
  CLI::App app{"Non-reading peers against the coordinator: resident memory stays bounded",
               "fp-bench hostile_peers"};
  int agents = 10;
  double seconds = 60;
  int model_mb = 16;
  int requests_per_second = 200;
  std::string db = "/tmp/fp_bench_hostile.db";
  app.add_option("--agents", agents, "non-reading peers")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--seconds", seconds, "how long they keep asking")
      ->check(fp::config::at_least(0.1))
      ->capture_default_str();
  app.add_option("--model-mb", model_mb, "model size in MiB")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--rate", requests_per_second, "chunk requests per second, per peer")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--db", db, "database file (recreated)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::err);
  coord::ServerConfig config;  // defaults: chunk_size, chunk_credit, stall_timeout_ms
  config.endpoint = "tcp://127.0.0.1:*";
  config.security.plain = true;
  config.rate_limit = 0;  // the rate limit would hide the memory question

  // The peers run in a child process forked before any thread exists, so this
  // process's memory is the coordinator's alone. The child learns the endpoint and the
  // model's hash through a pipe and answers with how many requests it sent.
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return 1;
  pid_t child = ::fork();
  if (child == 0) {
    // Only the parent writes to it: a parent that fails its set-up and exits gives the child
    // end-of-file, and it ends (holding the write end too, it waited for ever, an orphan
    // holding the pipeline's stdout).
    ::close(to_child[1]);
    ::close(from_child[0]);
    char buf[512] = {0};
    ssize_t n = ::read(to_child[0], buf, sizeof buf - 1);
    if (n <= 0) ::_exit(1);
    std::string msg(buf, static_cast<size_t>(n));
    auto space = msg.find(' ');
    uint64_t sent =
        run_peers(msg.substr(0, space), msg.substr(space + 1), agents, seconds, requests_per_second,
                  uint64_t(model_mb) * (1 << 20) / config.chunk_size, config.chunk_size);
    (void)!::write(from_child[1], &sent, sizeof sent);
    ::_exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);

  std::string bytes(static_cast<size_t>(model_mb) << 20, '\0');
  std::mt19937 rng(1);
  for (auto& b : bytes) b = static_cast<char>(rng());
  bench::BenchCampaign setup = bench::fresh_campaign(db, db + ".models", "bench", bytes, agents);
  bytes.clear();
  bytes.shrink_to_fit();

  zmq::context_t context(2);
  coord::Server server(config, context, *setup.store, *setup.registry);
  bench::require_ok(server.bind(), "the coordinator");
  std::thread serving([&] { (void)server.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t idle = bench::proc_memory("self", "VmRSS");
  // Each peer's chunks (credit x chunk), and 256 KiB per connection for what any
  // connection costs (ZeroMQ's engine buffers and pipes, the session).
  const uint64_t bound =
      idle + uint64_t(agents) * (config.chunk_credit * config.chunk_size + (256u << 10));
  std::string go = server.bound_endpoint() + " " + setup.model_sha256;
  (void)!::write(to_child[1], go.data(), go.size());

  auto started = std::chrono::steady_clock::now();
  uint64_t peak = idle;
  while (bench::seconds_since(started) < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    peak = std::max(peak, bench::proc_memory("self", "VmRSS"));
  }
  uint64_t sent = 0;
  (void)!::read(from_child[0], &sent, sizeof sent);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const uint64_t after = bench::proc_memory("self", "VmRSS");
  server.request_stop();
  serving.join();
  const auto& st = server.stats();
  auto mib = [](uint64_t b) { return static_cast<double>(b) / (1 << 20); };
  fmt::print(
      "{} non-reading peers for {:g} s ({} chunk requests of {} KiB, credit {}): coordinator "
      "RSS idle {:.1f} MiB, peak {:.1f} MiB, 2 s after they left {:.1f} MiB; bound idle + "
      "agents x (credit x chunk + 256 KiB) = {:.1f} MiB -> {}\n",
      agents, seconds, sent, config.chunk_size >> 10, config.chunk_credit, mib(idle), mib(peak),
      mib(after), mib(bound), peak <= bound ? "within" : "EXCEEDED");
  fmt::print(
      "served {} chunk(s), {} request(s) waited, {} refused, {} frame(s) ignored after the drop, "
      "peak queued {:.1f} MiB, {} peer(s) dropped for not reading\n",
      st.chunks_sent, st.chunk_requests_deferred, st.chunk_requests_refused,
      st.frames_ignored_unread, mib(st.chunk_bytes_queued_peak), st.peers_stalled);
  std::filesystem::remove_all(setup.registry->dir());
  return peak <= bound ? 0 : 1;
}
