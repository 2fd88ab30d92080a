// Accuracy, per-class accuracy and confusion matrix on a labeled dataset.
#pragma once

#include <vector>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "train/spread_calibration.h"
#include "util/status.h"

namespace fp {

struct EvalReport {
  double accuracy = 0;
  int64_t samples = 0;
  std::vector<double> per_class_accuracy;       // NaN-free: classes absent from data get -1
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

Result<EvalReport> evaluate(PrunableNet& model, const Dataset& data, int64_t batch_size = 256);
// The same from the model's softmax rows over data.inputs (predict_proba), so that a caller
// that needs the probabilities too runs the model once.
Result<EvalReport> evaluate_proba(const torch::Tensor& proba, const Dataset& data);

// Logits [N, num_classes] (no labels needed), in eval mode, batch by batch; the model's
// training mode is given back afterwards. With `from_layer` > 0 (a segment start,
// PrunableNet::segment_starts; another throws), `inputs` are what that layer reads and the layers
// before it are skipped (PrunableNet::forward_layers). A batch_size below 1 throws (c10::Error).
torch::Tensor predict_logits(PrunableNet& model, const torch::Tensor& inputs,
                             int64_t batch_size = 256, size_t from_layer = 0);
// Their softmax probabilities.
torch::Tensor predict_proba(PrunableNet& model, const torch::Tensor& inputs,
                            int64_t batch_size = 256, size_t from_layer = 0);

// The model's shift-detector spread curve on labeled data (train/spread_calibration.h):
// one forward pass, then spread_curve over its softmax rows.
Result<std::vector<double>> measure_spread_curve(PrunableNet& model, const Dataset& labeled,
                                                 const SpreadCurveConfig& config = {});

}  // namespace fp
