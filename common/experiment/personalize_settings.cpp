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
  const char* key = "";
  try {
    key = "select_sparsity";
    read_json_value(j, key, c.select_sparsity);
    key = "selector";
    if (j.contains(key)) {
      FP_ASSIGN_OR_RETURN(c.selector.score, parse_selection_score(j[key].get<std::string>()));
    }
    key = "min_agreement";
    read_json_value(j, key, c.selector.min_agreement);
    key = "confident_fraction";
    read_json_value(j, key, c.selector.confident_fraction);
    key = "heldout_fraction";
    read_json_value(j, key, c.heldout_fraction);
    key = "candidates";
    read_json_value(j, key, c.selector.candidates);
    key = "stop_after_ruled_out";
    read_json_value(j, key, c.selector.stop_after_ruled_out);
    key = "stop_after_beaten";
    read_json_value(j, key, c.selector.stop_after_beaten);
    key = "rule_out_parts";
    read_json_value(j, key, c.selector.rule_out_parts);
    key = "adaptation_samples";
    read_json_value(j, key, c.max_adaptation_samples);
    key = "statistics_samples";
    read_json_value(j, key, c.statistics_samples);
  } catch (const nlohmann::json::exception& e) {
    return json_value_error("personalization setting", key, e);
  }
  auto in_unit = [](double x) { return x >= 0 && x < 1; };
  if (!(c.selector.min_agreement > 0 && c.selector.min_agreement <= 1)) {
    return Status::invalid_argument("personalization setting 'min_agreement' must be in (0, 1]");
  }
  if (!(c.selector.confident_fraction > 0 && c.selector.confident_fraction <= 1)) {
    return Status::invalid_argument(
        "personalization setting 'confident_fraction' must be in (0, 1]");
  }
  if (!(c.heldout_fraction > 0 && c.heldout_fraction < 1)) {
    return Status::invalid_argument("personalization setting 'heldout_fraction' must be in (0, 1)");
  }
  if (c.selector.candidates.empty() ||
      !std::all_of(c.selector.candidates.begin(), c.selector.candidates.end(), in_unit) ||
      std::adjacent_find(c.selector.candidates.begin(), c.selector.candidates.end(),
                         std::greater_equal<double>()) != c.selector.candidates.end()) {
    return Status::invalid_argument(
        "personalization setting 'candidates' must be a non-empty list of sparsities in [0, 1), "
        "increasing, without repeats");
  }
  if (c.selector.stop_after_ruled_out < 0) {
    return Status::invalid_argument(
        "personalization setting 'stop_after_ruled_out' must be >= 0 (0: run all)");
  }
  if (c.selector.stop_after_beaten < 0) {
    return Status::invalid_argument(
        "personalization setting 'stop_after_beaten' must be >= 0 (0: off)");
  }
  if (c.selector.rule_out_parts < 1) {
    return Status::invalid_argument(
        "personalization setting 'rule_out_parts' must be >= 1 (1: one pass)");
  }
  if (c.max_adaptation_samples < 0) {
    return Status::invalid_argument("personalization setting 'adaptation_samples' must be >= 0");
  }
  if (c.statistics_samples < 0) {
    return Status::invalid_argument(
        "personalization setting 'statistics_samples' must be >= 0 (0: all)");
  }
  return Status::ok_status();
}

}  // namespace fp
