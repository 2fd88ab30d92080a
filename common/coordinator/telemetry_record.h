// Turns a validated TelemetryReport into its SQLite row (per-layer sparsity and the
// sparsity-accuracy curve become JSON arrays).
#pragma once

#include <string>

#include "protocol/messages.h"
#include "store/records.h"

namespace fp::coord {

store::TelemetryRecord to_record(const proto::TelemetryReport& report, const std::string& agent_id,
                                 int64_t campaign_id, double received_at);

}  // namespace fp::coord
