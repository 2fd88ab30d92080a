// What leaves a device, made private. Differential-privacy noise on its reports
// (security/privacy_noise.h): the task's config JSON may carry "privacy": {"mechanism",
// "epsilon", "delta"}, and the agent then perturbs every reported accuracy before the report
// leaves the device. And a failed task's reason without the device's own paths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/agent_config.h"
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

// `reason` with each of `paths` (as given, and absolute) written as its placeholder wherever
// it stands as a path: at the start or after a space, quote, '(' or '=', and followed by the
// end, '/', ':', a space, a quote, ')', ',' or ';'. Longer paths first.
std::string without_local_paths(std::string reason, const std::vector<LocalPath>& paths);

// A seed per (agent seed, task, report), so resends and reruns draw the same noise.
uint64_t report_seed(uint64_t agent_seed, uint64_t task_id, uint64_t report_index);

}  // namespace fp::agent
