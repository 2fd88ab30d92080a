#include "agent/report_privacy.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

namespace fp::agent {

Result<security::PrivacyConfig> privacy_of(const proto::TaskAssignment& task) {
  auto j = nlohmann::json::parse(task.prune_config_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("privacy")) {
    return security::PrivacyConfig{};
  }
  return security::privacy_from_json(j["privacy"].dump());
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

uint64_t report_seed(uint64_t agent_seed, uint64_t task_id, uint64_t report_index) {
  // splitmix64 over the three inputs.
  uint64_t z = agent_seed ^ (task_id * 0x9e3779b97f4a7c15ull) ^ (report_index << 32);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace fp::agent
