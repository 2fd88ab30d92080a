#include "prune/pruner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "models/model_factory.h"

namespace fp {
// Named, not anonymous: RepeatedPruner::Cache (declared in the header) holds them.
namespace pruner_internal {

struct Candidate {
  std::string name;
  PrunableLayer layer;  // a holder: shares the model's layer, so masks set here stick
  const ActivationStats* stats;
  torch::Tensor zeroed_per_unit;  // int64 [units]: zero effective weights, before this pruning
};

// Global unit ranking: (normalised score, candidate, unit), lowest first, and each
// candidate layer's live units before pruning.
struct GlobalUnitOrder {
  bool ready = false;
  std::vector<std::tuple<double, size_t, int64_t>> units;
  std::vector<int64_t> active;
};

}  // namespace pruner_internal

namespace {

using pruner_internal::Candidate;
using pruner_internal::GlobalUnitOrder;

torch::Tensor unit_scores(const Candidate& c, Criterion criterion);

// Expands a per-input-channel vector to the weight's shape via input_channel_of().
torch::Tensor per_weight_input_energy(const PrunableLayerImpl& layer, const torch::Tensor& e_in) {
  const auto& o = layer.options();
  const int64_t units = o.out;
  if (o.kind == LayerKind::kLinear) return e_in.view({1, -1}).expand({units, o.in});
  const int64_t in_per_group = o.in / o.groups, out_per_group = o.out / o.groups;
  auto group = torch::arange(units, torch::kLong).div(out_per_group, "floor");
  auto idx =
      group.view({-1, 1}) * in_per_group + torch::arange(in_per_group, torch::kLong).view({1, -1});
  return e_in.index_select(0, idx.flatten())
      .view({units, in_per_group, 1, 1})
      .expand_as(layer.weight());
}

// Per-weight importance, the weight's shape, float64. Higher means more used.
torch::Tensor weight_scores(const Candidate& c, Criterion criterion) {
  torch::Tensor w = c.layer->weight().detach().abs().to(torch::kDouble);
  if (criterion == Criterion::kActivationWeightedMagnitude)
    return w * per_weight_input_energy(*c.layer, c.stats->input_energy()).sqrt();
  std::vector<int64_t> view(w.dim(), 1);
  view[0] = -1;
  return w * unit_scores(c, criterion).view(view);
}

// Per-unit importance [units], float64.
torch::Tensor unit_scores(const Candidate& c, Criterion criterion) {
  switch (criterion) {
    case Criterion::kEnergy:
      return c.stats->energy();
    case Criterion::kMean:
      return c.stats->mean().abs();  // sign-free for linear (kNone) units
    case Criterion::kFiringRate:
      return c.stats->firing_rate();
    case Criterion::kActivationWeightedMagnitude:
      return weight_scores(c, criterion).flatten(1).sum(1);
  }
  return {};
}

// Scores divided by their mean over live entries, so layers compare on one scale.
torch::Tensor normalised(const torch::Tensor& scores, const torch::Tensor& live) {
  auto live_scores = scores.masked_select(live);
  double mean = live_scores.numel() ? live_scores.mean().item<double>() : 0.0;
  return mean > 0 ? scores / mean : torch::zeros_like(scores);
}

// Indices (into flat `scores`) of the `k` lowest-scoring live entries, ties by index.
std::vector<int64_t> lowest_live(const torch::Tensor& scores, const torch::Tensor& live,
                                 int64_t k) {
  auto masked =
      torch::where(live.flatten(), scores.flatten(),
                   torch::full({}, std::numeric_limits<double>::infinity(), scores.options()));
  auto order = std::get<1>(torch::sort(masked, /*stable=*/true, 0, false));
  k = std::min<int64_t>(k, live.sum().item<int64_t>());
  auto first = order.slice(0, 0, std::max<int64_t>(k, 0)).contiguous();
  return std::vector<int64_t>(first.data_ptr<int64_t>(), first.data_ptr<int64_t>() + first.numel());
}

void prune_units(PrunableLayerImpl& layer, const std::vector<int64_t>& units) {
  if (!units.empty()) layer.unit_mask().index_fill_(0, torch::tensor(units, torch::kLong), 0.0);
}

void prune_weights(PrunableLayerImpl& layer, const std::vector<int64_t>& flat) {
  if (!flat.empty())
    layer.mutable_weight_mask().view({-1}).index_fill_(0, torch::tensor(flat, torch::kLong), 0.0);
}

Status prune_per_layer(std::vector<Candidate>& cands, double fraction, const PruneConfig& cfg) {
  for (auto& c : cands) {
    auto& layer = *c.layer;
    if (cfg.granularity == Granularity::kUnit) {
      const int64_t units = layer.num_units();
      const int64_t want =
          std::min<int64_t>(std::llround(fraction * units), units - cfg.min_units_per_layer);
      const int64_t have = units - layer.num_active_units();
      if (want <= have) continue;
      auto live = layer.unit_mask() > 0;
      prune_units(layer, lowest_live(unit_scores(c, cfg.criterion), live, want - have));
    } else {
      const int64_t n = layer.num_weights();
      const int64_t want =
          std::min<int64_t>(std::llround(fraction * n), n - cfg.min_units_per_layer);
      const int64_t have = layer.num_zeroed_weights();
      if (want <= have) continue;
      auto live = layer.effective_weight() != 0;
      prune_weights(layer, lowest_live(weight_scores(c, cfg.criterion), live, want - have));
    }
  }
  return Status::ok_status();
}

// The live units of every candidate layer, lowest normalised score first.
GlobalUnitOrder rank_units(const std::vector<Candidate>& cands, Criterion criterion) {
  GlobalUnitOrder r;
  r.active.resize(cands.size());
  for (size_t ci = 0; ci < cands.size(); ++ci) {
    auto& layer = *cands[ci].layer;
    auto live = (layer.unit_mask() > 0).contiguous();
    auto s = normalised(unit_scores(cands[ci], criterion), live).contiguous();
    r.active[ci] = layer.num_active_units();
    const bool* is_live = live.data_ptr<bool>();
    const double* score = s.data_ptr<double>();
    for (int64_t u = 0; u < layer.num_units(); ++u)
      if (is_live[u]) r.units.emplace_back(score[u], ci, u);
  }
  std::stable_sort(r.units.begin(), r.units.end());
  r.ready = true;
  return r;
}

// Prunes down the ranking until `need` more weights are zero.
Status prune_global_units(std::vector<Candidate>& cands, int64_t need, const PruneConfig& cfg,
                          const GlobalUnitOrder& order) {
  std::vector<int64_t> active = order.active;
  int64_t zeroed = 0;
  std::vector<std::vector<int64_t>> pruned(cands.size());
  for (const auto& [score, ci, u] : order.units) {
    if (zeroed >= need) break;
    if (active[ci] - 1 < cfg.min_units_per_layer) continue;
    zeroed +=
        cands[ci].layer->weights_per_unit() - cands[ci].zeroed_per_unit.data_ptr<int64_t>()[u];
    pruned[ci].push_back(u);
    --active[ci];
  }
  for (size_t ci = 0; ci < cands.size(); ++ci) prune_units(*cands[ci].layer, pruned[ci]);
  return Status::ok_status();
}

Status prune_global_weights(std::vector<Candidate>& cands, int64_t need, const PruneConfig& cfg) {
  std::vector<torch::Tensor> scores, lives;
  for (auto& c : cands) {
    auto live = c.layer->effective_weight() != 0;
    scores.push_back(normalised(weight_scores(c, cfg.criterion), live).flatten());
    lives.push_back(live.flatten());
  }
  auto all = torch::cat(scores), all_live = torch::cat(lives);
  auto chosen = lowest_live(all, all_live, need);
  std::sort(chosen.begin(), chosen.end());
  size_t next = 0;
  int64_t offset = 0;
  for (auto& c : cands) {
    const int64_t n = c.layer->num_weights();
    std::vector<int64_t> mine;
    for (; next < chosen.size() && chosen[next] < offset + n; ++next)
      mine.push_back(chosen[next] - offset);
    prune_weights(*c.layer, mine);
    offset += n;
  }
  return Status::ok_status();
}

}  // namespace

// What prune_with_stats computes before it looks at the target, kept for the next one.
struct RepeatedPruner::Cache {
  std::vector<pruner_internal::Candidate> cands;
  int64_t total = 0, zeroed_elsewhere = 0, cand_total = 0, zeroed_now = 0;
  pruner_internal::GlobalUnitOrder order;  // filled by the first global unit pruning that needs it
  std::vector<int64_t> unused_classes;     // the output layer's, with output_usage_threshold
};

double SparsityReport::sparsity() const {
  return prunable_weights ? static_cast<double>(zeroed_weights) / prunable_weights : 0.0;
}

std::string pre_zeroed_note(const PrunableNet& general) {
  const SparsityReport r = measure_sparsity(general);
  if (r.prunable_weights == 0 || r.zeroed_weights * 100 < r.prunable_weights) return {};
  return fmt::format(
      "{} of its {} prunable weights are zero already ({:.1f}%): sparsity counts them, as the "
      "paper's measure does, so it reads {:.1f}% before any unit is removed and a sparsity "
      "target is met by removing fewer units than on a dense model",
      r.zeroed_weights, r.prunable_weights, 100 * r.sparsity(), 100 * r.sparsity());
}

double SparsityReport::overall_sparsity() const {
  return parameters ? static_cast<double>(zeroed_weights) / parameters : 0.0;
}

SparsityReport measure_sparsity(const PrunableNet& model) {
  torch::NoGradGuard no_grad;
  SparsityReport r;
  for (size_t i = 0; i < model.layers().size(); ++i) {
    const auto& layer = model.layers()[i];
    LayerSparsity l{model.layer_names()[i], layer->num_units(), layer->num_active_units(),
                    layer->num_weights(), layer->num_zeroed_weights()};
    r.prunable_weights += l.weights;
    r.zeroed_weights += l.zeroed_weights;
    r.layers.push_back(l);
  }
  r.parameters = count_parameters(model);
  return r;
}

MaskState snapshot_masks(const PrunableNet& model) {
  MaskState s;
  for (const auto& layer : model.layers()) {
    s.unit_masks.push_back(layer->unit_mask().clone());
    s.weight_masks.push_back(layer->weight_mask_copy());
  }
  return s;
}

void restore_masks(PrunableNet& model, const MaskState& state) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < model.layers().size(); ++i) {
    PrunableLayer layer = model.layers()[i];
    layer->unit_mask().copy_(state.unit_masks.at(i));
    layer->set_weight_mask(state.weight_masks.at(i));
  }
}

MaskCheckpoint::MaskCheckpoint(const PrunableNet& model) : state_(snapshot_masks(model)) {
  for (const auto& layer : model.layers()) {
    unit_versions_.push_back(layer->unit_mask()._version());
    weight_versions_.push_back(layer->weight_mask()._version());
  }
}

void MaskCheckpoint::restore(PrunableNet& model) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < model.layers().size(); ++i) {
    PrunableLayer layer = model.layers()[i];
    if (unit_mask_written(model, i)) {
      layer->unit_mask().copy_(state_.unit_masks.at(i));
      unit_versions_[i] = layer->unit_mask()._version();
    }
    if (weight_mask_written(model, i)) {
      layer->set_weight_mask(state_.weight_masks.at(i));
      weight_versions_[i] = layer->weight_mask()._version();
    }
  }
}

bool MaskCheckpoint::unit_mask_written(const PrunableNet& model, size_t i) const {
  return model.layers().at(i)->unit_mask()._version() != unit_versions_.at(i);
}

bool MaskCheckpoint::weight_mask_written(const PrunableNet& model, size_t i) const {
  return model.layers().at(i)->weight_mask()._version() != weight_versions_.at(i);
}

// The classes the individual does not use (mean probability below threshold) among the
// output layer's live ones, keeping at least `min_units` of the most used.
Result<std::vector<int64_t>> output_units_by_usage(const PrunableLayerImpl& out,
                                                   const ActivationStats* stats,
                                                   const PruneConfig& config) {
  if (!stats || stats->count == 0)
    return Status::invalid_argument("prune: no activation statistics for the output layer");
  const torch::Tensor mean = stats->mean().to(torch::kDouble).contiguous();
  const torch::Tensor live = (out.unit_mask() > 0).contiguous();
  const int64_t keep_at_least = std::min<int64_t>(config.min_units_per_layer, out.num_units());
  const torch::Tensor order =
      std::get<1>(torch::sort(mean, /*stable=*/true, 0, /*descending=*/true)).contiguous();
  const double* usage = mean.data_ptr<double>();
  const bool* is_live = live.data_ptr<bool>();
  const int64_t* by_usage = order.data_ptr<int64_t>();
  std::vector<int64_t> drop;
  for (int64_t i = keep_at_least; i < order.numel(); ++i) {
    const int64_t u = by_usage[i];
    if (is_live[u] && usage[u] < config.output_usage_threshold) drop.push_back(u);
  }
  return drop;
}

namespace {

// prune_with_stats; with `cache`, what does not depend on the target is read from it (or
// computed into it at the first call).
Status prune_cached(PrunableNet& model, const LayerStats& stats, const PruneConfig& config,
                    RepeatedPruner::Cache& cache, bool reuse, bool* unreachable = nullptr) {
  FP_RETURN_IF_ERROR(config.validate());
  if (model.spec().is_compact())  // folded masks: further pruning would be ignored
    return Status::invalid_argument(
        "prune: a compact model cannot be pruned further; prune the masked model and compact it");
  torch::NoGradGuard no_grad;
  if (!reuse) cache = RepeatedPruner::Cache{};
  const bool output_by_usage = config.prune_output_layer && config.output_usage_threshold > 0;
  if (output_by_usage) {
    // The same classes at every target: chosen once (the selector prunes once a candidate).
    PrunableLayer out = model.layers().back();
    if (!reuse) {
      auto it = stats.find(model.layer_names().back());
      FP_ASSIGN_OR_RETURN(
          cache.unused_classes,
          output_units_by_usage(*out, it == stats.end() ? nullptr : &it->second, config));
    }
    prune_units(*out, cache.unused_classes);
  }
  if (!reuse) {
    const bool needs_inputs = config.criterion == Criterion::kActivationWeightedMagnitude;
    for (size_t i = 0; i < model.layers().size(); ++i) {
      const auto& name = model.layer_names()[i];
      auto layer = model.layers()[i];
      cache.total += layer->num_weights();
      const bool is_protected =
          std::count(config.protected_layers.begin(), config.protected_layers.end(), name) > 0 ||
          (layer->is_output() && (!config.prune_output_layer || output_by_usage)) ||
          (!layer->is_output() && !config.prune_hidden);
      if (is_protected) {
        cache.zeroed_elsewhere += layer->num_zeroed_weights();
        continue;
      }
      auto it = stats.find(name);
      if (it == stats.end() || it->second.count == 0)
        return Status::invalid_argument("prune: no activation statistics for layer '" + name + "'");
      if (needs_inputs && it->second.in_count == 0)
        return Status::invalid_argument(
            "prune: criterion activation_weighted_magnitude needs input energies for layer '" +
            name + "' (record with with_input_energy)");
      cache.cands.push_back({name, layer, &it->second, layer->zeroed_weights_per_unit()});
      cache.cand_total += layer->num_weights();
    }
    for (const auto& p : config.protected_layers)
      if (!model.find_layer(p))
        return Status::invalid_argument("prune: protected layer '" + p + "' is not in the model");
    cache.zeroed_now = cache.zeroed_elsewhere;
    for (auto& c : cache.cands) cache.zeroed_now += c.zeroed_per_unit.sum().item<int64_t>();
  }
  auto& cands = cache.cands;
  if (cands.empty() && !config.prune_hidden) return Status::ok_status();  // output-only, done
  if (cands.empty()) return Status::invalid_argument("prune: every layer is protected");

  const int64_t goal = std::llround(config.target_sparsity * static_cast<double>(cache.total));
  double fraction = static_cast<double>(goal - cache.zeroed_elsewhere) / cache.cand_total;
  if (!config.prune_hidden) fraction = std::min(fraction, 1.0);  // the output layer alone
  if (fraction > 1.0) {
    if (unreachable) *unreachable = true;
    return Status::invalid_argument("prune: target sparsity " +
                                    std::to_string(config.target_sparsity) +
                                    " is unreachable with the protected layers left dense");
  }
  if (config.scope == Scope::kPerLayer) return prune_per_layer(cands, fraction, config);

  const int64_t need = goal - cache.zeroed_now;
  if (need <= 0) return Status::ok_status();
  if (config.granularity != Granularity::kUnit) return prune_global_weights(cands, need, config);
  if (!cache.order.ready) cache.order = rank_units(cands, config.criterion);
  return prune_global_units(cands, need, config, cache.order);
}

}  // namespace

Status prune_with_stats(PrunableNet& model, const LayerStats& stats, const PruneConfig& config) {
  RepeatedPruner::Cache once;
  return prune_cached(model, stats, config, once, /*reuse=*/false);
}

RepeatedPruner::RepeatedPruner(const LayerStats& stats, PruneConfig config)
    : stats_(stats), config_(std::move(config)) {}
RepeatedPruner::~RepeatedPruner() = default;

Status RepeatedPruner::prune(PrunableNet& model, double target_sparsity) {
  config_.target_sparsity = target_sparsity;
  const bool reuse = cache_ != nullptr;
  if (!reuse) cache_ = std::make_unique<Cache>();
  last_unreachable_ = false;
  Status status = prune_cached(model, stats_, config_, *cache_, reuse, &last_unreachable_);
  // A failed first call leaves nothing half-made; an unreachable target fails after the
  // cache is whole, and the next target may be reachable.
  if (!status.ok() && !last_unreachable_) cache_.reset();
  return status;
}

Result<SparsityReport> fine_prune(PrunableNet& model, const torch::Tensor& unlabeled_inputs,
                                  const PruneConfig& config) {
  FP_RETURN_IF_ERROR(config.validate());
  if (!unlabeled_inputs.defined() || unlabeled_inputs.size(0) == 0)
    return Status::invalid_argument("fine_prune: no adaptation data");
  const bool with_inputs = config.criterion == Criterion::kActivationWeightedMagnitude;
  const int steps = config.schedule == Schedule::kIterative ? config.iterative_steps : 1;
  for (int step = 1; step <= steps; ++step) {
    PruneConfig step_config = config;
    step_config.target_sparsity = config.target_sparsity * step / steps;
    LayerStats stats = record_activations(model, unlabeled_inputs, config.batch_size, with_inputs);
    FP_RETURN_IF_ERROR(prune_with_stats(model, stats, step_config));
  }
  return measure_sparsity(model);
}

}  // namespace fp
