#include "models/torch_export.h"

#include <nlohmann/json.hpp>

#include "models/compact.h"
#include "models/model_factory.h"
#include "util/file_io.h"

namespace fp {
namespace {

using nlohmann::json;

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kNone:
      return "none";
    case Activation::kReLU:
      return "relu";
    case Activation::kReLU6:
      return "relu6";
    case Activation::kSoftmax:
      return "softmax";
  }
  return "none";
}

}  // namespace

std::string torch_export_spec(const PrunableNet& model) {
  json layers = json::array();
  for (size_t i = 0; i < model.layers().size(); ++i) {
    const auto& o = model.layers()[i]->options();
    layers.push_back({{"name", model.layer_names()[i]},
                      {"kind", o.kind == LayerKind::kConv ? "conv" : "linear"},
                      {"in", o.in},
                      {"out", o.out},
                      {"kernel", o.kernel},
                      {"stride", o.stride},
                      {"padding", o.padding},
                      {"groups", o.groups},
                      {"bias", o.bias},
                      {"batch_norm", o.batch_norm},
                      {"activation", activation_name(o.activation)},
                      {"output_layer", o.output_layer},
                      {"class_space", o.class_space}});
  }
  json spaces = json::array();
  for (const auto& s : model.channel_spaces())
    spaces.push_back({{"producers", s.producers},
                      {"depthwise", s.depthwise},
                      {"readers", s.readers},
                      {"positions", s.positions}});
  json j = {{"format", "fineprune-torch-export"},
            {"version", 1},
            {"spec", json::parse(model.spec().to_json())},
            {"batch_norm_eps", 1e-5},
            {"pruned_logit", kPrunedLogit},
            {"layers", layers},
            {"channel_spaces", spaces}};
  return j.dump(1);
}

Status export_torch(const PrunableNet& model, const std::string& prefix, TorchExportInfo* info) {
  ModelPtr compact_model;
  if (model.spec().is_compact()) {
    compact_model = clone_model(model);
  } else {
    FP_ASSIGN_OR_RETURN(CompactNet c, compact(model));
    compact_model = c.model;
  }
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& item : compact_model->named_parameters(true))
    state.insert(item.key(), item.value().detach().clone());
  for (const auto& item : compact_model->named_buffers(true))
    if (item.key().find("_mask") == std::string::npos)  // folded into the weights
      state.insert(item.key(), item.value().detach().clone());
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(torch::IValue(state));
  } catch (const c10::Error& e) {
    return Status::internal(std::string("export: ") + e.what_without_backtrace());
  }
  TorchExportInfo out;
  out.state_dict_path = prefix + ".pt";
  out.spec_path = prefix + ".json";
  out.state_dict_bytes = static_cast<int64_t>(bytes.size());
  out.parameters = count_parameters(*compact_model);
  FP_RETURN_IF_ERROR(replace_file(out.state_dict_path, std::string_view(bytes.data(), bytes.size()),
                                  "exported weights"));
  const std::string spec = torch_export_spec(*compact_model);
  FP_RETURN_IF_ERROR(replace_file(out.spec_path, spec, "exported spec"));
  if (info) *info = out;
  return Status::ok_status();
}

}  // namespace fp
