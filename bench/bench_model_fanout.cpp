// Model fan-out: one fp-coordinator process serves a model of S bytes to N agents
// (fp::agent::Agent, in this process) over loopback TCP. Each agent fetches it with
// credit-based flow control, writes it to disk, verifies its SHA-256 and reports.
// Aggregate throughput = N * S / (agents start .. every task acknowledged); the
// coordinator's peak resident memory (VmHWM) shows whether memory stays bounded.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/agent.h"
#include "bench_store.h"
#include "bench_util.h"
#include "benchmarks.h"
#include "config/cli_checks.h"
#include "coordinator/model_registry.h"
#include "experiment/methods.h"
#include "store/store.h"

extern char** environ;
using namespace fp;
namespace fs = std::filesystem;

namespace {

// The model is already verified when this runs; the report is the minimum.
class ReportOnly : public agent::TaskRunner {
 public:
  Outcome run(const proto::TaskAssignment& task, const agent::ModelSource&,
              const std::atomic<bool>&) override {
    proto::TelemetryReport r;
    r.method = kFinePruneMethod;  // a method its campaign asks for: "fanout" was refused
    r.individual = task.individual;
    return std::vector<proto::TelemetryReport>{r};
  }
};

}  // namespace

int fp::bench::model_fanout(int argc, char** argv) {
  CLI::App app{"Model fan-out: aggregate download throughput and coordinator memory",
               "fp-bench model_fanout"};
  int agents = 100;
  int64_t size_mb = 16;
  uint32_t chunk_kb = 256, credit = 8;
  std::string dir = "/dev/shm/fp_bench_fanout";
  std::string coordinator =
      (fs::path(argv[0]).parent_path() / "../coordinator/fp-coordinator").string();
  app.add_option("--agents", agents, "agents")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--size-mb", size_mb, "model size in MiB")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--chunk-kb", chunk_kb, "chunk size in KiB")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--credit", credit, "chunk requests in flight per agent")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--dir", dir,
                 "scratch directory (recreated, deleted after; new, empty or fp-bench's own)")
      ->capture_default_str();
  app.add_option("--coordinator", coordinator, "fp-coordinator binary")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  bench::claim_scratch_folder(dir, "--dir");  // a --dir of the user's was deleted
  {  // closed before the coordinator opens it; open to enrollment: any agent id takes a task
    std::string bytes(static_cast<size_t>(size_mb) << 20, '\0');
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(&bytes[i], &x, 8);
    }
    (void)bench::fresh_campaign(dir + "/fp.db", dir + "/models", "fanout", bytes, 0);
  }
  std::ofstream(dir + "/fp.toml") << fmt::format(
      "[server]\nendpoint = \"tcp://127.0.0.1:*\"\ndatabase = \"{0}/fp.db\"\n"
      "models_dir = \"{0}/models\"\nchunk_size = {1}\nchunk_credit = {2}\nliveness = 10\n"
      "plain = true\nrate_limit = 0\n",  // loopback fan-out of the framework itself
      dir, chunk_kb * 1024, credit);

  std::vector<std::string> args = {
      coordinator,      "--log-level",     "warn",           "serve", "-c",
      dir + "/fp.toml", "--endpoint-file", dir + "/endpoint"};
  std::vector<char*> argv_c;
  for (auto& a : args) argv_c.push_back(a.data());
  argv_c.push_back(nullptr);
  const pid_t parent = ::getpid();
  // Forked, not posix_spawn'ed: the child asks for SIGTERM when fp-bench dies, so a
  // benchmark killed alone (kill -9 of its pid, not its group) leaves no coordinator behind.
  // Only async-signal-safe calls between fork and exec (this process has threads).
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // died before the signal was asked for
    ::execv(argv_c[0], argv_c.data());
    ::_exit(127);
  }
  if (pid < 0) {
    fmt::print(stderr, "cannot start {}\n", coordinator);
    return 1;
  }
  // Its endpoint file, or its exit (a refused setting: its error is on stderr above).
  std::string endpoint;
  for (int i = 0; i < 3000 && endpoint.empty(); ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      fmt::print(stderr, "the coordinator exited before it listened (exit code {})\n",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream in(dir + "/endpoint");
    std::getline(in, endpoint);
  }
  if (endpoint.empty()) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    fmt::print(stderr, "the coordinator did not listen within 30 s\n");
    return 1;
  }
  uint64_t rss_idle = bench::proc_memory(std::to_string(pid), "VmRSS");

  zmq::context_t context(2);
  ReportOnly runner;
  std::vector<std::unique_ptr<agent::Agent>> fleet;
  for (int i = 0; i < agents; ++i) {
    agent::AgentConfig c;
    c.agent_id = "agent-" + std::to_string(i);
    c.coordinator = endpoint;
    c.work_dir = dir + "/" + c.agent_id;
    c.datasets = {"toy/" + c.agent_id};
    c.max_tasks = 1;
    c.security.plain = true;
    fleet.push_back(std::make_unique<agent::Agent>(c, context, runner));
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (auto& a : fleet) threads.emplace_back([&a] { (void)a->run(); });
  uint64_t rss_peak_seen = 0;
  for (auto& t : threads) t.join();
  double elapsed = bench::seconds_since(start);
  uint64_t hwm = bench::proc_memory(std::to_string(pid), "VmHWM");
  rss_peak_seen = std::max(rss_peak_seen, hwm);

  int64_t done = 0, bytes = 0;
  for (auto& a : fleet) {
    done += a->stats().tasks_done;
    bytes += a->stats().bytes_downloaded;
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  double total_mb = static_cast<double>(bytes) / (1 << 20);
  fmt::print("model fan-out: {} agents x {} MiB, chunk {} KiB, credit {}\n", agents, size_mb,
             chunk_kb, credit);
  fmt::print("  {} / {} agents verified the model and finished\n", done, agents);
  fmt::print("  {:.2f} s: {:.0f} MiB/s aggregate ({:.2f} GB/s)\n", elapsed, total_mb / elapsed,
             bytes / elapsed / 1e9);
  fmt::print(
      "  coordinator resident memory: {:.0f} MiB idle, {:.0f} MiB peak; in flight at most "
      "{} agents x {} x {} KiB = {:.0f} MiB\n",
      rss_idle / 1048576.0, rss_peak_seen / 1048576.0, agents, credit, chunk_kb,
      agents * credit * chunk_kb / 1024.0);
  fs::remove_all(dir);
  return done == agents ? 0 : 1;
}
