#include "agent/report_privacy.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "util/text_memo.h"

namespace fp::agent {

Result<security::PrivacyConfig> privacy_of(const proto::TaskAssignment& task) {
  static TextMemo<Result<security::PrivacyConfig>> memo;  // a campaign's tasks share the text
  return memo.get(task.prune_config_json,
                  [](const std::string& text) -> Result<security::PrivacyConfig> {
                    auto j = nlohmann::json::parse(text, nullptr, false);
                    if (j.is_discarded() || !j.is_object() || !j.contains("privacy")) {
                      return security::PrivacyConfig{};
                    }
                    return security::privacy_from_json(j["privacy"].dump());
                  });
}

void add_privacy_noise(proto::TelemetryReport& r, const security::PrivacyConfig& config,
                       uint64_t seed) {
  if (!config.enabled() || !r.evaluated) return;
  std::mt19937_64 rng(seed);
  const double sensitivity = 1.0 / static_cast<double>(std::max<uint64_t>(1, r.eval_samples));
  auto noisy = [&](double v) {
    return std::clamp(v + security::sample_noise(config, sensitivity, rng), 0.0, 1.0);
  };
  r.accuracy_before = noisy(r.accuracy_before);
  r.accuracy_after = noisy(r.accuracy_after);
  for (auto& p : r.curve) p.accuracy = noisy(p.accuracy);
  r.privacy_mechanism = security::mechanism_name(config.mechanism);
  r.privacy_epsilon = config.epsilon;
  r.privacy_delta = config.mechanism == security::NoiseMechanism::kGaussian ? config.delta : 0.0;
}

std::string without_local_paths(std::string reason, const std::vector<LocalPath>& paths) {
  std::vector<std::pair<std::string, std::string>> forms;  // (path, placeholder)
  for (const auto& p : paths) {
    std::string given = p.path;
    while (given.size() > 1 && given.back() == '/') given.pop_back();
    if (given.empty() || given == "/" || given == ".") continue;
    forms.emplace_back(given, p.as);
    std::error_code ec;
    std::string absolute = std::filesystem::absolute(given, ec).lexically_normal().string();
    while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
    if (!ec && absolute != given) forms.emplace_back(absolute, p.as);
  }
  std::sort(forms.begin(), forms.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  auto before_ok = [](char c) { return std::strchr(" '\"(=", c) != nullptr; };
  auto after_ok = [](char c) { return std::strchr("/: '\"),;", c) != nullptr; };
  for (const auto& [path, as] : forms) {
    for (size_t at = reason.find(path); at != std::string::npos; at = reason.find(path, at)) {
      const size_t end = at + path.size();
      if ((at == 0 || before_ok(reason[at - 1])) &&
          (end == reason.size() || after_ok(reason[end]))) {
        reason.replace(at, path.size(), as);
        at += as.size();
      } else {
        at = end;
      }
    }
  }
  return reason;
}

uint64_t report_seed(uint64_t agent_seed, uint64_t task_id, uint64_t report_index) {
  // splitmix64 over the three inputs.
  uint64_t z = agent_seed ^ (task_id * 0x9e3779b97f4a7c15ull) ^ (report_index << 32);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace fp::agent
