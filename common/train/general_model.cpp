#include "train/general_model.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "models/artifact.h"
#include "models/model_factory.h"
#include "prune/shift_detector.h"
#include "train/evaluator.h"
#include "train/spread_calibration.h"

namespace fp {

Result<GeneralModel> train_general_model(const Dataset& data, const GeneralModelConfig& config,
                                         const std::function<void(int64_t, double)>& on_epoch) {
  if (data.size() == 0) return Status::invalid_argument("no general training data");
  torch::set_num_threads(config.threads);
  torch::manual_seed(config.train.seed);
  Dataset train_set = data, val_set;
  if (config.validation_fraction > 0) {
    const int64_t n_val = std::max<int64_t>(
        1, static_cast<int64_t>(config.validation_fraction * static_cast<double>(data.size())));
    auto order = torch::randperm(data.size(), torch::kLong);
    std::vector<int64_t> shuffled(order.data_ptr<int64_t>(),
                                  order.data_ptr<int64_t>() + order.numel());
    std::tie(train_set, val_set) = split_at(data.select(shuffled), data.size() - n_val);
  }

  GeneralModel out;
  out.spec.arch = config.arch;
  out.spec.width_mult = config.width_mult;
  out.spec.in_channels = data.inputs.size(1);
  out.spec.height = data.inputs.size(2);
  out.spec.width = data.inputs.size(3);
  out.spec.num_classes = data.num_classes();
  out.spec.input = config.input;
  out.spec.class_names = data.class_names;
  FP_ASSIGN_OR_RETURN(ModelPtr model, build_model(out.spec));
  FP_ASSIGN_OR_RETURN(out.report, train(*model, train_set, config.train, on_epoch));
  out.train_samples = train_set.size();
  out.validation_samples = val_set.size();
  if (val_set.size() > 0) {
    FP_ASSIGN_OR_RETURN(auto val, evaluate(*model, val_set));
    out.validation_accuracy = val.accuracy;
  }
  out.meta = config.meta;
  out.meta["train_samples"] = std::to_string(out.train_samples);
  out.meta["epochs"] = std::to_string(config.train.epochs);
  out.meta["seed"] = std::to_string(config.train.seed);
  out.meta["final_loss"] = fmt::format("{:.6f}", out.report.final_loss);
  if (out.validation_accuracy) {
    out.meta["validation_accuracy"] = fmt::format("{:.4f}", *out.validation_accuracy);
  }
  // The shift detector's per-model threshold (prune/shift_detector.h), measured before the
  // one serialization so that the artifact carries it: on the data given for it, else on
  // the held-out samples; a validation slice missing a class leaves the model without one,
  // said why.
  const Dataset* calibration = config.calibration   ? config.calibration
                               : val_set.size() > 0 ? &val_set
                                                    : nullptr;
  if (calibration) {
    SpreadCurveConfig sc;
    sc.seed = config.train.seed;
    auto curve = measure_spread_curve(*model, *calibration, sc);
    if (curve.ok()) {
      out.meta[kSpreadCurveMetaKey] = spread_curve_to_meta(*curve);
      out.meta["class_spread_calibration"] =
          fmt::format("{} {}; {} per draw, {} draws per class count", calibration->size(),
                      config.calibration ? config.calibration_source : "held-out samples",
                      sc.samples, sc.draws);
    } else if (config.calibration) {
      return curve.status();
    } else {
      out.meta["class_spread_calibration"] = "not measured: " + curve.status().message();
    }
  }
  out.artifact = serialize_model(*model, out.meta);
  return out;
}

}  // namespace fp
