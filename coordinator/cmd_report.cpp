// fp-coordinator report: a campaign's per-individual results as CSV and JSON and its
// figures as SVG, read from the database only.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "coordinator/config.h"
#include "coordinator_commands.h"
#include "report/campaign_report.h"
#include "store/store.h"
#include "util/clock.h"

namespace fp::coord {
namespace {

struct ReportOptions {
  CommonOptions common;
  std::string campaign;  // empty: every campaign
  std::string out = "report";
};

int run_report(const ReportOptions& o) {
  const CoordinatorConfig cfg = config_for(o.common);
  auto read = open_database_to_read(cfg);
  auto& store = read.store;
  std::vector<std::pair<int64_t, std::string>> named;  // (id, name)
  if (!o.campaign.empty()) {
    named.push_back({0, o.campaign});
  } else {
    auto campaigns = store->campaigns();
    if (!campaigns.ok()) {
      spdlog::error("{}", campaigns.status().to_string());
      return 1;
    }
    for (const auto& c : *campaigns) named.push_back({c.id, c.name});
    if (named.empty()) {
      spdlog::error("{} holds no campaign", cfg.database);
      return 1;
    }
  }
  const std::vector<std::string> folders = report::report_folder_names(named);
  for (size_t i = 0; i < named.size(); ++i) {
    auto results = report::load_campaign_results(*store, named[i].second, unix_now());
    if (!results.ok()) {
      spdlog::error("{}", results.status().to_string());
      return 1;
    }
    std::string dir = (std::filesystem::path(o.out) / folders[i]).string();
    auto written = report::write_report(*results, dir);
    if (!written.ok()) {
      spdlog::error("{}", written.status().to_string());
      return 1;
    }
    for (const auto& path : *written) fmt::print("{}\n", path);
  }
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* cmd = app.add_subcommand(
      "report",
      "Write each campaign's per-individual results (CSV, JSON) and figures (SVG) to "
      "OUT/<campaign>/; prints the files written");
  add_common_options(cmd, o->common);
  cmd->add_option("--campaign", o->campaign, "only this campaign (default: all)");
  cmd->add_option("-o,--out", o->out, "output directory")->capture_default_str();
  cmd->callback([o] { throw CLI::RuntimeError(run_report(*o)); });
}

}  // namespace fp::coord
