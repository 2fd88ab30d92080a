#include "util/program_main.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace fp {

std::string exception_summary(const std::exception& e) {
  std::string what = e.what();
  const size_t backtrace = what.find("\nException raised from ");
  if (backtrace != std::string::npos) what.resize(backtrace);
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  return what.empty() ? "an unexpected error" : what;
}

int run_main(const char* program, const std::function<int()>& body, std::FILE* err) {
  try {
    auto log = std::make_shared<spdlog::logger>(
        program, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    log->set_level(spdlog::default_logger()->level());
    spdlog::set_default_logger(std::move(log));
    return body();
  } catch (const std::exception& e) {
    std::fprintf(err, "%s: %s\n", program, exception_summary(e).c_str());
  } catch (...) {
    std::fprintf(err, "%s: an unexpected error (not a std::exception)\n", program);
  }
  return 1;
}

}  // namespace fp
