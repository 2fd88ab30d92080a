// fp-coordinator: trains and registers general models, serves campaigns to device
// agents, and reports what they sent back.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "config/cli_checks.h"
#include "coordinator_commands.h"
#include "util/allocator.h"
#include "util/openmp_policy.h"
#include "util/program_main.h"

int main(int argc, char** argv) {
  // Queries and key commands never compute: they start once.
  fp::reexec_with_passive_openmp(
      argv, {"status", "export", "report", "register", "keygen", "revoke", "retry", "backup",
             "restore"});  // before any thread
  fp::tune_allocator();
  return fp::run_main("fp-coordinator", [&] {
    CLI::App app{
        "fp-coordinator: distributes general models to device agents for label-free Fine-Pruning "
        "and stores their telemetry in SQLite"};
    app.require_subcommand(1);
    std::string level = "info";
    app.add_option("--log-level", level, "trace, debug, info, warn, error")
        ->check(fp::config::log_level())
        ->capture_default_str();
    app.parse_complete_callback([&] { spdlog::set_level(spdlog::level::from_str(level)); });
    app.fallthrough();  // --log-level after the subcommand too, as its --help says
    fp::coord::add_serve_command(app);
    fp::coord::add_train_command(app);
    fp::coord::add_register_command(app);
    fp::coord::add_status_command(app);
    fp::coord::add_export_command(app);
    fp::coord::add_report_command(app);
    fp::coord::add_dashboard_command(app);
    fp::coord::add_retry_command(app);
    fp::coord::add_key_commands(app);
    fp::coord::add_backup_commands(app);
    for (CLI::App* command : app.get_subcommands([](CLI::App*) { return true; }))
      command->footer("Also --log-level LEVEL (trace, debug, info, warn, error), before or after " +
                      command->get_name() + ".");
    fp::config::add_integer_range_checks(app);
    return std::max(fp::config::parse_command_line(app, argc, argv), 0);
  });
}
