// The general model, trained once on general labeled data and shipped as an artifact:
// the one training path of `fp-coordinator train` and of `fp-sim run`.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "data/dataset.h"
#include "models/model_spec.h"
#include "train/trainer.h"
#include "util/status.h"

namespace fp {

struct GeneralModelConfig {
  std::string arch = "cnn";
  double width_mult = 1.0;
  // How a device turns its own files into inputs (data/file_decoder.h: builtin_input_spec);
  // travels in the spec so device and coordinator cannot disagree. Unset: IDX only.
  InputSpec input;
  TrainConfig train;
  // LibTorch threads, set on the calling thread by train_general_model and left so
  // (LibTorch's own default on these machines is 1).
  int threads = 2;
  // Held out at random from the data to report the model's accuracy and to measure its
  // shift-detector spread curve (train/spread_calibration.h; 0: none, every sample
  // trains). The data may come sorted by class, so never the tail alone.
  double validation_fraction = 0;
  // Labeled data to measure the spread curve on instead of the validation slice, and what
  // they are (for the metadata); a failure to measure on them is then an error.
  const Dataset* calibration = nullptr;
  std::string calibration_source;
  std::map<std::string, std::string> meta;  // stored in the artifact beside the training facts
  // Training ends with Cancelled once this turns true (trainer.h; e.g. a Ctrl-C).
  const std::atomic<bool>* stop = nullptr;
};

struct GeneralModel {
  ModelSpec spec;
  std::string artifact;  // serialize_model's bytes, ready to register
  std::map<std::string, std::string> meta;
  TrainReport report;
  int64_t train_samples = 0, validation_samples = 0;
  std::optional<double> validation_accuracy;
};

// Seeds LibTorch with config.train.seed, so the same data and config give the same bytes.
// `on_epoch(epoch, mean_loss)` is called after every epoch if given.
Result<GeneralModel> train_general_model(const Dataset& data, const GeneralModelConfig& config,
                                         const std::function<void(int64_t, double)>& on_epoch = {});

// For a model trained elsewhere (`fp-coordinator register --calibrate`): measures the
// artifact's shift-detector spread curve on `labeled` general data of the model's classes
// and returns the artifact with the curve in its metadata, replacing any it had (new
// bytes: its SHA-256 changes). `source` says what the data are, for the metadata. An error
// names a model whose input shape or classes the data do not match.
Result<std::string> calibrate_artifact(const std::string& artifact, const Dataset& labeled,
                                       const std::string& source, uint64_t seed = 0);

}  // namespace fp
