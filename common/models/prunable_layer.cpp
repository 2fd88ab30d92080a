#include "models/prunable_layer.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "prune/activation_stats.h"

namespace fp {
namespace F = torch::nn::functional;

namespace {
thread_local WeightInit weight_init = WeightInit::kRandom;

// Ones of `shape` as a broadcast view of a single 1: no memory of the shape's size.
torch::Tensor ones_view(torch::IntArrayRef shape, const torch::TensorOptions& options) {
  return torch::ones({1}, options).expand(shape);
}

// Whether `t` is such a view: the stride of every dimension longer than 1 zero (one element in
// memory; expand leaves other strides for dimensions of size 1), and that element 1.
bool is_ones_view(const torch::Tensor& t) {
  if (!t.defined() || t.numel() <= 1 || t.scalar_type() != torch::kFloat || !t.device().is_cpu())
    return false;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1 && t.stride(d) != 0) return false;
  return *t.data_ptr<float>() == 1.0f;
}

// Undefined (optional), or float on the CPU, contiguous, with `n` entries (-1: any).
bool plain_float(const torch::Tensor& t, int64_t n = -1) {
  return !t.defined() || (t.scalar_type() == torch::kFloat && t.device().is_cpu() &&
                          t.is_contiguous() && (n < 0 || t.numel() == n));
}

// An evaluating BatchNorm (gamma, beta, running mean and variance; gamma and beta may be
// undefined) folded into a layer's weights `w` and bias `b` (may be undefined): weights
// times scale = gamma / sqrt(var + eps) per unit, bias shift = beta - mean * scale + b * scale.
// Without gradients, plain float tensors fold in one loop with the tensor expression's float
// operations in its order (the same bits): a fresh model, such as each candidate's compact
// model, folds at its first forward, where the expression's dozen small operations a layer
// cost more than the arithmetic.
std::pair<torch::Tensor, torch::Tensor> fold_batch_norm(
    const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& gamma,
    const torch::Tensor& beta, const torch::Tensor& mean, const torch::Tensor& var, double eps) {
  const int64_t units = w.size(0);
  const bool loop = !torch::GradMode::is_enabled() && mean.defined() && var.defined() &&
                    plain_float(w) && plain_float(b, units) && plain_float(gamma, units) &&
                    plain_float(beta, units) && plain_float(mean, units) && plain_float(var, units);
  if (!loop) {
    torch::Tensor scale = torch::rsqrt(var + eps);
    if (gamma.defined()) scale = scale * gamma;
    torch::Tensor shift = -mean * scale;
    if (beta.defined()) shift = shift + beta;
    if (b.defined()) shift = shift + b * scale;
    std::vector<int64_t> view(w.dim(), 1);
    view[0] = -1;
    return {w * scale.view(view), shift};
  }
  torch::Tensor folded = torch::empty_like(w), shift = torch::empty({units}, var.options());
  const int64_t per_unit = units == 0 ? 0 : w.numel() / units;
  const float e = static_cast<float>(eps);
  const float* wp = w.data_ptr<float>();
  const float* vp = var.data_ptr<float>();
  const float* mp = mean.data_ptr<float>();
  const float* gp = gamma.defined() ? gamma.data_ptr<float>() : nullptr;
  const float* bp = beta.defined() ? beta.data_ptr<float>() : nullptr;
  const float* lb = b.defined() ? b.data_ptr<float>() : nullptr;
  float* fp = folded.data_ptr<float>();
  float* sp = shift.data_ptr<float>();
  for (int64_t u = 0; u < units; ++u) {
    float scale = 1.0f / std::sqrt(vp[u] + e);
    if (gp) scale = scale * gp[u];
    float sh = -mp[u] * scale;
    if (bp) sh = sh + bp[u];
    if (lb) sh = sh + lb[u] * scale;
    sp[u] = sh;
    const float* row = wp + u * per_unit;
    float* out = fp + u * per_unit;
    for (int64_t j = 0; j < per_unit; ++j) out[j] = row[j] * scale;
  }
  return {folded, shift};
}
}  // namespace

WeightInitScope::WeightInitScope(WeightInit init) : was_(weight_init) { weight_init = init; }
WeightInitScope::~WeightInitScope() { weight_init = was_; }

LayerOptions linear_options(int64_t in, int64_t out, Activation activation) {
  LayerOptions o;
  o.kind = LayerKind::kLinear;
  o.in = in;
  o.out = out;
  o.activation = activation;
  return o;
}

LayerOptions classifier_options(int64_t in, int64_t num_classes) {
  LayerOptions o = linear_options(in, num_classes, Activation::kSoftmax);
  o.output_layer = true;
  return o;
}

LayerOptions conv_bn_options(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                             Activation activation, int64_t groups) {
  LayerOptions o;
  o.kind = LayerKind::kConv;
  o.in = in;
  o.out = out;
  o.kernel = kernel;
  o.stride = stride;
  o.padding = kernel / 2;
  o.groups = groups;
  o.bias = false;  // BatchNorm's shift makes a conv bias redundant
  o.batch_norm = true;
  o.activation = activation;
  return o;
}

PrunableLayerImpl::PrunableLayerImpl(const LayerOptions& o) : options_(o) {
  TORCH_CHECK(o.in > 0 && o.out > 0, "PrunableLayer needs positive in/out, got ", o.in, "/", o.out);
  std::vector<int64_t> shape;
  if (o.kind == LayerKind::kConv) {
    TORCH_CHECK(o.groups > 0 && o.in % o.groups == 0 && o.out % o.groups == 0,
                "conv groups must divide in and out channels");
    shape = {o.out, o.in / o.groups, o.kernel, o.kernel};
  } else {
    shape = {o.out, o.in};
  }
  // He initialisation for ReLU networks; the classifier gets the same (fan-in) scale.
  const double fan_in = static_cast<double>(weights_per_unit());
  weight_ = register_parameter(
      "weight", weight_init == WeightInit::kMeta
                    ? torch::empty(shape, torch::TensorOptions().device(torch::kMeta))
                : weight_init == WeightInit::kZero ? torch::zeros(shape)
                                                   : torch::randn(shape) * std::sqrt(2.0 / fan_in));
  if (o.bias) bias_ = register_parameter("bias", torch::zeros({o.out}));
  unit_mask_ = register_buffer("unit_mask", torch::ones({o.out}));
  weight_mask_ = register_buffer("weight_mask", ones_view(shape, torch::kFloat));
  // Known to be ones: a fresh layer (a compact model's, a clone's) need not scan it.
  unit_mask_ones_ = OnesCheck{unit_mask_, unit_mask_._version(), true};
  if (o.class_space > 0) {
    TORCH_CHECK(o.output_layer && o.out <= o.class_space,
                "class_space is for a classifier with at most class_space units");
    class_ids_ = register_buffer("class_ids", torch::arange(o.out, torch::kLong));
  }
  if (o.batch_norm) {
    if (o.kind == LayerKind::kConv)
      bn2d_ = register_module("bn", torch::nn::BatchNorm2d(o.out));
    else
      bn1d_ = register_module("bn", torch::nn::BatchNorm1d(o.out));
  }
}

torch::Tensor& PrunableLayerImpl::mutable_weight_mask() {
  if (is_ones_view(weight_mask_)) {
    torch::NoGradGuard no_grad;
    // set_data keeps the tensor (the registered buffer, its version counter): the values are
    // the same ones, now in memory of their own.
    weight_mask_.set_data(torch::ones(weight_mask_.sizes(), weight_mask_.options()));
  }
  return weight_mask_;
}

void PrunableLayerImpl::set_weight_mask(const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  if (is_ones_view(mask) && mask.sizes() == weight_mask_.sizes()) {
    if (is_ones_view(weight_mask_)) return;  // the same values already
    weight_mask_.set_data(ones_view(weight_mask_.sizes(), weight_mask_.options()));
    weight_mask_.unsafeGetTensorImpl()->bump_version();  // its values changed
    return;
  }
  mutable_weight_mask().copy_(mask);
}

torch::Tensor PrunableLayerImpl::weight_mask_copy() const {
  return is_ones_view(weight_mask_) ? ones_view(weight_mask_.sizes(), weight_mask_.options())
                                    : weight_mask_.clone();
}

bool PrunableLayerImpl::all_ones(const torch::Tensor& mask, OnesCheck& check) {
  if (mask.is_inference()) return false;  // no version counter: always multiply
  if (is_ones_view(mask)) return true;
  const int64_t version = mask._version();
  if (!check.seen.is_same(mask) || check.version != version) {
    check.seen = mask;
    check.version = version;
    if (mask.scalar_type() == torch::kFloat && mask.is_contiguous() && mask.device().is_cpu()) {
      // Scanned in place: a torch reduction per check cost more than the scan on small masks.
      const float* p = mask.data_ptr<float>();
      const int64_t n = mask.numel();
      bool other = false;  // no early exit: the loop vectorizes
      for (int64_t i = 0; i < n; ++i) other |= p[i] != 1.0f;
      check.ones = !other;
    } else {
      check.ones = mask.numel() == 0 || mask.min().item<float>() == 1.0f;
    }
  }
  return check.ones;
}

bool PrunableLayerImpl::FoldedBatchNorm::matches(const std::vector<torch::Tensor>& now) const {
  if (now.size() != sources.size()) return false;
  for (size_t i = 0; i < now.size(); ++i) {
    if (!now[i].is_same(sources[i])) return false;
    if (now[i].defined() && now[i]._version() != versions[i]) return false;
  }
  return true;
}

void PrunableLayerImpl::FoldedBatchNorm::keep(const std::vector<torch::Tensor>& now,
                                              const torch::Tensor& w, const torch::Tensor& b) {
  sources.clear();
  versions.clear();
  for (const auto& t : now) {
    if (t.defined() && t.is_inference()) return;  // no version counter: never kept
    sources.push_back(t);
    versions.push_back(t.defined() ? t._version() : -1);
  }
  weight = w;
  bias = b;
}

int64_t PrunableLayerImpl::weights_per_unit() const {
  if (options_.kind == LayerKind::kLinear) return options_.in;
  return options_.in / options_.groups * options_.kernel * options_.kernel;
}

torch::Tensor PrunableLayerImpl::masked_weight() {
  return folded_ || all_ones(weight_mask_, weight_mask_ones_) ? weight_ : weight_ * weight_mask_;
}

torch::Tensor PrunableLayerImpl::forward(const torch::Tensor& x) {
  const auto& o = options_;
  torch::Tensor w, b = bias_;
  // A BatchNorm in eval mode is a fixed scale and shift per unit: folded into the weights
  // and bias here, the layer reads its output once instead of twice (BatchNorm was
  // 27-46 % of a ResNet18 or MobileNetV2 inference pass; docs/BENCHMARKS.md). Its own
  // mode decides, not the layer's: AdaBN trains only the BatchNorms (batch statistics).
  const bool fold_bn = (bn2d_ && !bn2d_->is_training()) || (bn1d_ && !bn1d_->is_training());
  if (fold_bn) {
    auto fold = [&](const auto& bn) {
      // Without gradients the folded tensors are kept until one they came from changes:
      // folding anew at each call cost more than BatchNorm on small batches.
      const bool keep = !torch::GradMode::is_enabled();
      const std::vector<torch::Tensor> sources = {
          weight_, weight_mask_, bias_, bn->weight, bn->bias, bn->running_mean, bn->running_var};
      if (keep && folded_bn_.matches(sources)) {
        w = folded_bn_.weight;
        b = folded_bn_.bias;
        return;
      }
      std::tie(w, b) = fold_batch_norm(masked_weight(), b, bn->weight, bn->bias, bn->running_mean,
                                       bn->running_var, bn->options.eps());
      if (keep) folded_bn_.keep(sources, w, b);
    };
    if (bn2d_) fold(bn2d_);
    if (bn1d_) fold(bn1d_);
  } else {
    w = masked_weight();
  }
  torch::Tensor y;
  if (o.kind == LayerKind::kConv) {
    y = F::conv2d(
        x, w, F::Conv2dFuncOptions().bias(b).stride(o.stride).padding(o.padding).groups(o.groups));
    if (bn2d_ && !fold_bn) y = bn2d_(y);
  } else {
    y = F::linear(x, w, b);
    if (bn1d_ && !fold_bn) y = bn1d_(y);
  }
  // `y` is this layer's own fresh output: where no gradient is recorded the activation
  // overwrites it instead of allocating another tensor of its size.
  const bool in_place = !(torch::GradMode::is_enabled() && y.requires_grad());
  switch (o.activation) {
    case Activation::kReLU:
      y = in_place ? torch::relu_(y) : torch::relu(y);
      break;
    case Activation::kReLU6:
      y = in_place ? torch::clamp_(y, 0.0, 6.0) : torch::clamp(y, 0.0, 6.0);
      break;
    case Activation::kNone:
    case Activation::kSoftmax:
      break;  // softmax is applied by the loss / predictor
  }
  const bool spatial = y.dim() == 4;
  if ((o.output_layer || !folded_) && !all_ones(unit_mask_, unit_mask_ones_)) {
    torch::Tensor mask = spatial ? unit_mask_.view({1, -1, 1, 1}) : unit_mask_.view({1, -1});
    if (o.output_layer)
      y = torch::where(mask > 0, y, torch::full({}, kPrunedLogit, y.options()));
    else
      y = y * mask;
  }
  output_positions_ = spatial ? y.size(2) * y.size(3) : 1;
  if (recorder_) {
    torch::NoGradGuard no_grad;
    recorder_->accumulate(o.activation == Activation::kSoftmax ? torch::softmax(y, 1) : y, x,
                          o.activation == Activation::kSoftmax);
  }
  if (class_ids_.defined()) {
    // Back to the original classes: removed ones get the pruned logit.
    torch::Tensor full = torch::full({y.size(0), o.class_space}, kPrunedLogit, y.options());
    y = full.index_copy(1, class_ids_, y);
  }
  return y;
}

void PrunableLayerImpl::fold_masks() {
  torch::NoGradGuard no_grad;
  // Masks of ones change nothing: compaction folds fresh layers, whose masks mostly are.
  if (!all_ones(weight_mask_, weight_mask_ones_)) weight_.mul_(weight_mask_);
  // A pruned class keeps its logit mask (forward).
  if (!options_.output_layer && !all_ones(unit_mask_, unit_mask_ones_)) {
    std::vector<int64_t> view(weight_.dim(), 1);
    view[0] = -1;
    weight_.mul_(unit_mask_.view(view));
    if (bias_.defined()) bias_.mul_(unit_mask_);
    auto scale_shift = [&](torch::Tensor& gamma, torch::Tensor& beta) {
      if (gamma.defined()) gamma.mul_(unit_mask_);
      if (beta.defined()) beta.mul_(unit_mask_);
    };
    if (bn2d_) scale_shift(bn2d_->weight, bn2d_->bias);
    if (bn1d_) scale_shift(bn1d_->weight, bn1d_->bias);
  }
  // Ones from here on, held as a view (never read again: masked_weight, forward), so that a
  // compact model in memory is no larger than the tensors it keeps.
  set_weight_mask(ones_view(weight_mask_.sizes(), weight_mask_.options()));
  folded_ = true;
}

torch::Tensor PrunableLayerImpl::effective_weight() const {
  std::vector<int64_t> view(weight_.dim(), 1);
  view[0] = -1;
  return weight_ * weight_mask_ * unit_mask_.view(view);
}

torch::Tensor PrunableLayerImpl::zeroed_weights_per_unit() const {
  torch::NoGradGuard no_grad;
  if (weight_.scalar_type() != torch::kFloat || weight_mask_.scalar_type() != torch::kFloat ||
      unit_mask_.scalar_type() != torch::kFloat)  // the zoo's are float; others as tensors
    return (effective_weight() == 0).flatten(1).sum(1).to(torch::kLong).contiguous();
  const int64_t units = options_.out, per_unit = weights_per_unit();
  // A folded layer's weight mask is ones (fold_masks), as is a view of ones: not read, and
  // w * 1 is w to the bit.
  const torch::Tensor w = weight_.detach().contiguous(),
                      m = folded_ || is_ones_view(weight_mask_) ? torch::Tensor()
                                                                : weight_mask_.contiguous(),
                      u = unit_mask_.contiguous();
  torch::Tensor zeroed = torch::empty({units}, torch::kLong);
  const float* wp = w.data_ptr<float>();
  const float* mp = m.defined() ? m.data_ptr<float>() : nullptr;
  const float* up = u.data_ptr<float>();
  int64_t* out = zeroed.data_ptr<int64_t>();
  for (int64_t o = 0; o < units; ++o) {
    int64_t n = 0;  // effective_weight()'s products, in its order
    const int64_t first = o * per_unit, last = first + per_unit;
    if (mp) {
      for (int64_t j = first; j < last; ++j) n += wp[j] * mp[j] * up[o] == 0.0f;
    } else {
      for (int64_t j = first; j < last; ++j) n += wp[j] * up[o] == 0.0f;
    }
    out[o] = n;
  }
  return zeroed;
}

int64_t PrunableLayerImpl::num_zeroed_weights() const {
  return zeroed_weights_per_unit().sum().item<int64_t>();
}

int64_t PrunableLayerImpl::num_active_units() const {
  if (unit_mask_.scalar_type() != torch::kFloat) return (unit_mask_ > 0).sum().item<int64_t>();
  const torch::Tensor u = unit_mask_.contiguous();  // counted in place: asked per candidate
  const float* p = u.data_ptr<float>();
  return std::count_if(p, p + u.numel(), [](float v) { return v > 0; });
}

int64_t PrunableLayerImpl::input_channel_of(int64_t unit, int64_t j) const {
  if (options_.kind == LayerKind::kLinear) return j;
  const int64_t out_per_group = options_.out / options_.groups;
  const int64_t in_per_group = options_.in / options_.groups;
  return (unit / out_per_group) * in_per_group + j / (options_.kernel * options_.kernel);
}

int64_t PrunableLayerImpl::macs_dense() const { return output_positions_ * num_weights(); }

int64_t PrunableLayerImpl::macs_effective() const {
  return output_positions_ * (num_weights() - num_zeroed_weights());
}

}  // namespace fp
