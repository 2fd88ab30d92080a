#include "util/machine.h"

#include <ATen/Version.h>
#include <link.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fp {
namespace {

// The value of the first "key : value" line of `text` whose key is `key`; empty if none.
std::string field(std::istream& text, const std::string& key) {
  std::string line;
  while (std::getline(text, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || line.compare(0, key.size(), key) != 0) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

}  // namespace

std::string loaded_blas() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("/libblas.so") == std::string::npos) return 0;
        *static_cast<std::string*>(out) = name;
        return 1;  // stop: the first one is the one symbols resolve to
      },
      &found);
  if (found.empty()) return found;
  std::error_code error;
  const auto real = std::filesystem::canonical(found, error);
  return error ? found : real.string();
}

std::string machine_description() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string cpu = cpuinfo ? field(cpuinfo, "model name") : std::string();
  std::string out = cpu.empty() ? "unknown CPU" : cpu;
  out += ", " + std::to_string(std::thread::hardware_concurrency()) + " cores";
  // at::show_config() has a line "CPU capability usage: AVX2".
  std::istringstream config(at::show_config());
  const std::string capability = field(config, "  - CPU capability usage");
  if (!capability.empty()) out += ", LibTorch CPU capability " + capability;
  const std::string blas = loaded_blas();
  if (!blas.empty()) out += ", BLAS " + blas;
  return out;
}

}  // namespace fp
