// What `fp-sim run`'s flags change in a scenario after it is read, as one value: applied
// to the scenario and noted in it (Scenario::overrides), so the run records what it ran;
// and read back from that record, so `fp-sim run --resume` runs the same scenario again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "simulation/scenario.h"
#include "util/status.h"

namespace fp::sim {

struct ScenarioOverrides {
  std::optional<uint64_t> seed;
  std::optional<int64_t> individuals, hosts, workers, connected;  // each at least 1
  std::optional<HostingMode> mode;
  std::optional<std::string> endpoint;
  std::optional<std::string> methods;  // as --methods takes them: "a,b" or "none"

  bool any() const {
    return seed || individuals || hosts || workers || connected || mode || endpoint || methods;
  }
};

// Applies each override given and notes it in `scenario.overrides` ("partition.individuals
// = 30", TOML's dotted keys). An error names the override refused (e.g. an unknown method).
Status apply_overrides(Scenario& scenario, const ScenarioOverrides& overrides);

// The overrides a run recorded atop its scenario text (text_with_overrides): none when the
// text starts with no such note. An error names the line it cannot read.
Result<ScenarioOverrides> recorded_overrides(const std::string& recorded_text,
                                             const std::string& source);

// A run's recorded scenario text parsed, with the overrides it records applied again: the
// scenario as that run ran it (its text left as recorded).
Result<Scenario> recorded_scenario(const std::string& recorded_text, const std::string& source);

}  // namespace fp::sim
