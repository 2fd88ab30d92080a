#include "models/model_spec.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace fp {

const std::vector<std::string>& known_architectures() {
  static const std::vector<std::string> kArchs = {"mlp",   "cnn",      "vgg7",     "vgg11",
                                                  "vgg19", "resnet18", "resnet50", "mobilenetv2"};
  return kArchs;
}

Status ModelSpec::validate() const {
  const auto& archs = known_architectures();
  if (std::find(archs.begin(), archs.end(), arch) == archs.end())
    return Status::invalid_argument("model spec: unknown arch '" + arch + "'");
  if (in_channels < 1 || in_channels > 64)
    return Status::invalid_argument("model spec: in_channels must be in [1, 64]");
  if (height < 4 || width < 4 || height > 1024 || width > 1024)
    return Status::invalid_argument("model spec: height and width must be in [4, 1024]");
  if (num_classes < 2 || num_classes > 100000)
    return Status::invalid_argument("model spec: num_classes must be in [2, 100000]");
  if (!(width_mult > 0.0 && width_mult <= 4.0))
    return Status::invalid_argument("model spec: width_mult must be in (0, 4]");
  if (widths.size() > 10000)
    return Status::invalid_argument("model spec: more than 10000 layer widths");
  for (int64_t w : widths)
    if (w < 1 || w > 1000000)
      return Status::invalid_argument("model spec: every layer width must be in [1, 1000000]");
  return Status::ok_status();
}

std::string ModelSpec::to_json() const {
  nlohmann::json j = {{"arch", arch},   {"in_channels", in_channels}, {"height", height},
                      {"width", width}, {"num_classes", num_classes}, {"width_mult", width_mult}};
  if (!widths.empty()) j["widths"] = widths;
  return j.dump();
}

Result<ModelSpec> ModelSpec::from_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::invalid_argument("model spec: not a JSON object");
  ModelSpec s;
  try {
    s.arch = j.at("arch").get<std::string>();
    s.in_channels = j.value("in_channels", s.in_channels);
    s.height = j.value("height", s.height);
    s.width = j.value("width", s.width);
    s.num_classes = j.value("num_classes", s.num_classes);
    s.width_mult = j.value("width_mult", s.width_mult);
    s.widths = j.value("widths", s.widths);
  } catch (const nlohmann::json::exception& e) {
    return Status::invalid_argument(std::string("model spec: ") + e.what());
  }
  FP_RETURN_IF_ERROR(s.validate());
  return s;
}

bool ModelSpec::operator==(const ModelSpec& o) const {
  return arch == o.arch && in_channels == o.in_channels && height == o.height && width == o.width &&
         num_classes == o.num_classes && width_mult == o.width_mult && widths == o.widths;
}

}  // namespace fp
