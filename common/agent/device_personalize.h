// Fine-Pruning of a general model on one device's data: what a task runs
// (fineprune_runner.h) and what `fp-agent personalize` runs with no coordinator.
//
// Before personalize() (experiment/personalize.h) it settles what the model and the
// data allow: the shift detector's threshold from the model's calibration curve
// (prune/shift_detector.h), and, without evaluation labels, Fine-Pruning alone (no
// baseline and no sweep can be scored). `config` keeps what was run, for the reports.
#pragma once

#include <string>

#include "data/dataset.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "util/status.h"

namespace fp::agent {

// `what` names the run in the log ("task 7", "personalize"). `label_free_inputs`: every
// held-out input where `evaluation` holds only the labeled ones (FolderData::heldout_inputs);
// the label-free figures are measured on them (undefined: on `evaluation`).
Result<PersonalizeResult> personalize_on_device(const PrunableNet& general,
                                                const ArtifactInfo& general_info,
                                                const Dataset& adaptation,
                                                const Dataset& evaluation,
                                                PersonalizeConfig& config, const std::string& what,
                                                const torch::Tensor& label_free_inputs = {});

}  // namespace fp::agent
