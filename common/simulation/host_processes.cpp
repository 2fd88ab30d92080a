#include "simulation/host_processes.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace fp::sim {

Result<ChildProcess> spawn_child(const std::vector<std::string>& argv, const std::string& name,
                                 const std::string& log_path) {
  if (argv.empty()) return Status::invalid_argument("spawn_child: empty command line");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ChildProcess child;
  child.name = name;
  int rc = posix_spawn(&child.pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Status::io_error("starting " + argv[0] + " (" + name + "): " + std::strerror(rc));
  }
  return child;
}

bool reap_child(ChildProcess& child, bool block) {
  if (child.exited) return true;
  if (child.pid <= 0) return true;
  int status = 0;
  struct rusage usage {};
  pid_t got;
  do {
    got = wait4(child.pid, &status, block ? 0 : WNOHANG, &usage);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return false;
  child.exited = true;
  if (got < 0) return true;  // not our child any more: nothing to collect
  child.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1);
  child.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                      1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  child.peak_rss_bytes = static_cast<int64_t>(usage.ru_maxrss) * 1024;
  return true;
}

std::string how_it_ended(const ChildProcess& child) {
  if (child.exit_code > 128) {
    const int signal = child.exit_code - 128;
    return "was killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
  }
  return "exited with code " + std::to_string(child.exit_code);
}

void signal_child(const ChildProcess& child, int signal) {
  if (child.pid > 0 && !child.exited) ::kill(child.pid, signal);
}

std::string self_executable() {
  char buffer[4096];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return {};
  return std::string(buffer, static_cast<size_t>(n));
}

}  // namespace fp::sim
