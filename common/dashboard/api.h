// The dashboard's JSON API, read-only, over the coordinator's SQLite store:
//
//   GET /api/summary                 agents by state, campaigns, task totals, recent events
//   GET /api/agents                  every agent with its state and current task
//   GET /api/campaigns               every campaign with its progress and ETA
//   GET /api/campaigns/<id>          one campaign: progress and per-individual results
//   GET /api/campaigns/<id>/curve    its accuracy-vs-sparsity curves and their mean
//
// Accuracies and sparsities are fractions in [0, 1], times Unix seconds. An unknown
// path is 404, a campaign id that is not a positive integer 400, an unknown id 404;
// errors are {"error": "..."}.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "store/store.h"

namespace fp::dash {

struct ApiReply {
  int status = 200;
  nlohmann::json body;
};

// `path` starts with "/api/" and carries no query string; `now` in Unix seconds.
ApiReply handle_api(store::Store& store, const std::string& path, double now);

// What an agent did, from the tasks it was given.
struct AgentTasks {
  int64_t done = 0, failed = 0;
  const store::TaskRecord* current = nullptr;  // the task it holds now, if any
};
// Per agent id, in one pass over `tasks` (which must outlive the result).
std::map<std::string, AgentTasks> tasks_by_agent(const std::vector<store::TaskRecord>& tasks);

// "working" (connected, holds a task), "idle" (connected, no task), and once
// disconnected "done" (finished a task), "failed" (only failed ones) or "offline".
std::string agent_state(const store::AgentRecord& agent, const AgentTasks& tasks);

}  // namespace fp::dash
