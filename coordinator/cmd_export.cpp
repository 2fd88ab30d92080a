// fp-coordinator export: telemetry rows as CSV or JSON.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "coordinator/config.h"
#include "coordinator_commands.h"
#include "store/store.h"
#include "util/csv.h"
#include "util/file_io.h"

namespace fp::coord {
namespace {

// A JSON column as stored; text that does not parse (damaged, or bytes that are not
// UTF-8) is exported as a string rather than an invalid value.
nlohmann::json stored_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

// MACs per sample saved against the dense model (0 when not reported).
double mac_reduction(const store::TelemetryRecord& r) {
  return r.macs_dense > 0 ? 1.0 - static_cast<double>(r.macs_effective) / r.macs_dense : 0.0;
}

std::string optional_number(const std::optional<double>& v) {
  return v ? fmt::format("{}", *v) : std::string();
}

int export_rows(const CommonOptions& o, const std::string& only, const std::string& format,
                const std::string& out_path) {
  auto read = open_database_to_read(config_for(o));
  auto& store = read.store;
  auto campaigns = store->campaigns();
  if (!campaigns.ok()) {
    spdlog::error("{}", campaigns.status().to_string());
    return 1;
  }
  std::map<int64_t, std::string> names;
  for (const auto& c : *campaigns) names[c.id] = c.name;
  const int64_t campaign_id = campaign_id_named(*campaigns, only);
  auto rows = store->telemetry(campaign_id);
  if (!rows.ok()) {
    spdlog::error("{}", rows.status().to_string());
    return 1;
  }
  // Whole before it is written: a failed export leaves a file of that name as it was.
  std::ostringstream out;
  if (format == "json") {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& r : *rows) {
      nlohmann::json j = {{"campaign", names[r.campaign_id]},
                          {"task_id", r.task_id},
                          {"agent_id", r.agent_id},
                          {"individual", r.individual},
                          {"method", r.method},
                          {"target_sparsity", r.target_sparsity},
                          {"sparsity", r.sparsity},
                          {"overall_sparsity", r.overall_sparsity},
                          {"accuracy_before", nullptr},
                          {"accuracy_after", nullptr},
                          {"dp_mechanism", r.dp_mechanism},
                          {"dp_epsilon", nullptr},
                          {"dp_delta", nullptr},
                          {"adaptation_samples", r.adaptation_samples},
                          {"eval_samples", r.eval_samples},
                          {"wall_seconds", r.wall_seconds},
                          {"macs_dense", r.macs_dense},
                          {"macs_effective", r.macs_effective},
                          {"peak_memory_bytes", r.peak_memory_bytes},
                          {"compute_macs", r.compute_macs},
                          {"mac_reduction", mac_reduction(r)},
                          {"compact_parameters", r.compact_parameters},
                          {"compact_bytes", r.compact_bytes},
                          {"evaluated", r.evaluated},
                          {"mean_confidence_before", nullptr},
                          {"mean_confidence_after", nullptr},
                          {"agreement", nullptr},
                          {"model_bytes", r.model_bytes},
                          {"skipped_files", r.skipped_files},
                          {"layers", stored_json(r.layer_sparsity_json)},
                          {"curve", stored_json(r.curve_json)},
                          {"idempotency_key", r.idempotency_key},
                          {"received_at", r.received_at}};
      if (r.accuracy_before) j["accuracy_before"] = *r.accuracy_before;
      if (r.accuracy_after) j["accuracy_after"] = *r.accuracy_after;
      if (r.dp_epsilon) j["dp_epsilon"] = *r.dp_epsilon;
      if (r.dp_delta) j["dp_delta"] = *r.dp_delta;
      if (r.mean_confidence_before) j["mean_confidence_before"] = *r.mean_confidence_before;
      if (r.mean_confidence_after) j["mean_confidence_after"] = *r.mean_confidence_after;
      if (r.agreement) j["agreement"] = *r.agreement;
      all.push_back(std::move(j));
    }
    // Stored text may hold any bytes (an older coordinator stored what peers sent):
    // invalid UTF-8 becomes U+FFFD instead of aborting the export.
    out << all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    out << "campaign,task_id,agent_id,individual,method,target_sparsity,sparsity,"
           "overall_sparsity,accuracy_before,accuracy_after,dp_mechanism,dp_epsilon,dp_delta,"
           "adaptation_samples,eval_samples,wall_seconds,macs_dense,macs_effective,"
           "peak_memory_bytes,compute_macs,layers_json,curve_json,mac_reduction,"
           "compact_parameters,compact_bytes,evaluated,mean_confidence_before,"
           "mean_confidence_after,agreement,model_bytes,skipped_files\n";
    for (const auto& r : *rows) {
      out << fmt::format(
          "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{"
          "},"
          "{}\n",
          csv_field(names[r.campaign_id]), r.task_id, csv_field(r.agent_id),
          csv_field(r.individual), csv_field(r.method), r.target_sparsity, r.sparsity,
          r.overall_sparsity, optional_number(r.accuracy_before), optional_number(r.accuracy_after),
          csv_field(r.dp_mechanism), optional_number(r.dp_epsilon), optional_number(r.dp_delta),
          r.adaptation_samples, r.eval_samples, r.wall_seconds, r.macs_dense, r.macs_effective,
          r.peak_memory_bytes, r.compute_macs, csv_field(r.layer_sparsity_json),
          csv_field(r.curve_json), mac_reduction(r), r.compact_parameters, r.compact_bytes,
          r.evaluated ? 1 : 0, optional_number(r.mean_confidence_before),
          optional_number(r.mean_confidence_after), optional_number(r.agreement), r.model_bytes,
          r.skipped_files);
    }
  }
  if (out_path.empty()) {
    // Said, not only exited 1 (a full disk or a closed stdout: the export was lost silently).
    errno = 0;
    if (!(std::cout << out.str() << std::flush)) {
      spdlog::error("export: cannot write to standard output{}",
                    errno ? std::string(": ") + std::strerror(errno) : std::string());
      return 1;
    }
    return 0;
  }
  Status written = write_output(out_path, out.str(), "export", {o.config});
  if (!written.ok()) {
    spdlog::error("{}", written.to_string());
    return 1;
  }
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto o = std::make_shared<CommonOptions>();
  auto only = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("csv");
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("export", "Write telemetry rows as CSV or JSON");
  add_common_options(cmd, *o);
  cmd->add_option("--campaign", *only, "export only this campaign");
  cmd->add_option("--format", *format, "csv or json")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  cmd->add_option("-o,--out", *out, "output file (default: standard output)");
  cmd->callback(
      [o, only, format, out] { throw CLI::RuntimeError(export_rows(*o, *only, *format, *out)); });
}

}  // namespace fp::coord
