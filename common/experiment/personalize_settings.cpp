#include "experiment/personalize_settings.h"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "util/json_object.h"

namespace fp {

std::string personalize_settings_json(const PersonalizeConfig& c) {
  auto j = nlohmann::json::parse(c.prune.to_json());
  j["select_sparsity"] = c.select_sparsity;
  j["selector"] = selection_score_name(c.selector.score);
  j["min_agreement"] = c.selector.min_agreement;
  j["confident_fraction"] = c.selector.confident_fraction;
  j["heldout_fraction"] = c.heldout_fraction;
  j["candidates"] = c.selector.candidates;
  j["stop_after_ruled_out"] = c.selector.stop_after_ruled_out;
  j["stop_after_beaten"] = c.selector.stop_after_beaten;
  j["rule_out_parts"] = c.selector.rule_out_parts;
  if (c.max_adaptation_samples > 0) j["adaptation_samples"] = c.max_adaptation_samples;
  j["statistics_samples"] = c.statistics_samples;
  return j.dump();
}

Status apply_personalize_settings(const std::string& json, PersonalizeConfig& c,
                                  const std::set<std::string>& also_known) {
  FP_ASSIGN_OR_RETURN(nlohmann::json j, parse_json_object(json, "personalization settings"));
  // Every key personalize_settings_json writes (made once: a device applies this per task).
  static const nlohmann::json known =
      nlohmann::json::parse(personalize_settings_json(PersonalizeConfig{}));
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (known.contains(key) || key == "adaptation_samples" || also_known.count(key)) continue;
    std::string names;
    for (const auto& k : known.items()) names += k.key() + ", ";
    return Status::invalid_argument("unknown personalization setting '" + key +
                                    "' (known: " + names + "adaptation_samples)");
  }
  FP_ASSIGN_OR_RETURN(c.prune, PruneConfig::from_json(json));
  JsonFieldReader r(j);
  try {
    r.read("select_sparsity", c.select_sparsity);
    FP_RETURN_IF_ERROR(r.read_name("selector", c.selector.score, parse_selection_score));
    r.read("min_agreement", c.selector.min_agreement);
    r.read("confident_fraction", c.selector.confident_fraction);
    r.read("heldout_fraction", c.heldout_fraction);
    r.read("candidates", c.selector.candidates);
    r.read("stop_after_ruled_out", c.selector.stop_after_ruled_out);
    r.read("stop_after_beaten", c.selector.stop_after_beaten);
    r.read("rule_out_parts", c.selector.rule_out_parts);
    r.read("adaptation_samples", c.max_adaptation_samples);
    r.read("statistics_samples", c.statistics_samples);
  } catch (const nlohmann::json::exception& e) {
    return json_value_error("personalization setting", r.key(), e);
  }
  if (auto problem = personalize_settings_problem(c)) {
    return Status::invalid_argument(std::string("personalization setting '") + problem->key + "' " +
                                    problem->must);
  }
  return Status::ok_status();
}

std::optional<SettingProblem> personalize_settings_problem(const PersonalizeConfig& c) {
  const SelectorConfig& sel = c.selector;
  auto in_unit = [](double x) { return x >= 0 && x < 1; };
  if (!(sel.min_agreement > 0 && sel.min_agreement <= 1))
    return SettingProblem{"min_agreement", "must be in (0, 1]"};
  if (!(sel.confident_fraction > 0 && sel.confident_fraction <= 1))
    return SettingProblem{"confident_fraction", "must be in (0, 1]"};
  if (!(c.heldout_fraction > 0 && c.heldout_fraction < 1))
    return SettingProblem{"heldout_fraction", "must be in (0, 1)"};
  // The selector walks them from the densest and stops early: an order or repeat it cannot
  // use would fail every task on the devices.
  if (sel.candidates.empty() ||
      !std::all_of(sel.candidates.begin(), sel.candidates.end(), in_unit) ||
      std::adjacent_find(sel.candidates.begin(), sel.candidates.end(),
                         std::greater_equal<double>()) != sel.candidates.end())
    return SettingProblem{
        "candidates",
        "must be a non-empty list of sparsities in [0, 1), increasing, without repeats"};
  if (sel.stop_after_ruled_out < 0)
    return SettingProblem{"stop_after_ruled_out", "must be >= 0 (0: run all)"};
  if (sel.stop_after_beaten < 0)
    return SettingProblem{"stop_after_beaten", "must be >= 0 (0: off)"};
  if (sel.rule_out_parts < 1) return SettingProblem{"rule_out_parts", "must be >= 1 (1: one pass)"};
  if (c.max_adaptation_samples < 0)
    return SettingProblem{"adaptation_samples", "must be >= 0 (0: all)"};
  if (c.statistics_samples < 0)
    return SettingProblem{"statistics_samples", "must be >= 0 (0: all)"};
  return std::nullopt;
}

}  // namespace fp
