// The settings of one personalization as they travel from a scenario or a coordinator's
// configuration to a device (TaskAssignment.pruneConfigJson): PruneConfig's keys
// (prune_config.h) plus the label-free selector's
//
//   select_sparsity, selector, min_agreement, confident_fraction, heldout_fraction,
//   candidates, stop_after_ruled_out, stop_after_beaten, rule_out_parts, adaptation_samples,
//   statistics_samples
//
// One table of defaults: PersonalizeConfig{} (personalize_config.h). Every source (fp-sim
// scenarios, fp-coordinator's [campaign], fp-agent's task) starts from it, so a key
// left out means the same thing everywhere.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "experiment/personalize_config.h"
#include "util/status.h"

namespace fp {

// Every key, with its value in `config` (so the device needs no defaults of its own);
// adaptation_samples only when set (above 0: a limit).
std::string personalize_settings_json(const PersonalizeConfig& config);

// Sets the keys present in `json` on `config`; absent keys keep their values.
// A key of the wrong type or out of range is an error naming it, and so is a key that is no
// setting (a misspelling, or a setting of a newer version this one would silently not apply),
// unless `also_known` holds it (a task's "privacy", read elsewhere).
Status apply_personalize_settings(const std::string& json, PersonalizeConfig& config,
                                  const std::set<std::string>& also_known = {});

// A selector or sample-count setting out of its range: its key and what it must be. One list
// for every reader (the JSON above, fp-sim's scenario files, which add the file and line).
struct SettingProblem {
  const char* key;
  const char* must;
};
std::optional<SettingProblem> personalize_settings_problem(const PersonalizeConfig& config);

}  // namespace fp
