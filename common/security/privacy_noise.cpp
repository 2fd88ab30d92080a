#include "security/privacy_noise.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "util/json_object.h"

namespace fp::security {

const char* mechanism_name(NoiseMechanism m) {
  switch (m) {
    case NoiseMechanism::kLaplace:
      return "laplace";
    case NoiseMechanism::kGaussian:
      return "gaussian";
    case NoiseMechanism::kNone:
      break;
  }
  return "none";
}

Result<PrivacyConfig> make_privacy_config(const std::string& mechanism, double epsilon,
                                          double delta, const std::string& where) {
  PrivacyConfig c;
  c.epsilon = epsilon;
  c.delta = delta;
  if (mechanism == "none" || mechanism.empty()) {
    c.mechanism = NoiseMechanism::kNone;
    return c;
  }
  if (mechanism == "laplace") {
    c.mechanism = NoiseMechanism::kLaplace;
  } else if (mechanism == "gaussian") {
    c.mechanism = NoiseMechanism::kGaussian;
  } else {
    return Status::invalid_argument(where + ": unknown privacy mechanism '" + mechanism +
                                    "' (known: none, laplace, gaussian)");
  }
  if (!(std::isfinite(epsilon) && epsilon > 0.0)) {
    return Status::invalid_argument(where + ": privacy epsilon must be a finite number > 0");
  }
  if (c.mechanism == NoiseMechanism::kGaussian) {
    if (!(epsilon < 1.0)) {
      return Status::invalid_argument(
          where + ": the Gaussian mechanism's guarantee needs epsilon < 1 (use laplace above)");
    }
    if (!(delta > 0.0 && delta < 1.0)) {
      return Status::invalid_argument(where + ": privacy delta must be in (0, 1)");
    }
  }
  return c;
}

std::string privacy_to_json(const PrivacyConfig& config) {
  nlohmann::json j = {{"mechanism", mechanism_name(config.mechanism)}, {"epsilon", config.epsilon}};
  if (config.mechanism == NoiseMechanism::kGaussian) j["delta"] = config.delta;
  return j.dump();
}

Result<PrivacyConfig> privacy_from_json(const std::string& text) {
  if (text.empty()) return PrivacyConfig{};
  FP_ASSIGN_OR_RETURN(nlohmann::json j, parse_json_object(text, "privacy config"));
  try {
    return make_privacy_config(j.value("mechanism", std::string("none")), j.value("epsilon", 1.0),
                               j.value("delta", 1e-5), "privacy config");
  } catch (const nlohmann::json::exception& e) {
    return Status::invalid_argument(std::string("privacy config: ") + e.what());
  }
}

double noise_scale(const PrivacyConfig& config, double sensitivity) {
  switch (config.mechanism) {
    case NoiseMechanism::kLaplace:
      return sensitivity / config.epsilon;
    case NoiseMechanism::kGaussian:
      return sensitivity * std::sqrt(2.0 * std::log(1.25 / config.delta)) / config.epsilon;
    case NoiseMechanism::kNone:
      break;
  }
  return 0.0;
}

double sample_noise(const PrivacyConfig& config, double sensitivity, std::mt19937_64& rng) {
  const double scale = noise_scale(config, sensitivity);
  if (scale <= 0.0) return 0.0;
  if (config.mechanism == NoiseMechanism::kGaussian) {
    return std::normal_distribution<double>(0.0, scale)(rng);
  }
  // Laplace as the difference of two exponentials: exact and portable.
  std::exponential_distribution<double> exp(1.0 / scale);
  return exp(rng) - exp(rng);
}

}  // namespace fp::security
