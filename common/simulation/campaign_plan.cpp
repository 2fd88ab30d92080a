#include "simulation/campaign_plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "data/fashion_mnist.h"
#include "data/file_decoder.h"
#include "models/artifact.h"
#include "prune/shift_detector.h"
#include "simulation/class_selection.h"
#include "train/evaluator.h"
#include "train/general_model.h"
#include "util/clock.h"

namespace fp::sim {
namespace {

// Whether any variant reads a per-model shift threshold (prune.class_spread_share set or
// automatic, the default).
bool wants_spread_curve(const Scenario& s) {
  return std::any_of(s.variants.begin(), s.variants.end(),
                     [](const Variant& v) { return v.settings.prune.class_spread_share != 0; });
}

// Labeled data to measure the spread curve on: Fashion-MNIST's training images the model
// did not train on (as for best_classes), else, where none are left (FSDD, or all 60,000
// trained on), 2,000 of its own training samples spread over the set; `source` says which.
Result<Dataset> spread_calibration_data(const Scenario& s, const Dataset& training,
                                        std::string& source) {
  constexpr int64_t kSamples = 2000;
  if (s.data.dataset == "fashion-mnist" && s.data.general_samples > 0) {
    auto unseen = class_scoring_data(s, kSamples);
    if (unseen.ok()) {
      source = "training images it did not train on";
      return unseen;
    }
  }
  source = "of its own training samples (no unseen labeled general data)";
  // Evenly strided: a data set stored class by class (FSDD) keeps every class.
  const int64_t n = training.size(), take = std::min(kSamples, n);
  std::vector<int64_t> strided;
  for (int64_t i = 0; i < take; ++i) strided.push_back(i * n / take);
  return training.select(strided);
}

// Trains one general model, deterministically from the scenario's seed and `salt`, and
// scores it on `heldout` (samples it never trained on; none: not scored) and, per class,
// on `class_scoring` (none: not scored) before registering it. When a variant reads it,
// the artifact carries the model's shift-detector spread curve (train_general_model
// measures it on spread_calibration_data).
Result<SharedGeneral> train_general(const Scenario& s, const Dataset& data, const Dataset* heldout,
                                    uint64_t salt, coord::ModelRegistry& registry,
                                    const std::function<void(const std::string&)>& log,
                                    const std::atomic<bool>* stop,
                                    const Dataset* class_scoring = nullptr) {
  GeneralModelConfig gc;
  gc.stop = stop;
  gc.arch = s.general.arch;
  gc.width_mult = s.general.width_mult;
  gc.threads = s.general.threads;
  gc.input = builtin_input_spec(s.data.dataset);
  gc.train.optimizer = s.general.optimizer;
  gc.train.learning_rate = s.general.learning_rate;
  gc.train.epochs = s.general.epochs;
  gc.train.batch_size = s.general.batch_size;
  gc.train.seed = s.seed + salt;
  gc.meta = {{"scenario", s.name}, {"dataset", s.data.dataset}};
  Dataset calibration;  // the spread curve's data, when a variant reads it
  if (wants_spread_curve(s)) {
    FP_ASSIGN_OR_RETURN(calibration, spread_calibration_data(s, data, gc.calibration_source));
    gc.calibration = &calibration;
  }
  FP_ASSIGN_OR_RETURN(GeneralModel model, train_general_model(data, gc));
  if (gc.calibration) {
    FP_ASSIGN_OR_RETURN(std::vector<double> curve, spread_curve_from_meta(model.meta));
    log(fmt::format("class spread curve ({}): {:.3f}", model.meta["class_spread_calibration"],
                    fmt::join(curve, ", ")));
  }
  std::string scored;
  SharedGeneral out;
  ModelPtr net;  // the trained model as shipped, when it is to be scored
  if (class_scoring || (heldout && heldout->size() > 0)) {
    FP_ASSIGN_OR_RETURN(net, deserialize_model(model.artifact));
  }
  if (class_scoring) {
    FP_ASSIGN_OR_RETURN(EvalReport eval, evaluate(*net, *class_scoring));
    out.class_scores = eval.per_class_accuracy;
    model.meta["class_scores"] = nlohmann::json(out.class_scores).dump();
    model.meta["class_scoring_samples"] = std::to_string(class_scoring->size());
  }
  if (heldout && heldout->size() > 0) {
    // What a user would check before shipping it (issue 16, item 7).
    FP_ASSIGN_OR_RETURN(EvalReport eval, evaluate(*net, *heldout));
    model.meta["heldout_accuracy"] = fmt::format("{:.4f}", eval.accuracy);
    model.meta["heldout_samples"] = std::to_string(heldout->size());
    scored = fmt::format(", accuracy {:.1f}% on {} held-out samples", 100 * eval.accuracy,
                         heldout->size());
    // Trained, yet no better than guessing: every result would be about a useless model
    // (a learning rate of 2.5 trains one with a finite loss, so training does not fail).
    const double chance = 1.0 / static_cast<double>(model.spec.num_classes);
    // A warning, not a line of progress: counted and shown on the console with the others.
    if (eval.accuracy < 1.5 * chance)
      spdlog::warn(
          "the general model's held-out accuracy {:.1f}% is near chance ({:.1f}% for {} "
          "classes): check [general] (learning_rate, epochs, general_samples)",
          100 * eval.accuracy, 100 * chance, model.spec.num_classes);
  }
  FP_ASSIGN_OR_RETURN(auto record, registry.add(model.artifact, model.spec.to_json(),
                                                nlohmann::json(model.meta).dump(), unix_now()));
  log(fmt::format(
      "general {} (width {}) trained on {} samples, {} epoch(s): loss {:.4f}, {:.1f} s{}, "
      "model {} ({} KiB)",
      gc.arch, gc.width_mult, data.size(), gc.train.epochs, model.report.final_loss,
      model.report.wall_seconds, scored, record.sha256.substr(0, 12),
      model.artifact.size() / 1024));
  out.sha256 = record.sha256;
  out.seconds = model.report.wall_seconds;
  return out;
}

}  // namespace

Result<SharedGeneral> train_and_pick_classes(const Scenario& s, coord::ModelRegistry& registry,
                                             const std::function<void(const std::string&)>& log,
                                             const std::atomic<bool>* stop) {
  FP_ASSIGN_OR_RETURN(Dataset train, load_fashion_mnist(fashion_mnist_dir(s), Split::kTrain,
                                                        s.data.general_samples));
  FP_ASSIGN_OR_RETURN(Dataset scoring, class_scoring_data(s));
  FP_ASSIGN_OR_RETURN(Dataset test, load_fashion_mnist(fashion_mnist_dir(s), Split::kTest));
  // Salt 0, as setup_campaigns() gives the one shared model: the same bytes either way.
  FP_ASSIGN_OR_RETURN(SharedGeneral model,
                      train_general(s, train, &test, 0, registry, log, stop, &scoring));
  FP_ASSIGN_OR_RETURN(model.classes, best_classes(model.class_scores, s.best_classes));
  std::string scores;
  for (size_t c = 0; c < model.class_scores.size(); ++c) {
    scores += fmt::format("{}{}: {:.1f}%", c ? ", " : "", c, 100 * model.class_scores[c]);
  }
  log(
      fmt::format("best_classes = {}: classes {} (per-class accuracy on {} training images it "
                  "did not train on: {})",
                  s.best_classes, fmt::join(model.classes, ", "), scoring.size(), scores));
  return model;
}

int64_t tasks_per_individual(const Scenario& s) { return static_cast<int64_t>(s.variants.size()); }

PlannedCounts planned_counts(const Scenario& s, int64_t individuals) {
  const int64_t models = s.general.leave_individual_out ? individuals : 1;
  return {models * tasks_per_individual(s), individuals * tasks_per_individual(s)};
}

namespace {

// One campaign of the run, whole or not at all: the campaign, its place in the run and its
// tasks in one transaction, so a set-up stopped part way (a kill, a closed pipe) leaves only
// whole campaigns for --resume to keep.
// `tasks`: the individuals it has a task for (the left-out one, or everyone).
Result<PlannedCampaign> make_campaign(const Scenario& s, const Population& p, const Variant& v,
                                      const std::string& left_name,
                                      const std::vector<std::string>& tasks,
                                      const std::string& model_sha256, store::Store& store,
                                      store::RunStore& sim, int64_t run_id) {
  store::CampaignRecord c;
  c.name = s.name;
  if (!v.name.empty()) c.name += "/" + v.name;
  if (!left_name.empty()) c.name += "/" + left_name;
  c.model_sha256 = model_sha256;
  c.dataset = p.dataset;
  c.prune_config_json = v.assignment_json(s.privacy);
  c.baselines_json = nlohmann::json(s.baselines.methods).dump();
  c.sweep_targets_json = nlohmann::json(v.settings.sweep_targets).dump();
  c.open_enrollment = false;
  c.created_at = unix_now();
  sql::Transaction tx(store.db());
  FP_RETURN_IF_ERROR(tx.begin_status());
  FP_ASSIGN_OR_RETURN(int64_t id, store.create_campaign(c));
  PlannedCampaign planned{id, c.name, v.name, left_name, model_sha256};
  FP_RETURN_IF_ERROR(sim.add_campaign({id, run_id, v.name, left_name}));
  for (const auto& individual : tasks) FP_RETURN_IF_ERROR(store.add_task(id, individual).status());
  FP_RETURN_IF_ERROR(tx.commit());
  return planned;
}

}  // namespace

Result<CampaignPlan> setup_campaigns(const Scenario& s, const Population& p, store::Store& store,
                                     coord::ModelRegistry& registry, store::RunStore& sim,
                                     int64_t run_id,
                                     const std::function<void(const std::string&)>& log,
                                     const SharedGeneral* trained, const std::atomic<bool>* stop) {
  CampaignPlan plan;
  // What an earlier attempt of this run made before it stopped (--resume): kept, and only
  // the rest made. (left-out individual, variant) -> campaign id.
  std::map<std::pair<std::string, std::string>, int64_t> made;
  FP_ASSIGN_OR_RETURN(std::vector<store::RunCampaign> recorded, sim.campaigns(run_id));
  for (const auto& rc : recorded) made[{rc.left_out, rc.variant}] = rc.campaign_id;
  // One model for everyone, or one per individual that never saw its speaker.
  std::vector<int64_t> left_outs = {-1};
  if (s.general.leave_individual_out) {
    left_outs.clear();
    for (size_t i = 0; i < p.individuals.size(); ++i) left_outs.push_back(static_cast<int64_t>(i));
  }
  std::optional<Dataset> heldout;  // read when a shared model is trained
  for (int64_t left_out : left_outs) {
    const std::string left_name = left_out >= 0 ? p.individuals[left_out].name : "";
    std::vector<std::string> tasks;  // whom its campaigns have a task for
    if (left_out >= 0) {
      tasks = {left_name};
    } else {
      for (const auto& ind : p.individuals) tasks.push_back(ind.name);
    }
    std::vector<std::optional<store::CampaignRecord>> kept(s.variants.size());
    std::string model_sha256;  // the model an earlier attempt made campaigns with
    for (size_t i = 0; i < s.variants.size(); ++i) {
      auto it = made.find({left_name, s.variants[i].name});
      if (it == made.end()) continue;
      FP_ASSIGN_OR_RETURN(kept[i], store.campaign(it->second));
      if (!kept[i]) {
        return Status::corruption(fmt::format("run {} lists campaign {}, which {} does not hold",
                                              run_id, it->second, store.path()));
      }
      model_sha256 = kept[i]->model_sha256;
    }
    const bool all_kept =
        std::all_of(kept.begin(), kept.end(), [](auto& c) { return c.has_value(); });
    if (model_sha256.empty()) {
      SharedGeneral model;
      if (trained && left_out < 0) {
        model = *trained;
      } else {
        FP_ASSIGN_OR_RETURN(Dataset general, general_training_data(s, p, left_out));
        if (left_out >= 0) log("general model without " + left_name);
        if (s.data.general_samples > general.size()) {
          log(
              fmt::format("data.general_samples asks for {}, but only {} are there to train on: "
                          "the general model trains on those",
                          s.data.general_samples, general.size()));
        }
        // One shared model is scored; per-individual (leave-one-out) models are not.
        if (left_out < 0 && !heldout) heldout = general_heldout_data(s, p);
        FP_ASSIGN_OR_RETURN(
            model, train_general(s, general, left_out < 0 ? &*heldout : nullptr,
                                 static_cast<uint64_t>(left_out + 1), registry, log, stop));
      }
      ++plan.models_trained;
      plan.train_seconds += model.seconds;
      model_sha256 = model.sha256;
    } else if (!all_kept) {
      log(fmt::format("general model {} of the run's earlier attempt{}: not trained again",
                      model_sha256.substr(0, 12),
                      left_out >= 0 ? " (without " + left_name + ")" : ""));
    }
    for (size_t i = 0; i < s.variants.size(); ++i) {
      if (!kept[i]) {
        FP_ASSIGN_OR_RETURN(PlannedCampaign c, make_campaign(s, p, s.variants[i], left_name, tasks,
                                                             model_sha256, store, sim, run_id));
        plan.tasks += static_cast<int64_t>(tasks.size());
        plan.campaigns.push_back(std::move(c));
        continue;
      }
      FP_ASSIGN_OR_RETURN(store::TaskCounts counts, store.task_counts(kept[i]->id));
      plan.tasks += counts.total();
      plan.campaigns.push_back(
          {kept[i]->id, kept[i]->name, s.variants[i].name, left_name, kept[i]->model_sha256});
    }
  }
  // A campaign an older fineprune made in pieces (no transaction), or a database edited.
  const PlannedCounts planned = planned_counts(s, static_cast<int64_t>(p.individuals.size()));
  if (static_cast<int64_t>(plan.campaigns.size()) != planned.campaigns ||
      plan.tasks != planned.tasks) {
    return Status::invalid_argument(fmt::format(
        "run {} holds {} of {} campaign(s) and {} of {} task(s) its scenario makes: it cannot "
        "go on; start it over with --fresh",
        run_id, plan.campaigns.size(), planned.campaigns, plan.tasks, planned.tasks));
  }
  return plan;
}

}  // namespace fp::sim
