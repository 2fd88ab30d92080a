// Differential-privacy noise for reported accuracies, for privacy studies: the
// Laplace mechanism (epsilon-DP, scale b = sensitivity / epsilon) or the classical
// Gaussian mechanism ((epsilon, delta)-DP for epsilon < 1, sigma = sensitivity *
// sqrt(2 ln(1.25 / delta)) / epsilon; Dwork & Roth 2014, Theorem A.1).
//
// An accuracy over n evaluation samples changes by at most 1/n when one sample
// changes, so its sensitivity is 1/n. The agent adds the noise on the device before a
// report leaves, and the mechanism and epsilon travel with the numbers into the store.
// Epsilon is per reported value: k noisy values of one report cost k * epsilon under
// basic composition.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "util/status.h"

namespace fp::security {

enum class NoiseMechanism { kNone, kLaplace, kGaussian };

struct PrivacyConfig {
  NoiseMechanism mechanism = NoiseMechanism::kNone;
  double epsilon = 1.0;
  double delta = 1e-5;  // Gaussian only

  bool enabled() const { return mechanism != NoiseMechanism::kNone; }
};

const char* mechanism_name(NoiseMechanism m);  // "none", "laplace", "gaussian"

// Checks and builds a config from its settings ("none", "laplace" or "gaussian");
// `where` names the source in error messages (a config key, a file).
Result<PrivacyConfig> make_privacy_config(const std::string& mechanism, double epsilon,
                                          double delta, const std::string& where);

// As a JSON object {"mechanism":..,"epsilon":..,"delta":..} and back (what travels in
// the task's config JSON under "privacy"). An empty string or "{}" is no noise.
std::string privacy_to_json(const PrivacyConfig& config);
Result<PrivacyConfig> privacy_from_json(const std::string& json);

// The Laplace scale b or the Gaussian sigma for a query of this sensitivity.
double noise_scale(const PrivacyConfig& config, double sensitivity);
// One draw of the mechanism's noise (0 when disabled).
double sample_noise(const PrivacyConfig& config, double sensitivity, std::mt19937_64& rng);

}  // namespace fp::security
