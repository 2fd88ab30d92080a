// fp-coordinator status: agents, campaigns, task progress and results from SQLite.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "config/cli_checks.h"
#include "coordinator/config.h"
#include "coordinator_commands.h"
#include "dashboard/api.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/text.h"

namespace fp::coord {
namespace {

// Stored text may hold any bytes (a database written by an older coordinator): never
// terminal escapes or line breaks on the screen.
std::string shown(const std::string& s) { return escape_text(s); }

std::string when(double t) { return t <= 0 ? "-" : utc_time_text(t); }

std::string percent(const std::optional<double>& v) {
  return v ? fmt::format("{:.1f}%", 100 * *v) : std::string("n/a");
}

int status(const CommonOptions& o, const std::string& only, int events) {
  const CoordinatorConfig cfg = config_for(o);
  auto read = open_database_to_read(cfg);
  auto& db = *read.store;
  // Agents online and tasks running are what the last coordinator recorded: say whether
  // one serves the database now (holds its lock), or those are as a stopped one left them.
  const std::optional<bool> served = store::database_in_use(cfg.database);
  if (served == true) {
    fmt::print("database {}: served now\n", cfg.database);
  } else if (served == false) {
    fmt::print(
        "database {}: no coordinator serves it now (agents online and tasks running are as the "
        "last one left them; 'serve' requeues those tasks)\n",
        cfg.database);
  }
  auto agents = db.agents();
  auto campaigns = db.campaigns();
  if (!agents.ok() || !campaigns.ok()) {
    spdlog::error("{}", (!agents.ok() ? agents.status() : campaigns.status()).to_string());
    return 1;
  }
  (void)campaign_id_named(*campaigns, only);  // an unknown one is an error, not an empty list
  // The dashboard's words for what an agent did (an agent whose tasks ended is "done", not
  // "offline" as its stored status has it).
  auto tasks = db.tasks(0);
  if (!tasks.ok()) {
    spdlog::error("{}", tasks.status().to_string());
    return 1;
  }
  auto by_agent = dash::tasks_by_agent(*tasks);
  fmt::print("agents ({})\n", agents->size());
  for (const auto& a : *agents) {
    fmt::print("  {:<16} {:<8} last seen {}  threads {}  data {}\n", shown(a.agent_id),
               dash::agent_state(a, by_agent[a.agent_id]), when(a.last_seen), a.threads,
               shown(a.datasets_json));
  }
  for (const auto& c : *campaigns) {
    if (!only.empty() && c.name != only) continue;
    auto counts = db.task_counts(c.id);
    if (!counts.ok()) continue;
    fmt::print(
        "\ncampaign {} [{}]  model {}  data {}  tasks: {} done, {} failed, {} running, "
        "{} pending\n",
        c.name, c.status, c.model_sha256.substr(0, 12), c.dataset, counts->done, counts->failed,
        counts->assigned, counts->pending);
    auto tasks = db.tasks(c.id);
    if (tasks.ok()) {
      for (const auto& t : *tasks) {
        if (t.status == "failed") {
          fmt::print("  task {} ({}) failed: {}\n", t.id, shown(t.individual), shown(t.error));
        }
      }
    }
    auto rows = db.telemetry(c.id);
    if (!rows.ok() || rows->empty()) continue;
    fmt::print("  {:<20} {:<14} {:<11} {:>9} {:>8} {:>10} {:>9} {:>9} {:>8} {:>12}\n", "individual",
               "agent", "method", "sparsity", "MACcut", "compactKB", "acc.before", "acc.after",
               "time(s)", "MACs/sample");
    for (const auto& r : *rows) {
      const double cut =
          r.macs_dense > 0 ? 1.0 - static_cast<double>(r.macs_effective) / r.macs_dense : 0.0;
      // A device without labels has no accuracy: say so rather than leave a gap.
      fmt::print(
          "  {:<20} {:<14} {:<11} {:>8.1f}% {:>7.1f}% {:>10.1f} {:>9} {:>9} {:>8.2f} {:>12}{}\n",
          shown(r.individual), shown(r.agent_id), shown(r.method), 100 * r.sparsity, 100 * cut,
          r.compact_bytes / 1024.0, r.evaluated ? percent(r.accuracy_before) : "unlabeled",
          r.evaluated ? percent(r.accuracy_after) : "n/a", r.wall_seconds, r.macs_effective,
          r.agreement && !r.evaluated ? fmt::format("  agreement {:.1f}%", 100 * *r.agreement)
                                      : std::string());
    }
  }
  if (events > 0) {
    auto recent = db.events(events);
    if (recent.ok()) {
      fmt::print("\nrecent events\n");
      for (const auto& e : *recent) {
        fmt::print("  {} {:<14} {:<14} {}{}\n", when(e.at), shown(e.kind), shown(e.agent_id),
                   e.task_id ? fmt::format("task {} ", e.task_id) : "", shown(e.detail));
      }
    }
  }
  return 0;
}

}  // namespace

void add_status_command(CLI::App& app) {
  auto o = std::make_shared<CommonOptions>();
  auto only = std::make_shared<std::string>();
  auto events = std::make_shared<int>(10);
  auto* cmd = app.add_subcommand("status",
                                 "Show agents, campaigns, task progress and each agent's results");
  add_common_options(cmd, *o);
  cmd->add_option("--campaign", *only, "show only this campaign");
  cmd->add_option("--events", *events, "recent events to list")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  cmd->callback([o, only, events] { throw CLI::RuntimeError(status(*o, *only, *events)); });
}

}  // namespace fp::coord
