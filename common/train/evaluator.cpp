#include "train/evaluator.h"

namespace fp {

torch::Tensor predict_logits(PrunableNet& model, const torch::Tensor& inputs, int64_t batch_size,
                             size_t from_layer) {
  TORCH_CHECK(batch_size > 0, "predict_logits: batch_size must be positive, got ", batch_size);
  EvalModeScope eval_mode(model);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  const int64_t n = inputs.size(0);
  for (int64_t b = 0; b < n; b += batch_size) {
    auto batch = inputs.slice(0, b, std::min(n, b + batch_size));
    out.push_back(from_layer == 0 ? model.forward(batch)
                                  : model.forward_layers(batch, from_layer, model.layers().size()));
  }
  if (out.empty()) return torch::zeros({0, model.spec().num_classes});
  return out.size() == 1 ? out[0] : torch::cat(out);
}

torch::Tensor predict_proba(PrunableNet& model, const torch::Tensor& inputs, int64_t batch_size,
                            size_t from_layer) {
  torch::NoGradGuard no_grad;
  return torch::softmax(predict_logits(model, inputs, batch_size, from_layer), 1);
}

Result<EvalReport> evaluate(PrunableNet& model, const Dataset& data, int64_t batch_size) {
  if (!data.has_labels()) return Status::invalid_argument("evaluate: the dataset has no labels");
  if (data.size() == 0) return Status::invalid_argument("evaluate: the dataset is empty");
  return evaluate_proba(predict_proba(model, data.inputs, batch_size), data);
}

Result<EvalReport> evaluate_proba(const torch::Tensor& proba, const Dataset& data) {
  if (!data.has_labels()) return Status::invalid_argument("evaluate: the dataset has no labels");
  if (data.size() == 0) return Status::invalid_argument("evaluate: the dataset is empty");
  if (proba.dim() != 2 || proba.size(0) != data.size())
    return Status::invalid_argument("evaluate: " + std::to_string(proba.size(0)) +
                                    " predictions for " + std::to_string(data.size()) + " samples");
  const int64_t c = proba.size(1);
  auto pred = proba.argmax(1).contiguous();
  auto truth = data.labels.contiguous();
  EvalReport r;
  r.samples = data.size();
  r.confusion.assign(c, std::vector<int64_t>(c, 0));
  int64_t correct = 0;
  const int64_t* p = pred.data_ptr<int64_t>();
  const int64_t* t = truth.data_ptr<int64_t>();
  for (int64_t i = 0; i < r.samples; ++i) {
    if (t[i] < 0 || t[i] >= c)
      return Status::invalid_argument("evaluate: label " + std::to_string(t[i]) +
                                      " outside the model's " + std::to_string(c) + " classes");
    r.confusion[t[i]][p[i]]++;
    correct += p[i] == t[i];
  }
  r.accuracy = static_cast<double>(correct) / r.samples;
  for (int64_t k = 0; k < c; ++k) {
    int64_t row = 0;
    for (int64_t v : r.confusion[k]) row += v;
    r.per_class_accuracy.push_back(row ? static_cast<double>(r.confusion[k][k]) / row : -1.0);
  }
  return r;
}

Result<std::vector<double>> measure_spread_curve(PrunableNet& model, const Dataset& labeled,
                                                 const SpreadCurveConfig& config) {
  if (!labeled.has_labels() || labeled.size() == 0) {
    return Status::invalid_argument("spread calibration: needs labeled, non-empty data");
  }
  const torch::Tensor p = predict_proba(model, labeled.inputs).to(torch::kDouble).contiguous();
  return spread_curve(std::vector<double>(p.data_ptr<double>(), p.data_ptr<double>() + p.numel()),
                      labeled.label_vector(), model.spec().num_classes, config);
}

}  // namespace fp
