// The dashboard's GET /metrics: the fleet's state in Prometheus's text exposition format
// (version 0.0.4), for the monitoring a team already runs beside its devices. Gauges read
// from the store at each scrape, as the JSON API's /api/summary and /api/campaigns bodies
// hold them:
//
//   fineprune_agents{state}                  connected, working, idle, done, failed, offline
//   fineprune_agents_known                   every agent the store has seen
//   fineprune_campaigns{status}              running, done
//   fineprune_tasks{status}                  pending, assigned, done, failed (all campaigns)
//   fineprune_campaign_tasks{campaign,status}
//   fineprune_campaign_progress{campaign}    the share of its tasks ended, 0..1
//   fineprune_campaign_eta_seconds{campaign} only while the dashboard has an estimate
//   fineprune_telemetry_rows                 telemetry rows stored
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace fp::dash {

// The exposition of `summary` (/api/summary's body) and `campaigns` (/api/campaigns's).
std::string prometheus_text(const nlohmann::json& summary, const nlohmann::json& campaigns);

// A label value as the format quotes it: backslash, double quote and newline escaped.
std::string prometheus_label(const std::string& value);

}  // namespace fp::dash
