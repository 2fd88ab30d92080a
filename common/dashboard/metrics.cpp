#include "dashboard/metrics.h"

#include <fmt/format.h>

namespace fp::dash {
namespace {

using nlohmann::json;

// Appends one metric's HELP and TYPE lines; its samples follow.
void family(std::string& out, const char* name, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
}

// `value` as the format writes a number (integers without a fraction).
std::string number(const json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  return fmt::format("{}", value.get<double>());
}

constexpr const char* kTaskStatuses[] = {"pending", "assigned", "done", "failed"};

}  // namespace

std::string prometheus_label(const std::string& value) {
  // Prometheus refuses a scrape whose label values are not UTF-8; a stored name may hold any
  // bytes (nlohmann::json's replacing dump makes them U+FFFD, as the JSON API sends them).
  const std::string utf8 =
      nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string text = nlohmann::json::parse(utf8).get<std::string>();
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string prometheus_text(const json& summary, const json& campaigns) {
  std::string out;
  const json& agents = summary.at("agents");
  family(out, "fineprune_agents", "Agents by state (connected = working + idle).");
  for (const char* state : {"connected", "working", "idle", "done", "failed", "offline"}) {
    out += fmt::format("fineprune_agents{{state=\"{}\"}} {}\n", state, number(agents.at(state)));
  }
  family(out, "fineprune_agents_known", "Agents the coordinator's store has seen.");
  out += "fineprune_agents_known " + number(agents.at("total")) + "\n";
  family(out, "fineprune_campaigns", "Campaigns by status.");
  for (const char* status : {"running", "superseded", "done"}) {
    out += fmt::format("fineprune_campaigns{{status=\"{}\"}} {}\n", status,
                       number(summary.at("campaigns").at(status)));
  }
  family(out, "fineprune_tasks", "Tasks of every campaign by status.");
  for (const char* status : kTaskStatuses) {
    out += fmt::format("fineprune_tasks{{status=\"{}\"}} {}\n", status,
                       number(summary.at("tasks").at(status)));
  }
  const json& list = campaigns.at("campaigns");
  family(out, "fineprune_campaign_tasks", "A campaign's tasks by status.");
  for (const json& c : list) {
    const std::string name = prometheus_label(c.at("name").get<std::string>());
    for (const char* status : kTaskStatuses) {
      out += fmt::format("fineprune_campaign_tasks{{campaign=\"{}\",status=\"{}\"}} {}\n", name,
                         status, number(c.at("tasks").at(status)));
    }
  }
  family(out, "fineprune_campaign_progress", "The share of a campaign's tasks ended (0 to 1).");
  for (const json& c : list) {
    out += fmt::format("fineprune_campaign_progress{{campaign=\"{}\"}} {}\n",
                       prometheus_label(c.at("name").get<std::string>()), number(c.at("progress")));
  }
  family(out, "fineprune_campaign_eta_seconds",
         "Seconds until a campaign's tasks have ended, at its recent pace (while estimated).");
  for (const json& c : list) {
    if (c.at("eta_seconds").is_null()) continue;
    out +=
        fmt::format("fineprune_campaign_eta_seconds{{campaign=\"{}\"}} {}\n",
                    prometheus_label(c.at("name").get<std::string>()), number(c.at("eta_seconds")));
  }
  family(out, "fineprune_telemetry_rows", "Telemetry rows stored.");
  out += "fineprune_telemetry_rows " + number(summary.at("telemetry_rows")) + "\n";
  return out;
}

}  // namespace fp::dash
