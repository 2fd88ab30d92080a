// What a device computes with a model and its own files, labels or not: predictions for a
// folder. (The label-free figures of a personalization come with it: personalize.h.)
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "data/folder_source.h"
#include "models/prunable_net.h"
#include "util/status.h"

namespace fp::agent {

struct Prediction {
  std::string file;        // relative to the folder (IDX images: "file#i")
  int64_t class_id = 0;    // the model's class index (the data set's original id)
  std::string class_name;  // from the spec, "" when it has none
  double confidence = 0;   // top-class probability
};

struct PredictSummary {
  int64_t predicted = 0;
  SkipLog skipped;
};

// Streams every file under `dir` through `model`, `batch` at a time, calling `on_each`
// per usable file in path order, and `on_progress(done, total)` after each batch.
Result<PredictSummary> predict_folder(
    PrunableNet& model, const std::string& dir, int64_t batch,
    const std::function<void(const Prediction&)>& on_each,
    const std::function<void(int64_t, int64_t)>& on_progress = nullptr);

}  // namespace fp::agent
