#include "telemetry_record.h"

#include <nlohmann/json.hpp>

namespace fp::coord {

store::TelemetryRecord to_record(const proto::TelemetryReport& m, const std::string& agent_id,
                                 int64_t campaign_id, double received_at) {
  store::TelemetryRecord r;
  r.idempotency_key = m.idempotency_key;
  r.task_id = static_cast<int64_t>(m.task_id);
  r.campaign_id = campaign_id;
  r.agent_id = agent_id;
  r.method = m.method;
  r.individual = m.individual;
  r.target_sparsity = m.target_sparsity;
  r.sparsity = m.sparsity;
  r.overall_sparsity = m.overall_sparsity;
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : m.layers) {
    layers.push_back({{"name", l.name},
                      {"units", l.units},
                      {"active_units", l.active_units},
                      {"weights", l.weights},
                      {"zeroed_weights", l.zeroed_weights}});
  }
  r.layer_sparsity_json = layers.dump();
  if (m.evaluated) {
    r.accuracy_before = m.accuracy_before;
    r.accuracy_after = m.accuracy_after;
  }
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& p : m.curve) {
    curve.push_back({{"target", p.target},
                     {"sparsity", p.sparsity},
                     {"accuracy", p.accuracy},
                     {"macs", p.macs}});
  }
  r.curve_json = curve.dump();
  r.adaptation_samples = static_cast<int64_t>(m.adaptation_samples);
  r.eval_samples = static_cast<int64_t>(m.eval_samples);
  r.wall_seconds = m.wall_seconds;
  r.macs_dense = static_cast<int64_t>(m.macs_dense);
  r.macs_effective = static_cast<int64_t>(m.macs_effective);
  r.peak_memory_bytes = static_cast<int64_t>(m.peak_memory_bytes);
  r.received_at = received_at;
  return r;
}

}  // namespace fp::coord
