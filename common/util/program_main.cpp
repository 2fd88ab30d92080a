#include "util/program_main.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <system_error>

namespace fp {

std::string exception_summary(const std::exception& e) {
  std::string what = e.what();
  const size_t backtrace = what.find("\nException raised from ");
  if (backtrace != std::string::npos) what.resize(backtrace);
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  // std::thread's failure to start one: "Resource temporarily unavailable" alone named
  // neither what was short nor which limit.
  if (const auto* system = dynamic_cast<const std::system_error*>(&e);
      system && system->code() == std::errc::resource_unavailable_try_again)
    what +=
        " (a thread or process could not be started: the limit on this user's processes "
        "and threads, ulimit -u, or memory ran out)";
  return what.empty() ? "an unexpected error" : what;
}

std::string_view subcommand_of(char** argv) {
  for (char** arg = argv + 1; *arg != nullptr; ++arg) {
    const std::string_view a(*arg);
    if (!a.empty() && a[0] == '-') continue;
    return a;
  }
  return {};
}

std::string address_space_limit_warning() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return "";
  return fmt::format(
      "this process's virtual memory is limited to {} MiB (ulimit -v, or systemd's LimitAS=): "
      "under such a limit the BLAS may retry a failing allocation for ever instead of failing; "
      "cap memory with a cgroup instead (systemd's MemoryMax=, docs/DEPLOY.md)",
      lim.rlim_cur >> 20);
}

int run_main(const char* program, const std::function<int()>& body, std::FILE* err) {
  try {
    auto log = std::make_shared<spdlog::logger>(
        program, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    log->set_level(spdlog::default_logger()->level());
    spdlog::set_default_logger(std::move(log));
    if (const std::string limited = address_space_limit_warning(); !limited.empty())
      spdlog::warn("{}", limited);
    return body();
  } catch (const std::exception& e) {
    std::fprintf(err, "%s: %s\n", program, exception_summary(e).c_str());
  } catch (...) {
    std::fprintf(err, "%s: an unexpected error (not a std::exception)\n", program);
  }
  return 1;
}

}  // namespace fp
