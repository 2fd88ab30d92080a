// Whether a model is a general one or already personalized. A general model is trained and
// never pruned; a personalized one is compact (its pruned units removed) or masked (a unit or
// weight mask holding a zero). Registering a personalized model as a campaign's general one
// failed every task ("a compact model cannot be pruned further"), or had devices prune a
// pruned model and report its accuracy as the general model's.
#pragma once

#include <string>

#include "models/prunable_net.h"

namespace fp {

struct PrunedState {
  bool compact = false;  // its spec is compact: the pruned units are gone
  std::string masked;    // "12 of 96 units pruned" and/or "40 of 9000 weights pruned", or ""
  bool personalized() const { return compact || !masked.empty(); }
};

PrunedState measure_pruned_state(const PrunableNet& model);

// "" for a model no mask of which holds a zero and whose spec is not compact; otherwise
// what makes it personalized: "compact: its pruned units are gone" or "masked: 12 of 96
// units pruned" (and/or "40 of 9000 weights pruned").
std::string pruned_state(const PrunableNet& model);

}  // namespace fp
