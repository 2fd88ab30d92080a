#include "simulation/class_selection.h"

#include <algorithm>
#include <numeric>

#include "data/fashion_mnist.h"
#include "simulation/population.h"

namespace fp::sim {

Result<std::vector<int64_t>> best_classes(const std::vector<double>& per_class_accuracy,
                                          int64_t count) {
  std::vector<int64_t> order;
  for (size_t c = 0; c < per_class_accuracy.size(); ++c) {
    if (per_class_accuracy[c] >= 0) order.push_back(static_cast<int64_t>(c));
  }
  if (count < 1 || count > static_cast<int64_t>(order.size())) {
    return Status::invalid_argument("best_classes = " + std::to_string(count) + ", but " +
                                    std::to_string(order.size()) +
                                    " classes have samples to be scored on");
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return per_class_accuracy[static_cast<size_t>(a)] > per_class_accuracy[static_cast<size_t>(b)];
  });
  order.resize(static_cast<size_t>(count));
  std::sort(order.begin(), order.end());
  return order;
}

Result<Dataset> class_scoring_data(const Scenario& s, int64_t limit) {
  const int64_t first = s.data.general_samples;
  FP_ASSIGN_OR_RETURN(Dataset train,
                      load_fashion_mnist(fashion_mnist_dir(s), Split::kTrain, first + limit));
  if (first <= 0 || train.size() <= first) {
    return Status::invalid_argument(
        s.source +
        ": partition.best_classes scores the classes on training images the general "
        "model did not train on, and data.general_samples = " +
        std::to_string(first) + " leaves none of the " + std::to_string(train.size()) +
        " (lower it, e.g. to 50000)");
  }
  std::vector<int64_t> rest(static_cast<size_t>(train.size() - first));
  std::iota(rest.begin(), rest.end(), first);
  return train.select(rest);
}

}  // namespace fp::sim
