#include "data/fashion_mnist.h"

#include <algorithm>
#include <array>
#include <filesystem>

#include "data/idx_reader.h"
#include "util/memory.h"

namespace fp {
namespace {

// Debian ships the files gzip-compressed; an unpacked copy is accepted too.
std::string locate(const std::string& dir, const std::string& stem) {
  const std::filesystem::path base = std::filesystem::path(dir) / stem;
  std::error_code ec;
  if (!std::filesystem::exists(base.string() + ".gz", ec) && std::filesystem::exists(base, ec)) {
    return base.string();
  }
  return base.string() + ".gz";
}

// Every byte's normalised value, (x / 255 - mean) / std in float (IEEE division and
// subtraction, as LibTorch's element-wise ops compute them; a test checks every byte):
// the images are mapped through it in one pass over their fresh buffer.
const std::array<float, 256>& normalised_bytes() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int b = 0; b < 256; ++b)
      t[static_cast<size_t>(b)] =
          (static_cast<float>(b) / 255.0f - kFashionMnistMean) / kFashionMnistStd;
    return t;
  }();
  return table;
}

}  // namespace

Result<Dataset> load_fashion_mnist(const std::string& dir, Split split, int64_t limit) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  return load_fashion_mnist_files(locate(dir, prefix + "-images-idx3-ubyte"),
                                  locate(dir, prefix + "-labels-idx1-ubyte"), limit);
}

Result<Dataset> load_fashion_mnist_files(const std::string& image_path,
                                         const std::string& label_path, int64_t limit) {
  if (limit < 0) {
    return Status::invalid_argument("load_fashion_mnist: limit must be >= 0, got " +
                                    std::to_string(limit));
  }
  FP_ASSIGN_OR_RETURN(IdxArray images, read_idx(image_path, 3));
  FP_ASSIGN_OR_RETURN(IdxArray labels, read_idx(label_path, 1));

  if (images.dims[1] != 28 || images.dims[2] != 28) {
    return Status::corruption(image_path + ": images are " + std::to_string(images.dims[1]) + "x" +
                              std::to_string(images.dims[2]) + ", expected 28x28");
  }
  if (images.dims[0] != labels.dims[0]) {
    return Status::corruption(image_path + " holds " + std::to_string(images.dims[0]) +
                              " images but " + label_path + " holds " +
                              std::to_string(labels.dims[0]) + " labels");
  }
  const auto bad_label =
      std::find_if(labels.data.begin(), labels.data.end(), [](uint8_t v) { return v > 9; });
  if (bad_label != labels.data.end()) {
    return Status::corruption(label_path + ": label " + std::to_string(*bad_label) + " at row " +
                              std::to_string(bad_label - labels.data.begin()) + " outside [0, 9]");
  }

  const int64_t n = limit > 0 ? std::min(limit, images.dims[0]) : images.dims[0];
  Dataset out;
  out.inputs = torch::empty({n, 1, 28, 28}, torch::kFloat32);
  const std::array<float, 256>& table = normalised_bytes();
  const int64_t values = out.inputs.numel();
  float* dst = out.inputs.data_ptr<float>();
  prefault_for_writing(dst, static_cast<size_t>(values) * sizeof(float));
  const uint8_t* src = images.data.data();
  for (int64_t i = 0; i < values; ++i) dst[i] = table[src[i]];
  out.labels = torch::from_blob(labels.data.data(), {n}, torch::kUInt8).to(torch::kInt64);
  out.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return out;
}

}  // namespace fp
