// Differential-privacy noise on a device's reports (security/privacy_noise.h): the
// task's config JSON may carry "privacy": {"mechanism", "epsilon", "delta"}, and the
// agent then perturbs every reported accuracy before the report leaves the device.
#pragma once

#include <cstdint>

#include "protocol/messages.h"
#include "security/privacy_noise.h"
#include "util/status.h"

namespace fp::agent {

// The task's privacy settings; none when its config JSON has no "privacy" object.
Result<security::PrivacyConfig> privacy_of(const proto::TaskAssignment& task);

// Adds the mechanism's noise to accuracy_before, accuracy_after and every curve
// accuracy (sensitivity 1 / eval_samples each), clamps them to [0, 1] (post-processing
// keeps the guarantee) and records the mechanism, epsilon and delta in the report.
// Reports without evaluated accuracies are left alone. Deterministic given `seed`.
void add_privacy_noise(proto::TelemetryReport& report, const security::PrivacyConfig& config,
                       uint64_t seed);

// A seed per (agent seed, task, report), so resends and reruns draw the same noise.
uint64_t report_seed(uint64_t agent_seed, uint64_t task_id, uint64_t report_index);

}  // namespace fp::agent
