#include "prune/prune_config.h"

#include <nlohmann/json.hpp>

#include "util/json_object.h"

namespace fp {
namespace {

template <typename E, size_t N>
Result<E> parse_enum(const std::string& s, const std::pair<const char*, E> (&table)[N],
                     const char* what) {
  std::string known;
  for (const auto& [name, value] : table) {
    if (s == name) return value;
    known += known.empty() ? name : std::string(", ") + name;
  }
  return Status::invalid_argument(std::string("unknown ") + what + " '" + s + "' (known: " + known +
                                  ")");
}

template <typename E, size_t N>
const char* enum_name(E v, const std::pair<const char*, E> (&table)[N]) {
  for (const auto& [name, value] : table)
    if (value == v) return name;
  return "?";
}

const std::pair<const char*, Criterion> kCriteria[] = {
    {"energy", Criterion::kEnergy},
    {"mean", Criterion::kMean},
    {"firing_rate", Criterion::kFiringRate},
    {"activation_weighted_magnitude", Criterion::kActivationWeightedMagnitude}};
const std::pair<const char*, Granularity> kGranularities[] = {{"unit", Granularity::kUnit},
                                                              {"weight", Granularity::kWeight}};
const std::pair<const char*, Scope> kScopes[] = {{"per_layer", Scope::kPerLayer},
                                                 {"global", Scope::kGlobal}};
const std::pair<const char*, Schedule> kSchedules[] = {{"one_shot", Schedule::kOneShot},
                                                       {"iterative", Schedule::kIterative}};

}  // namespace

const char* criterion_name(Criterion c) { return enum_name(c, kCriteria); }
const char* granularity_name(Granularity g) { return enum_name(g, kGranularities); }
const char* scope_name(Scope s) { return enum_name(s, kScopes); }
const char* schedule_name(Schedule s) { return enum_name(s, kSchedules); }
Result<Criterion> parse_criterion(const std::string& s) {
  return parse_enum(s, kCriteria, "criterion");
}
Result<Granularity> parse_granularity(const std::string& s) {
  return parse_enum(s, kGranularities, "granularity");
}
Result<Scope> parse_scope(const std::string& s) { return parse_enum(s, kScopes, "scope"); }
Result<Schedule> parse_schedule(const std::string& s) {
  return parse_enum(s, kSchedules, "schedule");
}

Status PruneConfig::validate() const {
  if (!(target_sparsity >= 0.0 && target_sparsity < 1.0))
    return Status::invalid_argument("prune config: target_sparsity must be in [0, 1), got " +
                                    std::to_string(target_sparsity));
  if (schedule == Schedule::kIterative && (iterative_steps < 1 || iterative_steps > 100))
    return Status::invalid_argument("prune config: iterative_steps must be in [1, 100]");
  if (min_units_per_layer < 1)
    return Status::invalid_argument("prune config: min_units_per_layer must be at least 1");
  if (!(output_usage_threshold >= 0.0 && output_usage_threshold < 1.0))
    return Status::invalid_argument("prune config: output_usage_threshold must be in [0, 1)");
  if (batch_size < 1) return Status::invalid_argument("prune config: batch_size must be positive");
  if (!(class_spread_threshold >= 0.0 && class_spread_threshold < 1.0))
    return Status::invalid_argument("prune config: class_spread_threshold must be in [0, 1)");
  if (!(class_spread_share == kAutoClassSpreadShare ||
        (class_spread_share >= 0.0 && class_spread_share <= 1.0)))
    return Status::invalid_argument(
        "prune config: class_spread_share must be in [0, 1], or -1 for automatic");
  if (!(reestimation_min_confidence_ratio >= 0.0 && reestimation_min_confidence_ratio <= 10.0))
    return Status::invalid_argument(
        "prune config: reestimation_min_confidence_ratio must be in [0, 10] (0: no check)");
  if (!prune_hidden && !prune_output_layer)
    return Status::invalid_argument(
        "prune config: prune_hidden and prune_output_layer are both false: nothing to prune");
  return Status::ok_status();
}

std::string PruneConfig::to_json() const {
  nlohmann::json j = {{"criterion", criterion_name(criterion)},
                      {"granularity", granularity_name(granularity)},
                      {"scope", scope_name(scope)},
                      {"schedule", schedule_name(schedule)},
                      {"target_sparsity", target_sparsity},
                      {"iterative_steps", iterative_steps},
                      {"prune_output_layer", prune_output_layer},
                      {"output_usage_threshold", output_usage_threshold},
                      {"protected_layers", protected_layers},
                      {"min_units_per_layer", min_units_per_layer},
                      {"batch_size", batch_size},
                      {"prune_hidden", prune_hidden},
                      {"compensate_bias", compensate_bias},
                      {"reestimate_batch_norm", reestimate_batch_norm},
                      {"class_spread_threshold", class_spread_threshold},
                      {"class_spread_share", class_spread_share},
                      {"reestimation_min_confidence_ratio", reestimation_min_confidence_ratio}};
  return j.dump();
}

Result<PruneConfig> PruneConfig::from_json(const std::string& text) {
  FP_ASSIGN_OR_RETURN(nlohmann::json j, parse_json_object(text, "prune config"));
  PruneConfig c;
  JsonFieldReader r(j);
  try {
    FP_RETURN_IF_ERROR(r.read_name("criterion", c.criterion, parse_criterion));
    FP_RETURN_IF_ERROR(r.read_name("granularity", c.granularity, parse_granularity));
    FP_RETURN_IF_ERROR(r.read_name("scope", c.scope, parse_scope));
    FP_RETURN_IF_ERROR(r.read_name("schedule", c.schedule, parse_schedule));
    r.read("target_sparsity", c.target_sparsity);
    r.read("iterative_steps", c.iterative_steps);
    r.read("prune_output_layer", c.prune_output_layer);
    r.read("output_usage_threshold", c.output_usage_threshold);
    r.read("protected_layers", c.protected_layers);
    r.read("min_units_per_layer", c.min_units_per_layer);
    r.read("batch_size", c.batch_size);
    r.read("prune_hidden", c.prune_hidden);
    r.read("compensate_bias", c.compensate_bias);
    r.read("reestimate_batch_norm", c.reestimate_batch_norm);
    r.read("class_spread_threshold", c.class_spread_threshold);
    r.read("class_spread_share", c.class_spread_share);
    r.read("reestimation_min_confidence_ratio", c.reestimation_min_confidence_ratio);
  } catch (const nlohmann::json::exception& e) {
    return json_value_error("prune config", r.key(), e);
  }
  FP_RETURN_IF_ERROR(c.validate());
  return c;
}

}  // namespace fp
