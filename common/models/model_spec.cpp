#include "models/model_spec.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/json_object.h"

namespace fp {

const std::vector<std::string>& known_architectures() {
  static const std::vector<std::string> kArchs = {"mlp",   "cnn",      "vgg7",     "vgg11",
                                                  "vgg19", "resnet18", "resnet50", "mobilenetv2"};
  return kArchs;
}

std::string unknown_architecture(const std::string& arch) {
  const auto& archs = known_architectures();
  if (std::find(archs.begin(), archs.end(), arch) != archs.end()) return "";
  std::string known;
  for (const auto& a : archs) known += (known.empty() ? "" : ", ") + a;
  return "'" + arch + "' is unknown (known: " + known + ")";
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
  if (!input.kind.empty() && input.kind != "image" && input.kind != "log_mel")
    return Status::invalid_argument("model spec: input.kind must be \"image\" or \"log_mel\"");
  if (input.kind == "image" && !(input.std > 0))
    return Status::invalid_argument("model spec: input.std must be positive");
  if (input.kind == "log_mel" &&
      (input.sample_rate < 1 || input.n_fft < 4 || input.hop_length < 1 ||
       height > input.n_fft / 2 + 1 || in_channels != 1))
    return Status::invalid_argument(
        "model spec: log_mel input needs sample_rate > 0, n_fft >= 4, hop_length > 0, one "
        "channel and height (n_mels) <= n_fft / 2 + 1");
  if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != num_classes)
    return Status::invalid_argument("model spec: class_names must name all num_classes classes");
  return Status::ok_status();
}

bool InputSpec::operator==(const InputSpec& o) const {
  return kind == o.kind && mean == o.mean && std == o.std && sample_rate == o.sample_rate &&
         n_fft == o.n_fft && hop_length == o.hop_length;
}

std::string ModelSpec::to_json() const {
  nlohmann::json j = {{"arch", arch},   {"in_channels", in_channels}, {"height", height},
                      {"width", width}, {"num_classes", num_classes}, {"width_mult", width_mult}};
  if (!widths.empty()) j["widths"] = widths;
  // Written only when set, so specs from before they existed keep their exact JSON.
  if (input.kind == "image") {
    j["input"] = {{"kind", "image"}, {"mean", input.mean}, {"std", input.std}};
  } else if (input.kind == "log_mel") {
    j["input"] = {{"kind", "log_mel"},
                  {"sample_rate", input.sample_rate},
                  {"n_fft", input.n_fft},
                  {"hop_length", input.hop_length}};
  }
  if (!class_names.empty()) j["class_names"] = class_names;
  return j.dump();
}

Result<ModelSpec> ModelSpec::from_json(const std::string& text) {
  FP_ASSIGN_OR_RETURN(nlohmann::json j, parse_json_object(text, "model spec"));
  ModelSpec s;
  try {
    s.arch = j.at("arch").get<std::string>();
    s.in_channels = j.value("in_channels", s.in_channels);
    s.height = j.value("height", s.height);
    s.width = j.value("width", s.width);
    s.num_classes = j.value("num_classes", s.num_classes);
    s.width_mult = j.value("width_mult", s.width_mult);
    s.widths = j.value("widths", s.widths);
    if (j.contains("input")) {
      const auto& in = j.at("input");
      s.input.kind = in.at("kind").get<std::string>();
      s.input.mean = in.value("mean", s.input.mean);
      s.input.std = in.value("std", s.input.std);
      s.input.sample_rate = in.value("sample_rate", s.input.sample_rate);
      s.input.n_fft = in.value("n_fft", s.input.n_fft);
      s.input.hop_length = in.value("hop_length", s.input.hop_length);
    }
    if (j.contains("class_names"))
      s.class_names = j.at("class_names").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return Status::invalid_argument(std::string("model spec: ") + e.what());
  }
  FP_RETURN_IF_ERROR(s.validate());
  return s;
}

bool ModelSpec::operator==(const ModelSpec& o) const {
  return arch == o.arch && in_channels == o.in_channels && height == o.height && width == o.width &&
         num_classes == o.num_classes && width_mult == o.width_mult && widths == o.widths &&
         input == o.input && class_names == o.class_names;
}

}  // namespace fp
