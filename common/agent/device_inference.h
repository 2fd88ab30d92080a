// What a device computes with models and its own files, labels or not:
// the label-free figures of a personalization, and predictions for a folder.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "data/folder_source.h"
#include "models/prunable_net.h"
#include "protocol/messages.h"
#include "util/status.h"

namespace fp::agent {

// Aggregates over held-out inputs: mean top-class probability of each model and the
// share of inputs both assign the same class. Never per sample.
struct LabelFreeFigures {
  double confidence_before = 0, confidence_after = 0, agreement = 0;
};
LabelFreeFigures label_free_figures(PrunableNet& general, PrunableNet& personalized,
                                    const torch::Tensor& heldout);
// Copies them into a Fine-Pruning report (the device agent's runner and the simulation's
// virtual agents report the same fields).
void set_label_free_figures(proto::TelemetryReport& fine_prune, const LabelFreeFigures& figures);

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
