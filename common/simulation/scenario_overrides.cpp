#include "simulation/scenario_overrides.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <sstream>

#include "config/toml_reader.h"
#include "util/text.h"

namespace fp::sim {
namespace {

constexpr const char* kNoteHeader = "# fp-sim run overrode, after reading this file:\n";
constexpr const char* kNoteLine = "#   ";

// A string as a TOML basic string (quoted, escaped): the note must parse back.
std::string toml_string(const std::string& s) { return quoted_string(s, '"'); }

}  // namespace

Status apply_overrides(Scenario& s, const ScenarioOverrides& o) {
  auto noted = [&s](const std::string& key, const std::string& value) {
    s.overrides.push_back(key + " = " + value);
  };
  if (o.seed) {
    set_seed(s, *o.seed);
    noted("seed", std::to_string(*o.seed));
  }
  auto count = [&noted](const std::optional<int64_t>& given, int64_t& field, const char* key) {
    if (!given) return Status::ok_status();
    if (*given < 1) return Status::invalid_argument(fmt::format("{} must be at least 1", key));
    field = *given;
    noted(key, std::to_string(*given));
    return Status::ok_status();
  };
  if (o.individuals && s.partition.method == PartitionMethod::kNatural)
    return Status::invalid_argument(std::string("--individuals ") + kNaturalCount);
  FP_RETURN_IF_ERROR(count(o.individuals, s.partition.num_individuals, "partition.individuals"));
  FP_RETURN_IF_ERROR(count(o.hosts, s.hosting.hosts, "hosting.hosts"));
  FP_RETURN_IF_ERROR(count(o.workers, s.hosting.workers, "hosting.workers"));
  FP_RETURN_IF_ERROR(count(o.connected, s.hosting.connected, "hosting.connected"));
  if (o.mode) {
    s.hosting.mode = *o.mode;
    noted("hosting.mode", toml_string(hosting_mode_name(*o.mode)));
  }
  if (o.endpoint) {
    s.hosting.endpoint = *o.endpoint;
    noted("hosting.endpoint", toml_string(*o.endpoint));
  }
  if (auto wrong = hosting_problem(s.hosting))  // as the scenario file's keys are checked
    return Status::invalid_argument(
        fmt::format("hosting.{} {} (overridden on the command line)", wrong->key, wrong->why));
  if (o.methods) {  // given, even empty: set_baseline_methods refuses an empty list
    FP_RETURN_IF_ERROR(set_baseline_methods(s, *o.methods));
    std::string list;
    for (const auto& m : s.baselines.methods) list += (list.empty() ? "" : ", ") + toml_string(m);
    noted("baselines.methods", "[" + list + "]");
  }
  return Status::ok_status();
}

Result<ScenarioOverrides> recorded_overrides(const std::string& text, const std::string& source) {
  ScenarioOverrides o;
  if (text.rfind(kNoteHeader, 0) != 0) return o;
  // The note's lines, without their "#   ", are TOML: "partition.individuals = 30".
  std::string toml_text;
  std::istringstream in(text.substr(std::string(kNoteHeader).size()));
  for (std::string line; std::getline(in, line) && line.rfind(kNoteLine, 0) == 0;)
    toml_text += line.substr(std::string(kNoteLine).size()) + "\n";
  const std::string where = source + " (the overrides noted atop the scenario)";
  FP_ASSIGN_OR_RETURN(toml::table root, config::parse_toml(toml_text, where));
  config::TomlTable top(&root, "", where);
  std::optional<int64_t> seed;
  FP_RETURN_IF_ERROR(top.get("seed", seed));
  if (seed) {
    if (*seed < 0) return Status::invalid_argument(where + ": seed must not be negative");
    o.seed = static_cast<uint64_t>(*seed);
  }
  FP_ASSIGN_OR_RETURN(const toml::table* partition, top.table("partition"));
  config::TomlTable p(partition, "partition", where);
  FP_RETURN_IF_ERROR(p.get("individuals", o.individuals));
  FP_RETURN_IF_ERROR(p.finish());
  FP_ASSIGN_OR_RETURN(const toml::table* hosting, top.table("hosting"));
  config::TomlTable h(hosting, "hosting", where);
  FP_RETURN_IF_ERROR(h.get("hosts", o.hosts));
  FP_RETURN_IF_ERROR(h.get("workers", o.workers));
  FP_RETURN_IF_ERROR(h.get("connected", o.connected));
  FP_RETURN_IF_ERROR(h.get("endpoint", o.endpoint));
  std::optional<std::string> mode;
  FP_RETURN_IF_ERROR(h.get("mode", mode));
  if (mode) {
    o.mode = parse_hosting_mode(*mode);
    if (!o.mode) {
      return Status::invalid_argument(where + ": hosting.mode \"" + *mode +
                                      "\" is not in-process, processes or external");
    }
  }
  FP_RETURN_IF_ERROR(h.finish());
  FP_ASSIGN_OR_RETURN(const toml::table* baselines, top.table("baselines"));
  config::TomlTable b(baselines, "baselines", where);
  if (baselines && baselines->get("methods")) {
    std::vector<std::string> methods;
    FP_RETURN_IF_ERROR(b.get_list("methods", methods));
    std::string list;
    for (const auto& m : methods) list += (list.empty() ? "" : ",") + m;
    o.methods = methods.empty() ? "none" : list;
  }
  FP_RETURN_IF_ERROR(b.finish());
  FP_RETURN_IF_ERROR(top.finish({"partition", "hosting", "baselines"}));
  return o;
}

Result<Scenario> recorded_scenario(const std::string& text, const std::string& source) {
  FP_ASSIGN_OR_RETURN(Scenario s, parse_scenario(text, source));
  FP_ASSIGN_OR_RETURN(ScenarioOverrides o, recorded_overrides(text, source));
  FP_RETURN_IF_ERROR(apply_overrides(s, o));
  s.text = text;  // as recorded: its note already lists the overrides
  return s;
}

}  // namespace fp::sim
