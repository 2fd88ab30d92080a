#include "report/seed_run_file.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>

#include "experiment/methods.h"
#include "report/results_json.h"

namespace fp::report {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "fineprune-seed-run";
constexpr int kVersion = 1;
constexpr int64_t kMaxCount = int64_t{1} << 62;  // samples, MACs: anything a run can count

// Reads the fields of one JSON object, naming the first one that is wrong.
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {}

  template <typename T>
  T get(const char* key) {
    if (!error_.empty()) return T{};
    auto it = object_.find(key);
    if (it == object_.end()) {
      error_ = fmt::format("{}: missing \"{}\"", where_, key);
      return T{};
    }
    try {
      return it->template get<T>();
    } catch (const json::exception&) {
      error_ = fmt::format("{}: \"{}\" has the wrong type ({})", where_, key, it->type_name());
      return T{};
    }
  }
  // get(), and within [low, high] (a whole number for an integral T): a hand-edited or damaged
  // value (an accuracy of 1e308 or -5, -1 samples) was pooled into nonsense.
  template <typename T>
  T get_in(const char* key, T low, T high) {
    const T v = get<T>(key);
    if (!error_.empty()) return v;
    const json& j = object_.at(key);
    if ((std::is_integral_v<T> && !j.is_number_integer()) || !(v >= low && v <= high))
      error_ = fmt::format("{}: \"{}\" is {}, not {} from {} to {}", where_, key, j.dump(),
                           std::is_integral_v<T> ? "a whole number" : "a number", low, high);
    return v;
  }
  // The member `key`, which must be of `type` (an array or an object).
  const json& child(const char* key, json::value_t type) {
    static const json kNull;
    if (!error_.empty()) return kNull;
    auto it = object_.find(key);
    if (it == object_.end() || it->type() != type) {
      error_ = fmt::format("{}: \"{}\" is {}", where_, key,
                           it == object_.end() ? "missing" : "of the wrong type");
      return kNull;
    }
    return *it;
  }
  const std::string& error() const { return error_; }

 private:
  const json& object_;
  std::string where_;
  std::string error_;
};

json outcome_json(const MethodOutcome& m) {
  return {{"accuracy", optional_json(m.accuracy)},
          {"sparsity", m.sparsity},
          {"macs_effective", m.macs_effective},
          {"wall_seconds", m.wall_seconds},
          {"compute_macs", m.compute_macs}};
}

Result<MethodOutcome> parse_outcome(const json& j, const std::string& where) {
  if (!j.is_object()) return Status::invalid_argument(where + ": not an object");
  Fields f(j, where);
  MethodOutcome m;
  auto accuracy = j.find("accuracy");  // null: the device had no labels
  if (accuracy == j.end()) return Status::invalid_argument(where + ": missing \"accuracy\"");
  if (!accuracy->is_null()) m.accuracy = f.get_in<double>("accuracy", 0, 1);
  m.sparsity = f.get_in<double>("sparsity", 0, 1);
  m.macs_effective = f.get_in<int64_t>("macs_effective", 0, kMaxCount);
  m.wall_seconds = f.get_in<double>("wall_seconds", 0, 1e9);
  m.compute_macs = f.get_in<int64_t>("compute_macs", 0, kMaxCount);
  if (!f.error().empty()) return Status::invalid_argument(f.error());
  return m;
}

Result<IndividualResult> parse_individual(const json& j, const std::string& where) {
  if (!j.is_object()) return Status::invalid_argument(where + ": not an object");
  Fields f(j, where);
  IndividualResult r;
  r.individual = f.get<std::string>("individual");
  r.general_accuracy = f.get_in<double>("general", 0, 1);
  r.eval_samples = f.get_in<int64_t>("eval_samples", 0, kMaxCount);
  r.macs_dense = f.get_in<int64_t>("macs_dense", 0, kMaxCount);
  const json& methods = f.child("methods", json::value_t::object);
  if (!f.error().empty()) return Status::invalid_argument(f.error());
  r.task_status = "done";
  for (const auto& [name, outcome] : methods.items()) {
    FP_ASSIGN_OR_RETURN(r.methods[name],
                        parse_outcome(outcome, fmt::format("{} method \"{}\"", where, name)));
  }
  // Every task Fine-Prunes; the further methods are the ones a run may leave out. Without it
  // the individual would pool into the other methods' rows and never into Fine-Pruning's.
  if (!r.methods.count(kFinePruneMethod))
    return Status::invalid_argument(
        fmt::format("{} (\"{}\"): no \"{}\" among its methods, which every run writes", where,
                    r.individual, kFinePruneMethod));
  return r;
}

}  // namespace

std::string seed_run_to_json(const SeedRun& seed) {
  json campaigns = json::array();
  for (const auto& [variant, results] : seed.campaigns) {
    json individuals = json::array();
    for (const auto& r : results.individuals) {
      if (!r.general_accuracy) continue;
      json methods = json::object();
      for (const auto& [name, outcome] : r.methods) methods[name] = outcome_json(outcome);
      individuals.push_back({{"individual", r.individual},
                             {"general", *r.general_accuracy},
                             {"eval_samples", r.eval_samples},
                             {"macs_dense", r.macs_dense},
                             {"methods", std::move(methods)}});
    }
    campaigns.push_back({{"variant", variant}, {"individuals", std::move(individuals)}});
  }
  json doc = {{"format", kFormat},     {"version", kVersion},
              {"seed", seed.label},    {"scenario", seed.scenario},
              {"status", seed.status}, {"campaigns", std::move(campaigns)}};
  if (seed.settings) doc["settings"] = *seed.settings;
  return doc.dump(1) + "\n";
}

Result<SeedRun> parse_seed_run(const std::string& text, const std::string& source) {
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Status::corruption(source + ": not JSON");
  if (!doc.is_object()) return Status::invalid_argument(source + ": not a JSON object");
  Fields f(doc, source);
  const auto format = f.get<std::string>("format");
  const auto version = f.get<int>("version");
  SeedRun seed;
  seed.label = f.get<std::string>("seed");
  if (doc.contains("status")) seed.status = f.get<std::string>("status");  // files before it: done
  if (doc.contains("scenario")) seed.scenario = f.get<std::string>("scenario");  // or unknown
  if (doc.contains("settings")) {  // files before it: unknown
    const json& settings = f.child("settings", json::value_t::array);
    seed.settings.emplace();
    for (const auto& s : settings) {
      if (!s.is_string())
        return Status::invalid_argument(source + ": settings must be a list of strings");
      seed.settings->push_back(s.get<std::string>());
    }
  }
  const json& campaigns = f.child("campaigns", json::value_t::array);
  if (!f.error().empty()) return Status::invalid_argument(f.error());
  if (format != kFormat)
    return Status::invalid_argument(
        fmt::format("{}: format \"{}\", expected \"{}\"", source, format, kFormat));
  if (version != kVersion)
    return Status::invalid_argument(
        fmt::format("{}: version {}, this build reads version {}", source, version, kVersion));
  for (size_t c = 0; c < campaigns.size(); ++c) {
    const std::string where = fmt::format("{}: campaign {}", source, c);
    if (!campaigns[c].is_object()) return Status::invalid_argument(where + ": not an object");
    Fields cf(campaigns[c], where);
    auto variant = cf.get<std::string>("variant");
    const json& individuals = cf.child("individuals", json::value_t::array);
    if (!cf.error().empty()) return Status::invalid_argument(cf.error());
    CampaignResults results;
    std::set<std::string> seen;
    for (size_t i = 0; i < individuals.size(); ++i) {
      FP_ASSIGN_OR_RETURN(
          IndividualResult r,
          parse_individual(individuals[i], fmt::format("{} individual {}", where, i)));
      if (!seen.insert(r.individual).second)  // counted twice in every pooled figure
        return Status::invalid_argument(
            fmt::format("{} individual {}: \"{}\" is listed twice", where, i, r.individual));
      results.individuals.push_back(std::move(r));
    }
    seed.campaigns.emplace_back(std::move(variant), std::move(results));
  }
  return seed;
}

}  // namespace fp::report
