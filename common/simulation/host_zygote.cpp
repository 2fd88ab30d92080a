#include "simulation/host_zygote.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "util/process_title.h"

namespace fp::sim {
namespace {

// A request: the log's path, then the arguments, each ended by '\0', in one datagram.
constexpr size_t kMaxRequest = 64 * 1024;

// The zygote's answer: the host's pid, or why none started.
struct Reply {
  int error = 0;  // errno
  pid_t pid = -1;
};

struct ZygoteHandle {
  std::mutex mutex;
  pid_t pid = -1;
  int socket = -1;   // this process's end
  std::string note;  // why none was started
};

ZygoteHandle& zygote() {
  static ZygoteHandle* handle = new ZygoteHandle;  // never destroyed: used until exit
  return *handle;
}

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "Threads:") {
      int n = 0;
      status >> n;
      return n;
    }
    status.ignore(1 << 20, '\n');
  }
  return -1;
}

bool exec_hosts_asked() {
  const char* value = std::getenv("FP_SIM_EXEC_HOSTS");
  return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

// In the host, forked by a middle process: its output to `log`, handed to `parent` (the
// middle process exits at once), then main()'s body with its own arguments.
[[noreturn]] void run_host(int log, pid_t parent, pid_t middle, std::vector<std::string> args,
                           ProgramBody body) {
  ::signal(SIGINT, SIG_DFL);
  ::dup2(log, STDOUT_FILENO);  // the log is above the standard descriptors (fork_host)
  ::dup2(log, STDERR_FILENO);
  ::close(log);
  const int null_input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_input >= 0 && null_input != STDIN_FILENO) {
    ::dup2(null_input, STDIN_FILENO);
    ::close(null_input);
  }
  // Reparented once the middle process has exited: until then its --parent-pid check
  // (host_command.cpp) would see the middle process. A parent gone meanwhile ends it.
  for (pid_t now = ::getppid(); now != parent; now = ::getppid()) {
    if (now != middle) ::_exit(0);
    ::usleep(200);
  }
  std::string title;
  for (const auto& a : args) title += (title.empty() ? "" : " ") + a;
  set_process_title(title);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int code = body(static_cast<int>(args.size()), argv.data());
  // Ends without the static destructors: LibTorch's deregister every operator, writing
  // its dispatch tables, pages still shared with the zygote, each write a page copy (~0.27 s
  // of CPU a host in a 2-host smoke run, `perf record --call-graph dwarf`). Nothing of the
  // host's own is left to them: its files are closed, its sockets gone, its output flushed.
  std::fflush(nullptr);
  ::_exit(code);
}

// Forks one host through a middle process, so that it is handed to `parent`, the
// subreaper, rather than staying the zygote's.
Reply fork_host(const char* request, size_t size, pid_t parent, int socket, ProgramBody body) {
  std::vector<std::string> fields;
  for (size_t at = 0; at < size;) {
    const size_t end = std::find(request + at, request + size, '\0') - request;
    fields.emplace_back(request + at, end - at);
    at = end + 1;
  }
  if (fields.size() < 2) return {EINVAL, -1};
  // Opened here, so that a log that cannot be opened is the request's error; above the
  // standard descriptors (one the run started without would take it), which the host's
  // dup2() calls replace.
  const int opened = ::open(fields[0].c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (opened < 0) return {errno, -1};
  const int log = opened > STDERR_FILENO ? opened : ::fcntl(opened, F_DUPFD_CLOEXEC, 3);
  if (log != opened) ::close(opened);
  if (log < 0) return {errno, -1};
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(log);
    return {error, -1};
  }
  const pid_t middle = ::fork();
  if (middle == 0) {
    ::close(pipe_fds[0]);
    const pid_t middle_pid = ::getpid();
    const pid_t host = ::fork();
    if (host == 0) {
      ::close(pipe_fds[1]);
      ::close(socket);
      fields.erase(fields.begin());
      run_host(log, parent, middle_pid, std::move(fields), body);
    }
    const Reply reply{host < 0 ? errno : 0, host};
    if (::write(pipe_fds[1], &reply, sizeof reply) == static_cast<ssize_t>(sizeof reply))
      ::_exit(0);
    if (host > 0) ::kill(host, SIGKILL);  // nobody would know it runs
    ::_exit(1);
  }
  Reply reply{0, -1};
  if (middle < 0) reply.error = errno;
  ::close(pipe_fds[1]);
  ::close(log);
  if (middle > 0) {
    ssize_t got;
    do {
      got = ::read(pipe_fds[0], &reply, sizeof reply);
    } while (got < 0 && errno == EINTR);
    if (got != static_cast<ssize_t>(sizeof reply)) reply = {EPIPE, -1};
    while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  ::close(pipe_fds[0]);
  return reply;
}

[[noreturn]] void zygote_main(int socket, pid_t parent, ProgramBody body) {
  // Ends with the run, even one killed outright; a terminal's Ctrl-C is the run's to handle
  // (it stops the zygote when it ends).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  ::signal(SIGINT, SIG_IGN);
  set_process_title("fp-sim: host zygote of " + std::to_string(parent));
  std::vector<char> request(kMaxRequest);
  for (;;) {
    ssize_t n;
    do {
      n = ::recv(socket, request.data(), request.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) ::_exit(0);  // the run closed its end, or ended
    const Reply reply = fork_host(request.data(), static_cast<size_t>(n), parent, socket, body);
    if (::send(socket, &reply, sizeof reply, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof reply))
      ::_exit(0);
  }
}

}  // namespace

bool start_host_zygote(ProgramBody body) {
  ZygoteHandle& z = zygote();
  // No lock across the fork: the zygote and its hosts would hold it for good. The process
  // has one thread here (checked), so nothing else reads the handle meanwhile.
  if (z.pid > 0) return false;
  if (exec_hosts_asked()) {
    z.note = "FP_SIM_EXEC_HOSTS is set";
    return false;
  }
  if (const int threads = thread_count(); threads != 1) {
    z.note = "fp-sim had " + std::to_string(threads) +
             " threads as it started (OpenBLAS starts its own unless OPENBLAS_NUM_THREADS=1)";
    return false;
  }
  int sockets[2];
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 ||
      ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    z.note = std::string("setting it up failed: ") + std::strerror(errno);
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    return false;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sockets[0]);
    zygote_main(sockets[1], parent, body);
  }
  const int fork_error = errno;
  ::close(sockets[1]);
  if (pid < 0) {
    z.note = std::string("its fork failed: ") + std::strerror(fork_error);
    ::close(sockets[0]);
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    return false;
  }
  // A zygote that stops answering fails the request in time rather than hang the run.
  const timeval answer_within{30, 0};
  ::setsockopt(sockets[0], SOL_SOCKET, SO_RCVTIMEO, &answer_within, sizeof answer_within);
  std::lock_guard<std::mutex> lock(z.mutex);
  z.pid = pid;
  z.socket = sockets[0];
  return true;
}

bool host_zygote_running() {
  ZygoteHandle& z = zygote();
  std::lock_guard<std::mutex> lock(z.mutex);
  return z.pid > 0;
}

std::string host_zygote_note() {
  ZygoteHandle& z = zygote();
  std::lock_guard<std::mutex> lock(z.mutex);
  return z.pid > 0 ? "" : z.note.empty() ? "it was not started" : z.note;
}

Result<ChildProcess> spawn_from_host_zygote(const std::vector<std::string>& argv,
                                            const std::string& name, const std::string& log_path) {
  if (argv.empty()) return Status::invalid_argument("spawn_from_host_zygote: empty command line");
  std::string request = log_path + '\0';
  for (const auto& a : argv) request += a + '\0';
  if (request.size() > kMaxRequest)
    return Status::unavailable("starting " + name + ": a command line of " +
                               std::to_string(request.size()) +
                               " bytes, more than the host zygote takes");
  ZygoteHandle& z = zygote();
  std::lock_guard<std::mutex> lock(z.mutex);
  if (z.pid <= 0) return Status::unavailable("starting " + name + ": no host zygote runs");
  const std::string from =
      "starting " + name + " from the host zygote (pid " + std::to_string(z.pid) + "): ";
  ssize_t n = ::send(z.socket, request.data(), request.size(), MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(request.size()))  // not asked: no host started
    return Status::unavailable(from + std::strerror(n < 0 ? errno : EPIPE));
  Reply reply;
  do {
    n = ::recv(z.socket, &reply, sizeof reply, 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof reply)) {
    // Asked, but no answer: a host may run that this process does not know of, so another
    // must not be started in its place.
    return Status::io_error(from + "no answer (" +
                            (n < 0 ? std::string(std::strerror(errno)) : "it ended") + ")");
  }
  if (reply.error != 0 || reply.pid <= 0)  // nothing started (the middle kills an untold host)
    return Status::unavailable(from + std::strerror(reply.error != 0 ? reply.error : ECHILD));
  ChildProcess child;
  child.pid = reply.pid;
  child.name = name;
  child.forked = true;
  return child;
}

std::optional<ChildProcess> stop_host_zygote() {
  ZygoteHandle& z = zygote();
  std::lock_guard<std::mutex> lock(z.mutex);
  if (z.pid <= 0) return std::nullopt;
  ::close(z.socket);  // the zygote reads the end of its requests and exits
  ChildProcess child;
  child.pid = z.pid;
  child.name = "host zygote";
  reap_child(child, true);
  z.pid = -1;
  z.socket = -1;
  z.note = "it was stopped";
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  return child;
}

}  // namespace fp::sim
