#include "models/model_factory.h"

#include <functional>
#include <map>

#include "models/zoo.h"
#include "util/text.h"

namespace fp {

Result<ModelPtr> build_model(const ModelSpec& spec) {
  FP_RETURN_IF_ERROR(spec.validate());
  static const std::map<std::string, std::function<ModelPtr(const ModelSpec&)>> kMakers = {
      {"mlp", make_mlp},         {"cnn", make_cnn},
      {"vgg7", make_vgg},        {"vgg11", make_vgg},
      {"vgg19", make_vgg},       {"resnet18", make_resnet},
      {"resnet50", make_resnet}, {"mobilenetv2", make_mobilenetv2},
  };
  auto it = kMakers.find(spec.arch);
  if (it == kMakers.end())
    return Status::invalid_argument("model spec: architecture '" + spec.arch +
                                    "' is not built into this binary");
  // Out of memory is the machine's state, not the spec's fault: a model file loaded under a
  // memory limit was called damaged ("spec does not build"), and an operator may delete it.
  const auto out_of_memory = [&](const std::string& why) {
    return Status::unavailable("out of memory building the " + spec.arch + " model (" + why +
                               "): free memory or raise the process's limit");
  };
  try {
    return it->second(spec);
  } catch (const std::bad_alloc&) {
    return out_of_memory("std::bad_alloc");
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("can't allocate memory") != std::string::npos) {
      return out_of_memory(what.substr(0, what.find('\n')));
    }
    return Status::invalid_argument("model spec " + spec.to_json() + " cannot be built: " + what);
  }
}

Result<ModelPtr> build_model_to_overwrite(const ModelSpec& spec) {
  WeightInitScope zero_weights(WeightInit::kZero);
  return build_model(spec);
}

Result<std::vector<std::string>> layer_names_of(const ModelSpec& spec) {
  FP_ASSIGN_OR_RETURN(ModelPtr built, build_model_to_overwrite(spec));
  return built->layer_names();
}

void copy_state(const PrunableNet& src, PrunableNet& dst) {
  torch::NoGradGuard no_grad;
  auto sp = src.named_parameters(true), dp = dst.named_parameters(true);
  for (auto& item : sp) dp[item.key()].copy_(item.value());
  auto sb = src.named_buffers(true), db = dst.named_buffers(true);
  // Weight masks go through their layers (below), so that a view of ones stays one.
  for (auto& item : sb)
    if (!ends_with(item.key(), "weight_mask")) db[item.key()].copy_(item.value());
  TORCH_CHECK(src.layers().size() == dst.layers().size(), "copy_state: layer counts differ");
  for (size_t i = 0; i < src.layers().size(); ++i) {
    PrunableLayer to = dst.layers()[i];
    to->set_weight_mask(src.layers()[i]->weight_mask());
  }
}

ModelPtr clone_model(const PrunableNet& model) {
  auto built = build_model_to_overwrite(model.spec());
  TORCH_CHECK(built.ok(), "clone_model: ", built.status().to_string());
  ModelPtr copy = built.value();
  copy_state(model, *copy);
  if (copy->spec().is_compact())  // inference-only, as compact() and load_model leave it
    for (PrunableLayer layer : copy->layers()) layer->fold_masks();
  copy->train(model.is_training());
  return copy;
}

int64_t count_parameters(const PrunableNet& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

int64_t count_prunable_weights(const PrunableNet& model) {
  int64_t n = 0;
  for (const auto& l : model.layers()) n += l->num_weights();
  return n;
}

}  // namespace fp
