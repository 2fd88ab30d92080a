// A small finished campaign written through the store API, for the dashboard's tests:
// three individuals, each with Fine-Pruning, fine-tuning and SVD telemetry and a
// three-point sweep, run by three agents that have since left. The numbers are kept
// here so tests compare what pages and files show against what was stored.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"
#include "temp_dir.h"

namespace fp::testing {

using fp::testing::TempDir;

struct SeededIndividual {
  std::string individual, agent;
  double general, fine_prune, finetune, svd;  // accuracies
  double sparsity, svd_sparsity;
  std::vector<double> curve_sparsity, curve_accuracy;  // at targets 0.2, 0.5, 0.8
};

inline const std::vector<double>& seeded_targets() {
  static const std::vector<double> targets = {0.2, 0.5, 0.8};
  return targets;
}

// Values chosen away from rounding ties, so "%.1f" gives one answer everywhere.
inline const std::vector<SeededIndividual>& seeded_individuals() {
  static const std::vector<SeededIndividual> all = {
      {"classes=0+9",
       "dev-0+9",
       0.9133,
       0.9167,
       0.9967,
       0.5033,
       0.4062,
       0.4104,
       {0.2071, 0.5012, 0.7958},
       {0.9212, 0.9167, 0.6312}},
      {"classes=1+7",
       "dev-1+7",
       0.9433,
       0.9967,
       1.0,
       0.9502,
       0.7021,
       0.7052,
       {0.2093, 0.5027, 0.8011},
       {0.9618, 0.9833, 0.9962}},
      {"classes=3+8",
       "dev-3+8",
       0.8733,
       0.9267,
       0.9904,
       0.0833,
       0.5943,
       0.6071,
       {0.2014, 0.4986, 0.7992},
       {0.8811, 0.9267, 0.7714}},
  };
  return all;
}

inline std::string curve_json_for(const SeededIndividual& s) {
  std::string out = "[";
  for (size_t k = 0; k < seeded_targets().size(); ++k) {
    out += (k ? "," : "") + std::string("{\"target\":") + std::to_string(seeded_targets()[k]) +
           ",\"sparsity\":" + std::to_string(s.curve_sparsity[k]) +
           ",\"accuracy\":" + std::to_string(s.curve_accuracy[k]) +
           ",\"macs\":" + std::to_string(1000000 - static_cast<int>(900000 * s.curve_sparsity[k])) +
           "}";
  }
  return out + "]";
}

// One stored report of a seeded individual: everything but the accuracies, the
// sparsity and the curve is the same made-up device run.
inline store::TelemetryRecord seeded_row(int64_t task, int64_t campaign, const std::string& agent,
                                         const std::string& individual, const std::string& key,
                                         const std::string& method, std::optional<double> general,
                                         std::optional<double> accuracy, double sparsity,
                                         double received_at) {
  store::TelemetryRecord r;
  r.idempotency_key = key;
  r.task_id = task;
  r.campaign_id = campaign;
  r.agent_id = agent;
  r.method = method;
  r.individual = individual;
  r.target_sparsity = sparsity;
  r.sparsity = r.overall_sparsity = sparsity;
  r.accuracy_before = general;
  r.accuracy_after = accuracy;
  r.adaptation_samples = r.eval_samples = 300;
  r.wall_seconds = 0.25;
  r.macs_dense = 1117056;
  r.macs_effective = static_cast<int64_t>(1117056 * (1 - sparsity));
  r.peak_memory_bytes = 1 << 20;
  r.received_at = received_at;
  return r;
}

// Writes the finished campaign `name` (the seeded individuals, each with a Fine-Pruning,
// a fine-tuning and an SVD report); returns its id.
inline int64_t seed_finished_campaign(store::Store& store, const std::string& name = "fashion-mini",
                                      double t0 = 1700000000.0) {
  const std::string sha(64, 'a');
  REQUIRE(store.put_model({sha, 4096, "{\"arch\":\"cnn\"}", "{}", "models/a.fpm", t0}).ok());
  store::CampaignRecord c;
  c.name = name;
  c.model_sha256 = sha;
  c.dataset = "fashion-mnist";
  c.prune_config_json = "{\"criterion\":\"energy\",\"select_sparsity\":true}";
  c.baselines_json = "[\"finetune\",\"svd\"]";
  c.sweep_targets_json = "[0.2,0.5,0.8]";
  c.created_at = t0;
  auto id = store.create_campaign(c);
  REQUIRE(id.ok());
  double t = t0;
  for (const auto& s : seeded_individuals()) {
    store::AgentRecord a;
    a.agent_id = s.agent;
    a.first_seen = a.last_seen = (t += 1);
    a.threads = 2;
    a.memory_mb = 2048;
    a.datasets_json = "[\"fashion-mnist\"]";
    a.session_id = "session-" + s.agent;
    REQUIRE(store.upsert_agent(a).ok());
    auto task = store.add_task(*id, s.individual);
    REQUIRE(task.ok());
    REQUIRE(store.assign_task(*task, s.agent, t += 1).ok());
    std::vector<store::TelemetryRecord> rows;
    auto row = [&](const std::string& method, double accuracy, double sparsity) {
      store::TelemetryRecord r =
          seeded_row(*task, *id, s.agent, s.individual, s.agent + "/" + method, method, s.general,
                     accuracy, sparsity, t += 1);
      if (method == "fine_prune") r.curve_json = curve_json_for(s);
      rows.push_back(r);
    };
    row("fine_prune", s.fine_prune, s.sparsity);
    row("finetune", s.finetune, 0.0);
    row("svd", s.svd, s.svd_sparsity);
    REQUIRE(store.insert_telemetry(rows).ok());
    REQUIRE(store.finish_task(*task, true, "", t += 1).ok());
    REQUIRE(store.set_agent_status(s.agent, "offline", t += 1).ok());
  }
  REQUIRE(store
              .add_events({{0, t0 + 1, "join", "dev-0+9", 0, "session-dev-0+9"},
                           {0, t0 + 2, "leave", "dev-0+9", 0, "goodbye"}})
              .ok());
  REQUIRE(store.set_campaign_status(*id, "done").ok());
  return *id;
}

// A campaign at scale: `n` individuals with known, varied values, for the dashboard's
// distribution views, pagination and search. Individual k is "person-KKKK", run by
// "agent-AAA" (k % 40); k % 97 == 13 failed (no telemetry), k % 89 == 5 is still pending
// (no agent), k % 50 == 25 had no labels (accuracies null, so no gain); the others report
// Fine-Pruning, fine-tuning and SVD with a three-point sweep.
struct LargeIndividual {
  std::string individual, agent, status;
  std::optional<double> general, fine_prune, finetune, svd;  // null: no labels or no report
  double sparsity = 0;
  bool reported() const { return status == "done"; }
  std::optional<double> gain() const {
    if (!general || !fine_prune) return std::nullopt;
    return *fine_prune - *general;
  }
};

inline std::vector<LargeIndividual> large_individuals(int n = 1000) {
  auto frac = [](double x) { return x - std::floor(x); };
  std::vector<LargeIndividual> out;
  for (int k = 0; k < n; ++k) {
    LargeIndividual r;
    char name[32];
    std::snprintf(name, sizeof name, "person-%04d", k);
    r.individual = name;
    std::snprintf(name, sizeof name, "agent-%03d", k % 40);
    r.status = k % 97 == 13 ? "failed" : k % 89 == 5 ? "pending" : "done";
    if (r.status != "pending") r.agent = name;
    r.sparsity = 0.3 + 0.5 * frac(k * 0.5772156649);
    if (r.reported() && k % 50 != 25) {
      double general = 0.55 + 0.40 * frac(k * 0.6180339887);
      double gain = -0.03 + 0.15 * std::pow(frac(k * 0.7548776662), 1.5);  // skewed, some < 0
      r.general = general;
      r.fine_prune = std::min(0.999, general + gain);
      r.finetune = std::min(1.0, general + 0.08 + 0.05 * frac(k * 0.3183098862));
      r.svd = general - 0.10 * frac(k * 0.4142135624);
    }
    out.push_back(r);
  }
  return out;
}

// Writes the campaign of large_individuals(n) as `name`; returns its id.
inline int64_t seed_large_campaign(store::Store& store, int n = 1000,
                                   const std::string& name = "fashion-1000",
                                   double t0 = 1700000000.0) {
  const std::string sha(64, 'b');
  REQUIRE(store.put_model({sha, 4096, "{\"arch\":\"cnn\"}", "{}", "models/b.fpm", t0}).ok());
  store::CampaignRecord c;
  c.name = name;
  c.model_sha256 = sha;
  c.dataset = "fashion-mnist";
  c.prune_config_json =
      "{\"criterion\":\"energy\",\"select_sparsity\":true,\"max_sparsity\":0.9,"
      "\"layers\":{\"conv\":false,\"linear\":true},\"skip\":[\"fc_out\"]}";
  c.baselines_json = "[\"finetune\",\"svd\"]";
  c.sweep_targets_json = "[0.2,0.5,0.8]";
  c.created_at = t0;
  auto id = store.create_campaign(c);
  REQUIRE(id.ok());
  double t = t0;
  for (int a = 0; a < 40; ++a) {
    store::AgentRecord agent;
    char agent_id[32];
    std::snprintf(agent_id, sizeof agent_id, "agent-%03d", a);
    agent.agent_id = agent_id;
    agent.first_seen = agent.last_seen = (t += 1);
    agent.threads = 2;
    agent.memory_mb = 2048;
    agent.datasets_json = "[\"fashion-mnist\"]";
    agent.session_id = std::string("session-") + agent_id;
    agent.status = "offline";
    REQUIRE(store.upsert_agent(agent).ok());
  }
  std::vector<store::TelemetryRecord> rows;
  for (const auto& s : large_individuals(n)) {
    auto task = store.add_task(*id, s.individual);
    REQUIRE(task.ok());
    if (s.status == "pending") continue;
    REQUIRE(store.assign_task(*task, s.agent, t += 1).ok());
    if (s.status == "failed") {
      REQUIRE(store.finish_task(*task, false, "agent lost", t += 1).ok());
      continue;
    }
    auto row = [&](const std::string& method, std::optional<double> accuracy, double sparsity) {
      store::TelemetryRecord r =
          seeded_row(*task, *id, s.agent, s.individual, s.individual + "/" + method, method,
                     s.general, accuracy, sparsity, t += 1);
      if (method == "fine_prune" && s.general) {
        double g = *s.general;
        r.curve_json =
            "[{\"target\":0.2,\"sparsity\":0.2,\"accuracy\":" + std::to_string(g) +
            "},{\"target\":0.5,\"sparsity\":0.5,\"accuracy\":" + std::to_string(*s.fine_prune) +
            "},{\"target\":0.8,\"sparsity\":0.8,\"accuracy\":" + std::to_string(g - 0.2) + "}]";
      }
      rows.push_back(r);
    };
    row("fine_prune", s.fine_prune, s.sparsity);
    row("finetune", s.finetune, 0.0);
    row("svd", s.svd, 0.5);
    REQUIRE(store.finish_task(*task, true, "", t += 1).ok());
  }
  REQUIRE(store.insert_telemetry(rows).ok());  // one transaction
  REQUIRE(store.set_campaign_status(*id, "done").ok());
  return *id;
}

}  // namespace fp::testing
