#include "train/general_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "models/artifact.h"
#include "models/model_factory.h"
#include "prune/shift_detector.h"
#include "train/evaluator.h"
#include "train/spread_calibration.h"
#include "util/compute_threads.h"

namespace fp {
namespace {

// Measures `model`'s spread curve on `labeled` and writes it, and how it was measured,
// into `meta`.
Status add_spread_curve(PrunableNet& model, const Dataset& labeled, const std::string& source,
                        uint64_t seed, std::map<std::string, std::string>& meta) {
  SpreadCurveConfig sc;
  sc.seed = seed;
  FP_ASSIGN_OR_RETURN(auto curve, measure_spread_curve(model, labeled, sc));
  meta[kSpreadCurveMetaKey] = spread_curve_to_meta(curve);
  meta["class_spread_calibration"] = fmt::format("{} {}; {} per draw, {} draws per class count",
                                                 labeled.size(), source, sc.samples, sc.draws);
  return Status::ok_status();
}

}  // namespace

Result<GeneralModel> train_general_model(const Dataset& data, const GeneralModelConfig& config,
                                         const std::function<void(int64_t, double)>& on_epoch) {
  if (data.size() == 0) return Status::invalid_argument("no general training data");
  if (config.validation_fraction > 0 && data.size() < 2) {
    return Status::invalid_argument(
        "1 general training sample cannot be split into training and validation samples (at "
        "least 2 are needed; is the data limit too small?)");
  }
  set_compute_threads(config.threads);
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
  FP_ASSIGN_OR_RETURN(out.report, train(*model, train_set, config.train, on_epoch, config.stop));
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
  if (config.calibration) {
    FP_RETURN_IF_ERROR(add_spread_curve(*model, *config.calibration, config.calibration_source,
                                        config.train.seed, out.meta));
  } else if (val_set.size() > 0) {
    Status measured =
        add_spread_curve(*model, val_set, "held-out samples", config.train.seed, out.meta);
    if (!measured.ok()) {
      out.meta["class_spread_calibration"] = "not measured: " + measured.message();
    }
  }
  out.artifact = serialize_model(*model, out.meta);
  return out;
}

Result<std::string> calibrate_artifact(const std::string& artifact, const Dataset& labeled,
                                       const std::string& source, uint64_t seed) {
  ArtifactInfo info;
  auto loaded = deserialize_model(artifact, &info);
  if (!loaded.ok()) {
    return Status::corruption("not a usable model artifact: " + loaded.status().message());
  }
  ModelPtr model = std::move(loaded).value();
  const ModelSpec& spec = info.spec;
  if (labeled.size() == 0) return Status::invalid_argument("no labeled data to calibrate on");
  if (labeled.inputs.dim() != 4 || labeled.inputs.size(1) != spec.in_channels ||
      labeled.inputs.size(2) != spec.height || labeled.inputs.size(3) != spec.width) {
    return Status::invalid_argument(fmt::format(
        "the model takes {}x{}x{} inputs; the calibration data ({}) are {}", spec.in_channels,
        spec.height, spec.width, source, fmt::join(labeled.inputs.sizes().vec(), "x")));
  }
  if (labeled.num_classes() != spec.num_classes) {
    return Status::invalid_argument(
        fmt::format("the model has {} classes; the calibration data ({}) have {}", spec.num_classes,
                    source, labeled.num_classes()));
  }
  if (!spec.class_names.empty() && spec.class_names != labeled.class_names) {
    return Status::invalid_argument(fmt::format(
        "the model's classes ({}) are not the calibration data's ({}: {})",
        fmt::join(spec.class_names, ", "), source, fmt::join(labeled.class_names, ", ")));
  }
  FP_RETURN_IF_ERROR(add_spread_curve(*model, labeled, source, seed, info.meta));
  return serialize_model(*model, info.meta);
}

}  // namespace fp
