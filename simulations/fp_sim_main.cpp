// fp-sim: runs Fine-Pruning scenarios. Subcommands register themselves from their files.
#include <CLI/CLI.hpp>
#include <algorithm>

#include "config/cli_checks.h"
#include "demo_command.h"
#include "sim_commands.h"
#include "simulation/host_zygote.h"
#include "util/allocator.h"
#include "util/openmp_policy.h"
#include "util/process_title.h"
#include "util/program_main.h"

namespace {

// main()'s body, also what an agent host forked by the host zygote runs.
int fp_sim(int argc, char** argv) {
  return fp::run_main("fp-sim", [&] {
    CLI::App app{"fp-sim: federated, label-free personalization by Fine-Pruning"};
    app.require_subcommand(1);
    fp::add_demo_command(app);
    fp::sim::add_run_command(app);
    fp::sim::add_host_command(app);
    fp::sim::add_list_command(app);
    fp::sim::add_report_command(app);
    fp::sim::add_export_command(app);
    fp::sim::add_pool_command(app);
    fp::config::add_integer_range_checks(app);
    return std::max(fp::config::parse_command_line(app, argc, argv), 0);
  });
}

}  // namespace

int main(int argc, char** argv) {
  // Reading stored runs never computes: those commands start once.
  fp::reexec_with_passive_openmp(argv, {"list", "report", "export"});  // before any thread
  fp::tune_allocator();
  fp::save_process_title_area(argc, argv);
  // A run forks its agent hosts from a copy of itself made now, before any thread, rather
  // than starting the program again for each (simulation/host_zygote.h).
  if (fp::subcommand_of(argv) == "run") fp::sim::start_host_zygote(&fp_sim);
  const int code = fp_sim(argc, argv);
  fp::sim::stop_host_zygote();  // a run that ended before its hosts started (a bad scenario)
  return code;
}
