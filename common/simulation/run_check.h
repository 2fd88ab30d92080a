// fp-sim run --check: what a run would do, found without training, writing or serving, so a
// scenario of hours is checked before it starts.
#pragma once

#include <string>
#include <vector>

#include "simulation/scenario.h"
#include "simulation/simulation.h"
#include "util/status.h"

namespace fp::sim {

// The run folder as the run would find it (run_scenario refuses the same, before writing):
// --fresh on a folder that is no run folder, a run there already without --fresh or
// --resume, --resume without one. (A run going there now is its lock's to refuse.)
Status check_run_folder(const RunOptions& options);

// A run going in `out_dir` now (a process holds its database's lock): Unavailable naming it.
// Asked before check_run_folder, whose "already holds a run ... --fresh" it would otherwise
// get; never by the run holding the lock (it would find itself).
Status check_no_run_going(const std::string& out_dir);

// For --resume: the run in --out got as far as making its campaigns (one stopped before has
// nothing to go on with; its resume is refused). The database is read, not changed.
Status check_resumable(const RunOptions& options);

// Whether the run folder's scenario.toml differs from the text the run recorded (edited by
// hand: --resume does not take it, and the run moves it aside). False when it is gone.
bool scenario_copy_edited(const std::string& out_dir, const std::string& recorded_text);

// A layer [fineprune] or a variant protects that the scenario's general model does not have
// (every task would fail on the devices, "protected layer ... is not in the model"), named
// with the layers the architecture has. run_scenario refuses it before it trains; fp-sim run
// (and its --check) once it has read the scenario.
Status check_protected_layers(const Scenario& scenario);

// One line each on what a run of `scenario` would do: its individuals (the data read and
// partitioned as the run would), the general model(s) and what they train on, campaigns,
// tasks and the methods each task runs, the hosting. Or the error its set-up would stop
// with (data that cannot be read, a partition that cannot be drawn, a BLAS that cannot take
// the in-process agents).
Result<std::vector<std::string>> describe_run(const Scenario& scenario);

}  // namespace fp::sim
