#include "train/train_config.h"

#include <fmt/format.h>

namespace fp {

std::string learning_rate_problem(double rate) {
  if (rate > 0 && rate <= kMaxLearningRate) return "";
  return fmt::format("must be in (0, {:g}], got {:g}", kMaxLearningRate, rate);
}

}  // namespace fp
