// The machine description that runs record beside their results: it names the BLAS
// library actually loaded, which changes linear layers' floating-point results. And the
// BLAS's safety for agents that compute on threads of one process (util/compute_threads.h).
#include <ATen/CPUGeneratorImpl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "skip.h"
#include "util/allocator.h"
#include "util/compute_threads.h"
#include "util/machine.h"
#include "util/memory.h"
#include "util/openmp_policy.h"
#include "util/process_title.h"
#include "util/program_main.h"
#include "util/random.h"
#include "util/task_thread.h"
#include "util/thread_name.h"

TEST_CASE("the machine description names the BLAS library this process loaded", "[machine]") {
  // LibTorch's linear layers call BLAS: the library is loaded once a matmul has run.
  (void)torch::mm(torch::ones({2, 2}), torch::ones({2, 2}));
  const std::string blas = fp::loaded_blas();
  REQUIRE_FALSE(blas.empty());
  CHECK(std::filesystem::path(blas).is_absolute());
  CHECK(std::filesystem::exists(blas));
  CHECK_FALSE(std::filesystem::is_symlink(blas));  // the alternative, resolved
  CHECK(blas.find("libblas.so") != std::string::npos);
  const std::string description = fp::machine_description();
  CHECK(description.find(", BLAS " + blas) != std::string::npos);
  CHECK(description.find(" cores") != std::string::npos);
}

namespace {

// A small convolutional net's parameters after `steps` Adam steps on seeded random
// batches, from the given initial weights: convolution and linear layers, forward and
// backward, call the BLAS in every shape fine-tuning does.
torch::Tensor trained(const torch::nn::Sequential& initial, uint64_t seed, int steps) {
  auto net = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(initial->clone());
  auto gen = at::detail::createCPUGenerator(seed);
  auto x = torch::randn({steps, 32, 1, 28, 28}, gen);
  auto y = torch::randint(10, {steps, 32}, gen);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  for (int s = 0; s < steps; ++s) {
    auto loss = torch::nn::functional::cross_entropy(net->forward(x[s]), y[s]);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  std::vector<torch::Tensor> flat;
  for (const auto& p : net->parameters()) flat.push_back(p.detach().flatten());
  return torch::cat(flat);
}

}  // namespace

TEST_CASE("a BLAS said to be safe for concurrent callers gives every caller its own results",
          "[machine][blas]") {
  const fp::BlasThreading blas = fp::blas_threading();
  INFO(blas.library << " " << blas.config);
  // OpenBLAS is recognised by its own entry points: its build line is read from it.
  if (blas.library.find("openblas") != std::string::npos) CHECK_FALSE(blas.config.empty());
  if (!blas.concurrent_calls_safe()) {
    // Debian's single-threaded OpenBLAS: fp-sim refuses to compute agents on threads.
    CHECK_FALSE(fp::check_concurrent_blas(2, "test").ok());
    return;
  }
  REQUIRE(fp::check_concurrent_blas(2, "test").ok());
  // The same two trainings, once alone and then on two threads at once, bit for bit.
  // With libopenblas0-serial, a scratch program of these trainings found differences in 4
  // of 6 runs (4 to 12 of 12 trainings), and this case, forced through, failed 3 of 4 runs;
  // with libopenblas0-pthread or the reference BLAS none.
  namespace nn = torch::nn;
  torch::manual_seed(0);
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 8, 3).padding(1)), nn::ReLU(),
                     nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(8, 16, 3).padding(1)),
                     nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(16 * 7 * 7, 64),
                     nn::ReLU(), nn::Linear(64, 10));
  constexpr int kSteps = 60;
  fp::set_compute_threads(1);
  const auto alone_a = trained(net, 1, kSteps), alone_b = trained(net, 2, kSteps);
  for (int round = 0; round < 6; ++round) {
    torch::Tensor together_a, together_b;
    std::thread other([&] {
      fp::set_compute_threads(1);
      together_b = trained(net, 2, kSteps);
    });
    together_a = trained(net, 1, kSteps);
    other.join();
    INFO("round " << round);
    CHECK(torch::equal(alone_a, together_a));
    CHECK(torch::equal(alone_b, together_b));
  }
}

TEST_CASE("several agents on threads are refused a single-threaded OpenBLAS, by name",
          "[machine][blas]") {
  fp::BlasThreading serial;
  serial.library = "/usr/lib/x86_64-linux-gnu/openblas-serial/libblas.so.3";
  serial.config = "OpenBLAS 0.3.21 DYNAMIC_ARCH SINGLE_THREADED";
  serial.single_threaded_openblas = true;
  CHECK(fp::check_concurrent_blas(serial, 1, "fp-sim host (1 workers)").ok());
  const fp::Status refused = fp::check_concurrent_blas(serial, 2, "fp-sim host (2 workers)");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.message().find("fp-sim host (2 workers)") != std::string::npos);
  CHECK(refused.message().find(serial.library) != std::string::npos);
  CHECK(refused.message().find("libopenblas0-pthread") != std::string::npos);
  fp::BlasThreading threaded = serial;
  threaded.single_threaded_openblas = false;
  CHECK(fp::check_concurrent_blas(threaded, 8, "fp-sim run").ok());
  CHECK(fp::check_concurrent_blas(fp::BlasThreading{}, 8, "fp-sim run").ok());  // not OpenBLAS
}

TEST_CASE("a thread's name reads back, cut to the kernel's 15 characters", "[machine]") {
  std::string short_name, long_name;
  std::thread t([&] {
    char buffer[64] = {};
    fp::set_thread_name("fp-agent");
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    short_name = buffer;
    fp::set_thread_name("fp-a-name-longer-than-fifteen");
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    long_name = buffer;
  });
  t.join();
  CHECK(short_name == "fp-agent");
  CHECK(long_name == "fp-a-name-longe");
}

TEST_CASE("a task thread runs its jobs one at a time, in order, on one named thread", "[machine]") {
  std::vector<int> order;
  std::vector<std::thread::id> ran_on;
  std::string name;
  std::atomic<int> running{0}, most_at_once{0};
  {
    fp::TaskThread thread("fp-task");
    for (int i = 0; i < 5; ++i) {
      thread.post([&, i] {
        most_at_once = std::max(most_at_once.load(), ++running);
        std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 50 : 1));
        char buffer[64] = {};
        pthread_getname_np(pthread_self(), buffer, sizeof buffer);
        name = buffer;
        order.push_back(i);
        ran_on.push_back(std::this_thread::get_id());
        --running;
      });
    }
  }  // destroyed with jobs still queued: they run before it joins
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(most_at_once == 1);
  REQUIRE(ran_on.size() == 5);
  CHECK(std::count(ran_on.begin(), ran_on.end(), ran_on[0]) == 5);
  CHECK(ran_on[0] != std::this_thread::get_id());
  CHECK(name == "fp-task");
}

namespace {

// Minor page faults this process has taken so far.
long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

}  // namespace

TEST_CASE("with the allocator tuned, a batch's freed blocks are reused without page faults",
          "[machine]") {
  // The test suites' main tunes the allocator as every program does; tuning again from
  // here is harmless and says whether glibc took the settings.
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) {
    CHECK_FALSE(fp::tune_allocator());  // the user's choice stands
    return;
  }
  REQUIRE(fp::tune_allocator());
  // A forward pass's pattern: a few large activations, all freed, then the next batch.
  // Untuned, glibc unmaps or trims them and every round faults its 32 MB in again.
  constexpr size_t kBlock = size_t{8} << 20;
  constexpr int kBlocks = 4, kRounds = 6;
  long faults_after_first = 0;
  for (int round = 0; round < kRounds; ++round) {
    const long before = minor_faults();
    std::vector<char*> blocks;
    for (int b = 0; b < kBlocks; ++b) {
      auto* p = static_cast<char*>(std::malloc(kBlock));
      REQUIRE(p != nullptr);
      std::memset(p, round + 1, kBlock);
      blocks.push_back(p);
    }
    for (char* p : blocks) std::free(p);
    if (round > 0) faults_after_first += minor_faults() - before;
  }
  // 4 KB pages: one round untuned is 8,192 faults; tuned, the later rounds take none
  // (a few from elsewhere in the process are allowed).
  CHECK(faults_after_first < 500);
}

TEST_CASE("a fresh buffer prefaulted for writing is then filled without page faults", "[machine]") {
  constexpr size_t kBytes = size_t{8} << 20;  // 2,048 pages of 4 KB
  void* map = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(map != MAP_FAILED);
  auto* p = static_cast<char*>(map);
  // An unaligned start and end: only the whole pages inside are mapped, nothing outside
  // is touched, and a range without a whole page is fine.
  CHECK(fp::prefault_for_writing(p + 100, 10));
  if (!fp::prefault_for_writing(p + 1, kBytes - 2)) {
    ::munmap(map, kBytes);
    return fp::testing::skip("this kernel has no MADV_POPULATE_WRITE (Linux < 5.14)",
                             fp::testing::kFromSetup);
  }
  const long before = minor_faults();
  std::memset(p, 7, kBytes);
  const long faults = minor_faults() - before;
  CHECK(faults < 100);  // the first and last partial pages, and a few from elsewhere
  CHECK(p[kBytes / 2] == 7);
  ::munmap(map, kBytes);
}

namespace {

// should_reexec_for_passive_openmp on a command line given as words.
bool reexecs(std::vector<std::string> words) {
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  return fp::should_reexec_for_passive_openmp(argv.data(), {"status", "export"});
}

}  // namespace

TEST_CASE("only subcommands that may compute start a second time for the OpenMP policy",
          "[machine]") {
  CHECK(reexecs({"fp-coordinator", "serve", "-c", "fp.toml"}));
  CHECK(reexecs({"fp-coordinator", "train", "--epochs", "2"}));
  CHECK_FALSE(reexecs({"fp-coordinator", "status", "--db", "fp.db"}));
  CHECK_FALSE(reexecs({"fp-coordinator", "--verbose", "export"}));  // a flag before it
  // An option's value before the subcommand is taken for it: start twice, as always.
  CHECK(reexecs({"fp-coordinator", "--log-level", "debug", "status"}));
  CHECK(reexecs({"fp-coordinator"}));              // no subcommand: CLI11 will say so
  CHECK(reexecs({"fp-coordinator", "statuses"}));  // whole words only
  // What fp-sim asks before it forks its host zygote (only `run` starts hosts).
  std::vector<std::string> words = {"fp-sim", "--quiet", "run", "duo.toml"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  CHECK(fp::subcommand_of(argv.data()) == "run");
  argv[1] = nullptr;
  CHECK(fp::subcommand_of(argv.data()).empty());
}

// fp-sim's agent hosts are forked from one process (simulation/host_zygote.h): each draws
// its own instance ids and seeds.
TEST_CASE("a forked process draws other random values than its parent", "[machine]") {
  (void)fp::random_u64();  // the generator exists before the fork
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const uint64_t drawn = fp::random_u64();
    ssize_t ignored = ::write(fds[1], &drawn, sizeof drawn);
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  uint64_t child = 0;
  const ssize_t got = ::read(fds[0], &child, sizeof child);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(got == static_cast<ssize_t>(sizeof child));
  CHECK(child != fp::random_u64());  // the parent's next value: the child's, before
}

// A host forked by fp-sim run's zygote (simulation/host_zygote.h) shows its own command line.
TEST_CASE("a process's title replaces its command line, even a longer one, keeping its environment",
          "[machine]") {
  std::string cmdline;
  {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    cmdline.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const int argc = static_cast<int>(std::count(cmdline.begin(), cmdline.end(), '\0'));
  REQUIRE(argc > 0);
  const char* path = std::getenv("PATH");
  REQUIRE(path != nullptr);
  const std::string path_before = path;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // In a child: the title is the process's for good. Its arguments lie one after the
    // other from glibc's program name (argv[0]).
    std::vector<char*> argv;
    for (char* at = program_invocation_name; static_cast<int>(argv.size()) < argc;
         at += std::strlen(at) + 1)
      argv.push_back(at);
    argv.push_back(nullptr);
    // The environment as the kernel laid it out after them: another case's setenv() or
    // unsetenv() in this process may have moved entries of environ elsewhere.
    std::string laid_out;
    {
      std::ifstream in("/proc/self/environ", std::ios::binary);
      laid_out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::vector<char*> environment;
    char* const first = program_invocation_name + cmdline.size();
    for (char* at = first; at < first + laid_out.size(); at += std::strlen(at) + 1)
      environment.push_back(at);
    environment.push_back(nullptr);
    environ = environment.data();
    fp::save_process_title_area(argc, argv.data());
    auto shown = [] {
      std::ifstream in("/proc/self/cmdline", std::ios::binary);
      std::string s;
      std::getline(in, s, '\0');
      return s;
    };
    std::string report;
    const std::string longer = "fp-test: " + std::string(cmdline.size() + 8, 'x');
    const std::string shorter = "fp-test: short";
    for (const std::string& title : {longer, shorter}) {
      report += fp::set_process_title(title) ? "set " : "not set ";
      report += shown() == title ? "shown; " : "not shown (" + shown() + "); ";
    }
    const char* kept = std::getenv("PATH");
    report += kept != nullptr && kept == path_before ? "PATH kept" : "PATH lost";
    ssize_t ignored = ::write(fds[1], report.data(), report.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buffer[512];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) report.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(report == "set shown; set shown; PATH kept");
}

// Under `ulimit -v` OpenBLAS retried a failing allocation for ever: a device capped that way
// spun at full CPU inside a task without a word (session 53's audit). Every program says so
// at its start.
TEST_CASE("a limit on virtual memory is warned about, naming the cap to use instead", "[machine]") {
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_AS, &before) == 0);
  if (before.rlim_cur == RLIM_INFINITY) CHECK(fp::address_space_limit_warning().empty());
  rlimit capped = before;
  capped.rlim_cur = std::min<rlim_t>(rlim_t{1} << 40, before.rlim_max);  // 1 TiB: not reached
  REQUIRE(::setrlimit(RLIMIT_AS, &capped) == 0);
  const std::string warning = fp::address_space_limit_warning();
  REQUIRE(::setrlimit(RLIMIT_AS, &before) == 0);
  CHECK_THAT(warning, Catch::StartsWith("this process's virtual memory is limited to " +
                                        std::to_string(capped.rlim_cur >> 20) +
                                        " MiB (ulimit -v, or systemd's LimitAS=)") &&
                          Catch::Contains("systemd's MemoryMax="));
}

namespace {

// VmHWM of /proc/self/status in bytes, read the plain way.
uint64_t status_hwm_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// A peak read before `later`, the peak read after: the reading itself (a stream, a child's
// first writes to pages it shares with its parent) may add a few pages between the two.
bool close_below(uint64_t peak, uint64_t later) {
  return peak <= later && later - peak < (uint64_t{4} << 20);
}

}  // namespace

TEST_CASE("the peak resident size is read afresh each time, and a forked child reads its own",
          "[machine]") {
  const uint64_t first = fp::peak_rss_bytes();  // its file now open
  REQUIRE(first > 0);
  CHECK(close_below(first, status_hwm_bytes()));
  // Pages past the peak so far: the peak must rise by about as much.
  const size_t bytes = static_cast<size_t>(first) + (size_t{32} << 20);
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(map != MAP_FAILED);
  std::memset(map, 1, bytes);
  const uint64_t risen = fp::peak_rss_bytes();
  CHECK(risen >= first + (uint64_t{30} << 20));
  CHECK(close_below(risen, status_hwm_bytes()));
  ::munmap(map, bytes);
  // A child forked now holds far fewer pages than this process's peak: it must not read
  // its parent's file.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const uint64_t said = fp::peak_rss_bytes(), own = status_hwm_bytes();
    ::_exit(close_below(said, own) && said + (uint64_t{30} << 20) <= risen ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
