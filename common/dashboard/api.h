// The dashboard's JSON API, read-only, over the coordinator's SQLite store:
//
//   GET /api/summary                      agents by state, campaigns, task totals, recent events
//   GET /api/agents                       a page of agents with their state and current task
//   GET /api/campaigns                    every campaign with its progress and ETA
//   GET /api/campaigns/<id>               one campaign: progress, configuration, each method's
//                                         mean with its CI, and a page of its individuals
//   GET /api/campaigns/<id>/curve         a page of accuracy-vs-sparsity curves, and the mean
//                                         of all of them
//   GET /api/campaigns/<id>/distribution  general, Fine-Pruning and gain of every individual
//                                         with a gain, as columns (for the distribution charts)
//
// Lists are paged on the server so that a 10,000-agent fleet answers in milliseconds:
//   offset, limit   the slice of the matching rows (limit 100 unless given, at most 10,000);
//                   the answer's "page" says {offset, limit, matched, total}
//   q               rows whose name, agent or status contains this text (any case)
//   sort            individuals: task (default), -task, gain, -gain (rows without a gain
//                   last); agents: id (default), state (working, failed, idle, done, offline)
//   status          individuals: pending, assigned, done, failed, or started (not pending)
//
// Accuracies and sparsities are fractions in [0, 1], times Unix seconds. An unknown
// path is 404; a campaign id that is not a positive integer, an unknown or malformed
// query parameter 400; an unknown id 404; errors are {"error": "..."}.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "report/campaign_results.h"
#include "report/method_summary.h"
#include "store/store.h"

namespace fp::dash {

struct ApiReply {
  int status = 200;
  nlohmann::json body;
};

// What a request that failed with `s` gets: 404 (not found), 400 (the request's fault), or
// 500 saying only that the database could not be read, its details (SQL, paths) logged.
ApiReply reply_for(const Status& s);

// Answers API requests over one store connection. Keeps, per campaign, what its
// telemetry rows said (report::ResultsCache: a poll reads only the rows stored since the
// last one) and its confidence intervals until its values change (report::SummaryCache).
// One thread at a time.
class Api {
 public:
  explicit Api(store::Store& store) : store_(store) {}
  // `path` starts with "/api/"; `query` is what followed '?' (may be empty); `now` in
  // Unix seconds.
  ApiReply handle(const std::string& path, const std::string& query, double now);
  // GET /metrics: the summary's and the campaigns' figures for Prometheus (metrics.h).
  Result<std::string> metrics(double now);
  int64_t bootstraps() const { return summaries_.bootstraps(); }
  int64_t telemetry_rows_read() const { return results_.rows_read(); }
  // Waits for the intervals being redone in the background (tests).
  void wait_for_refreshes() { summaries_.wait_for_refreshes(); }

 private:
  store::Store& store_;
  report::ResultsCache results_;
  report::SummaryCache summaries_;
};

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
