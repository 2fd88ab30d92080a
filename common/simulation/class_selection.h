// Figure 2d's selection rule: individuals drawn from the classes the general model
// classifies best. The classes are scored on labeled data the general model did not
// train on and that no individual holds (Fashion-MNIST: the training images after the
// first data.general_samples), so the pick never sees an individual's evaluation set.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "simulation/scenario.h"
#include "util/status.h"

namespace fp::sim {

// The `count` classes with the highest accuracy in `per_class_accuracy` (index = class;
// -1 = absent from the scoring data, never picked), ascending by label. Ties go to the
// lower label, so a pick is reproducible.
Result<std::vector<int64_t>> best_classes(const std::vector<double>& per_class_accuracy,
                                          int64_t count);

// Fashion-MNIST training images [general_samples, general_samples + limit), as many as
// the split holds; an error when none is left over.
Result<Dataset> class_scoring_data(const Scenario& scenario, int64_t limit = 10000);

}  // namespace fp::sim
