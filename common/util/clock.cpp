#include "util/clock.h"

#include <time.h>

#include <chrono>
#include <cmath>
#include <ctime>

namespace fp {

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string utc_time_text(double unix_seconds) {
  // 1970 to 9999: the text keeps its width, and time_t and struct tm hold every one.
  if (!std::isfinite(unix_seconds) || unix_seconds < 0 || unix_seconds >= 253402300800.0)
    return "?";
  const auto secs = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return "?";
  char text[40];
  if (std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return "?";
  return text;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace fp
