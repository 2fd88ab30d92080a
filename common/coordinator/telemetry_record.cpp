#include "coordinator/telemetry_record.h"

#include <fmt/compile.h>
#include <fmt/format.h>

namespace fp::coord {
namespace {

// The JSON is written by hand into a stack buffer with compiled formats: this runs for
// every report on the ingest path, and a JSON library's tree building, then fmt's run-time
// format parsing into a growing string, were most of its cost.
using Buffer = fmt::memory_buffer;

void append(Buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void append_string(Buffer& out, const std::string& s) {
  out.push_back('"');
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      fmt::format_to(fmt::appender(out), FMT_COMPILE("\\u{:04x}"), u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

std::string layers_json(const std::vector<proto::LayerSparsityEntry>& layers) {
  Buffer out;
  out.push_back('[');
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    append(out, i ? ",{\"name\":" : "{\"name\":");
    append_string(out, l.name);
    fmt::format_to(
        fmt::appender(out),
        FMT_COMPILE(",\"units\":{},\"active_units\":{},\"weights\":{},\"zeroed_weights\":{}}}"),
        l.units, l.active_units, l.weights, l.zeroed_weights);
  }
  out.push_back(']');
  return fmt::to_string(out);
}

std::string curve_json(const std::vector<proto::CurvePointEntry>& curve) {
  Buffer out;
  out.push_back('[');
  for (size_t i = 0; i < curve.size(); ++i) {
    const auto& p = curve[i];
    if (i) out.push_back(',');
    fmt::format_to(fmt::appender(out),
                   FMT_COMPILE("{{\"target\":{},\"sparsity\":{},\"accuracy\":{},\"macs\":{}}}"),
                   p.target, p.sparsity, p.accuracy, p.macs);
  }
  out.push_back(']');
  return fmt::to_string(out);
}

}  // namespace

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
  r.layer_sparsity_json = layers_json(m.layers);
  if (m.evaluated) {
    r.accuracy_before = m.accuracy_before;
    r.accuracy_after = m.accuracy_after;
  }
  r.curve_json = curve_json(m.curve);
  r.adaptation_samples = static_cast<int64_t>(m.adaptation_samples);
  r.eval_samples = static_cast<int64_t>(m.eval_samples);
  r.wall_seconds = m.wall_seconds;
  r.macs_dense = static_cast<int64_t>(m.macs_dense);
  r.macs_effective = static_cast<int64_t>(m.macs_effective);
  r.peak_memory_bytes = static_cast<int64_t>(m.peak_memory_bytes);
  r.compute_macs = static_cast<int64_t>(m.compute_macs);
  r.compact_parameters = static_cast<int64_t>(m.compact_parameters);
  r.compact_bytes = static_cast<int64_t>(m.compact_bytes);
  r.evaluated = m.evaluated;
  // Label-free figures exist only where the device measured them (a top-class
  // probability is never 0, so 0 means "not measured").
  if (m.mean_confidence_before > 0) {
    r.mean_confidence_before = m.mean_confidence_before;
    r.mean_confidence_after = m.mean_confidence_after;
    r.agreement = m.agreement;
  }
  r.model_bytes = static_cast<int64_t>(m.model_bytes);
  r.skipped_files = static_cast<int64_t>(m.skipped_files);
  r.received_at = received_at;
  r.dp_mechanism = m.privacy_mechanism;
  if (!m.privacy_mechanism.empty()) {
    r.dp_epsilon = m.privacy_epsilon;
    if (m.privacy_mechanism == "gaussian") r.dp_delta = m.privacy_delta;
  }
  return r;
}

}  // namespace fp::coord
