// A model spec from its shape, for tests that build small models by hand.
#pragma once

#include <string>

#include "models/model_spec.h"

namespace fp::testing {

inline ModelSpec test_spec(const std::string& arch, int64_t in_channels, int64_t height,
                           int64_t width, int64_t num_classes, double width_mult) {
  ModelSpec s;
  s.arch = arch;
  s.in_channels = in_channels;
  s.height = height;
  s.width = width;
  s.num_classes = num_classes;
  s.width_mult = width_mult;
  return s;
}

}  // namespace fp::testing
