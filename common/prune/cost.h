// Compute cost: multiply-accumulates of a model, dense and with its masks applied.
#pragma once

#include "models/prunable_net.h"

namespace fp {

struct MacCount {
  int64_t dense = 0;      // every weight of every prunable layer
  int64_t effective = 0;  // only non-zero effective weights
};

// Per sample. Runs one forward pass on a zero input to learn spatial sizes.
MacCount count_macs(PrunableNet& model);

}  // namespace fp
