// Fashion-MNIST from Debian's dataset-fashion-mnist package.
#pragma once

#include <string>

#include "data/dataset.h"
#include "util/status.h"

namespace fp {

constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

enum class Split { kTrain, kTest };

// The normalisation of the images' [0,1] values: as a model's spec records it (double,
// data/file_decoder.h's input spec) and as the loader applies it (float).
constexpr double kFashionMnistMeanValue = 0.2860, kFashionMnistStdValue = 0.3530;
constexpr float kFashionMnistMean = static_cast<float>(kFashionMnistMeanValue);
constexpr float kFashionMnistStd = static_cast<float>(kFashionMnistStdValue);
static_assert(kFashionMnistMean == 0.2860f && kFashionMnistStd == 0.3530f);

// Images scaled to [0,1] then normalised (mean 0.2860, std 0.3530), shape [N,1,28,28].
// `limit` > 0 keeps the first `limit` samples.
Result<Dataset> load_fashion_mnist(const std::string& dir, Split split, int64_t limit = 0);

// The same from one pair of IDX files of 28x28 images and their labels, named by path
// (`.gz` or not): e.g. an individual's own files in the Fashion-MNIST format.
Result<Dataset> load_fashion_mnist_files(const std::string& image_path,
                                         const std::string& label_path, int64_t limit = 0);

}  // namespace fp
