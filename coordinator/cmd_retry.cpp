// fp-coordinator retry: put a campaign's failed tasks back in the queue (after a transient
// failure: a device out of memory or disk, agents lost more times than max_attempts allows),
// beside a serving coordinator or for the next `serve`.
#include <fmt/format.h>

#include "coordinator_commands.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "util/clock.h"

namespace fp::coord {
namespace {

int retry(const CommonOptions& o, const std::string& only) {
  const CoordinatorConfig cfg = config_for(o);
  auto store = open_database(cfg, /*must_exist=*/true);
  // Beside a serving coordinator: it reads pending tasks from the database when an agent asks
  // for one, and finishes a campaign only in a write that finds none left (the two writes
  // are SQLite transactions, one after the other). Not beside a restore or a run.
  auto lock = store::lock_database(cfg.database, "fp-coordinator retry");
  std::string serving;
  if (!lock.ok()) {
    const auto holder = store::database_holder(cfg.database);
    if (!holder || holder->rfind(std::string(kServeHolder) + ",", 0) != 0) fail(lock.status());
    serving = *holder;
  }
  auto campaigns = store->campaigns();
  if (!campaigns.ok()) fail(campaigns.status());
  const int64_t campaign_id = campaign_id_named(*campaigns, only);
  auto retried = store->retry_failed_tasks(campaign_id, unix_now());
  if (!retried.ok()) fail(retried.status());
  const std::string where = only.empty() ? "the database" : "campaign " + only;
  if (retried->empty()) {
    fmt::print("no failed task in {}: nothing to retry\n", where);
    return 0;
  }
  std::string ids;
  for (int64_t id : *retried) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
  fmt::print("{} failed task(s) of {} back in the queue (task {}); {}\n", retried->size(), where,
             ids,
             serving.empty() ? "'serve' hands them out to their individuals' agents"
                             : "the serving coordinator (" + serving +
                                   ") hands them out to their individuals' agents as they ask");
  return 0;
}

}  // namespace

void add_retry_command(CLI::App& app) {
  auto o = std::make_shared<CommonOptions>();
  auto only = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "retry",
      "Put failed tasks back in the queue (attempts and error cleared; 'serve' runs them again, "
      "a running one too)");
  add_common_options(cmd, *o);
  cmd->add_option("--campaign", *only, "only this campaign's failed tasks (default: every one's)");
  cmd->callback([o, only] { throw CLI::RuntimeError(retry(*o, *only)); });
}

}  // namespace fp::coord
