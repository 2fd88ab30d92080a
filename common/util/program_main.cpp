#include "util/program_main.h"

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
    return body();
  } catch (const std::exception& e) {
    std::fprintf(err, "%s: %s\n", program, exception_summary(e).c_str());
  } catch (...) {
    std::fprintf(err, "%s: an unexpected error (not a std::exception)\n", program);
  }
  return 1;
}

}  // namespace fp
