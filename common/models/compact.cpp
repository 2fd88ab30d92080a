#include "models/compact.h"

#include <algorithm>
#include <string>

#include "models/model_factory.h"

namespace fp {
namespace {

// Which output units and input features of every layer compaction keeps.
struct Plan {
  std::vector<torch::Tensor> keep_out, keep_in;  // bool, per layer
};

Status space_error(size_t space, const std::string& what) {
  return Status::internal("compact: channel space " + std::to_string(space) + ": " + what);
}

Result<Plan> make_plan(const PrunableNet& model) {
  const auto& layers = model.layers();
  if (layers.empty()) return Status::invalid_argument("compact: the model has no layers");
  Plan p;
  for (const auto& l : layers) {
    p.keep_out.push_back(torch::ones({l->num_units()}, torch::kBool));
    p.keep_in.push_back(torch::ones({l->options().in}, torch::kBool));
  }
  p.keep_out.back() = layers.back()->unit_mask() > 0;
  if (!p.keep_out.back().any().item<bool>())
    return Status::invalid_argument("compact: every class of the output layer is pruned");

  const auto& spaces = model.channel_spaces();
  for (size_t s = 0; s < spaces.size(); ++s) {
    const ChannelSpace& sp = spaces[s];
    if (sp.fixed) continue;
    if (sp.producers.empty()) return space_error(s, "has no producer");
    const int64_t channels = layers[sp.producers[0]]->num_units();
    torch::Tensor live;
    if (sp.depthwise >= 0) {
      live = layers[sp.depthwise]->unit_mask() > 0;
    } else {
      live = torch::zeros({channels}, torch::kBool);
      for (size_t i : sp.producers) {
        if (layers[i]->num_units() != channels) return space_error(s, "producers differ in width");
        live = live.logical_or(layers[i]->unit_mask() > 0);
      }
    }
    if (live.numel() != channels) return space_error(s, "depthwise width differs");
    // A space no unit uses still needs one channel for its readers' shapes.
    if (!live.any().item<bool>()) live[0] = true;
    for (size_t i : sp.producers) p.keep_out[i] = live;
    if (sp.depthwise >= 0) {
      p.keep_out[sp.depthwise] = live;
      p.keep_in[sp.depthwise] = live;
    }
    // Each channel's `positions` features in a row (repeat_interleave, at a fraction of its cost).
    const torch::Tensor in =
        sp.positions > 1 ? live.view({-1, 1}).expand({-1, sp.positions}).reshape({-1}) : live;
    for (size_t i : sp.readers) {
      if (layers[i]->options().in != in.numel())
        return space_error(s, "reader " + model.layer_names()[i] + " reads " +
                                  std::to_string(layers[i]->options().in) + " features, not " +
                                  std::to_string(in.numel()));
      p.keep_in[i] = in;
    }
  }
  return p;
}

// Entries of a bool tensor that are true, counted in place: the sparsity selector compacts a
// model per candidate, and a torch reduction per layer costs more than the count.
int64_t count_true(const torch::Tensor& keep) {
  const torch::Tensor k = keep.to(torch::kBool).contiguous();
  const bool* p = k.data_ptr<bool>();
  return std::count(p, p + k.numel(), true);
}

// The indices of the true entries of `keep`, undefined when all are true (nothing to select:
// the selector's candidates keep most rows of most layers).
torch::Tensor indices_unless_all(const torch::Tensor& keep) {
  if (count_true(keep) == keep.numel()) return {};
  return keep.nonzero().flatten();
}

// dst = src's entries `idx` along `dim` (all of them when `idx` is undefined), written in
// place: no temporary of the kept size, then a copy of it.
void select_into(torch::Tensor& dst, const torch::Tensor& src, int64_t dim,
                 const torch::Tensor& idx) {
  if (idx.defined())
    torch::index_select_out(dst, src, dim, idx);
  else
    dst.copy_(src);
}

// Copies the kept rows (and input columns) of `src` into the compact layer `dst`.
Status copy_layer(PrunableLayer src, PrunableLayer dst, const torch::Tensor& keep_out,
                  const torch::Tensor& keep_in, const std::string& name) {
  const auto& o = src->options();
  const torch::Tensor out_idx = indices_unless_all(keep_out);
  torch::Tensor in_idx;
  if (o.kind == LayerKind::kLinear || o.groups == 1) {
    in_idx = indices_unless_all(keep_in);
  } else if (o.groups == o.in && o.in == o.out) {  // depthwise: input c feeds unit c
    if (!keep_in.equal(keep_out))
      return Status::internal("compact: depthwise layer " + name +
                              " keeps other inputs than units");
  } else if (!keep_in.all().item<bool>() || !keep_out.all().item<bool>()) {
    return Status::internal("compact: grouped conv " + name + " cannot be compacted");
  }
  const torch::Tensor w = src->masked_weight();
  std::vector<int64_t> shape = w.sizes().vec();
  if (out_idx.defined()) shape[0] = out_idx.numel();
  if (in_idx.defined()) shape[1] = in_idx.numel();
  if (!dst->weight().sizes().equals(shape))
    return Status::internal("compact: layer " + name +
                            " kept weights do not fit its compact shape");
  if (out_idx.defined() && in_idx.defined())
    torch::index_select_out(dst->weight(), w.index_select(0, out_idx), 1, in_idx);
  else if (in_idx.defined())
    torch::index_select_out(dst->weight(), w, 1, in_idx);
  else
    select_into(dst->weight(), w, 0, out_idx);
  if (src->bias().defined()) select_into(dst->bias(), src->bias(), 0, out_idx);
  auto copy_bn = [&](auto& from, auto& to) {
    if (!from) return;
    select_into(to->weight, from->weight, 0, out_idx);
    select_into(to->bias, from->bias, 0, out_idx);
    select_into(to->running_mean, from->running_mean, 0, out_idx);
    select_into(to->running_var, from->running_var, 0, out_idx);
    to->num_batches_tracked.copy_(from->num_batches_tracked);
  };
  copy_bn(src->batch_norm(), dst->batch_norm());
  copy_bn(src->batch_norm1d(), dst->batch_norm1d());
  select_into(dst->unit_mask(), src->unit_mask(), 0, out_idx);
  if (dst->class_ids().defined()) {
    const torch::Tensor ids = src->class_ids().defined()
                                  ? src->class_ids()
                                  : torch::arange(src->num_units(), torch::kLong);
    select_into(dst->class_ids(), ids, 0, out_idx);
  }
  dst->fold_masks();
  return Status::ok_status();
}

}  // namespace

Result<std::vector<torch::Tensor>> kept_units(const PrunableNet& masked) {
  torch::NoGradGuard no_grad;
  FP_ASSIGN_OR_RETURN(Plan plan, make_plan(masked));
  return plan.keep_out;
}

Result<CompactNet> compact(const PrunableNet& masked) {
  torch::NoGradGuard no_grad;
  FP_ASSIGN_OR_RETURN(Plan plan, make_plan(masked));
  ModelSpec spec = masked.spec();
  spec.widths.clear();
  for (const auto& keep : plan.keep_out) spec.widths.push_back(count_true(keep));
  FP_ASSIGN_OR_RETURN(ModelPtr model, build_model_to_overwrite(spec));

  const auto& src = masked.layers();
  const auto& dst = model->layers();
  if (src.size() != dst.size()) return Status::internal("compact: layer count changed");
  CompactNet out;
  try {
    for (size_t i = 0; i < src.size(); ++i) {
      FP_RETURN_IF_ERROR(
          copy_layer(src[i], dst[i], plan.keep_out[i], plan.keep_in[i], masked.layer_names()[i]));
      out.stats.removed_units += src[i]->num_units() - dst[i]->num_units();
      if (!dst[i]->is_output())
        out.stats.coupled_dead_weights +=
            (dst[i]->num_units() - dst[i]->num_active_units()) * dst[i]->weights_per_unit();
    }
  } catch (const c10::Error& e) {
    return Status::internal(std::string("compact: ") + e.what_without_backtrace());
  }
  model->eval();
  out.kept_inputs = std::move(plan.keep_in);
  out.stats.parameters = count_parameters(*model);
  out.stats.weights = count_prunable_weights(*model);
  out.model = std::move(model);
  return out;
}

}  // namespace fp
