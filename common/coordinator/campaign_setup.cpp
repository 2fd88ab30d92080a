#include "coordinator/campaign_setup.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "data/file_decoder.h"
#include "experiment/personalize_settings.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "models/pruned_state.h"
#include "protocol/validate.h"
#include "prune/pruner.h"
#include "util/file_io.h"
#include "util/sha256.h"

namespace fp::coord {

Result<store::ModelRecord> register_artifact(ModelRegistry& registry, const std::string& path,
                                             double now) {
  FP_ASSIGN_OR_RETURN(std::string bytes, read_regular_file(path, "model artifact"));
  return register_artifact_bytes(registry, bytes, path, now);
}

namespace {

Result<ModelPtr> usable_model(const std::string& bytes, const std::string& source,
                              ArtifactInfo* info) {
  auto model = deserialize_model(bytes, info);
  if (!model.ok()) {
    return Status::corruption(source +
                              " is not a usable model artifact: " + model.status().message());
  }
  // A personalized model is no general model: as a campaign's, every task failed ("a compact
  // model cannot be pruned further"), or devices pruned a pruned model and reported its
  // accuracy as the general model's.
  if (const std::string pruned = pruned_state(**model); !pruned.empty())
    return Status::invalid_argument(source + " is a personalized model (" + pruned +
                                    "), not a general one: register the general model it came "
                                    "from");
  return model;
}

// The record artifact bytes read from `source` would be registered with (`path`: the
// source), once they load as a usable model.
Result<store::ModelRecord> artifact_record(const std::string& bytes, const std::string& source) {
  ArtifactInfo info;
  FP_ASSIGN_OR_RETURN(ModelPtr model, usable_model(bytes, source, &info));
  if (const std::string note = pre_zeroed_note(*model); !note.empty())
    spdlog::warn("the general model {}: {}", source, note);
  nlohmann::json meta(info.meta);
  meta["source"] = source;
  // Addressed as the registry addresses it: the SHA-256 of the whole file.
  return store::ModelRecord{sha256_hex(bytes),
                            static_cast<int64_t>(bytes.size()),
                            info.spec.to_json(),
                            meta.dump(),
                            source,
                            0};
}

}  // namespace

Status check_artifact_bytes(const std::string& bytes, const std::string& source) {
  return usable_model(bytes, source, nullptr).status();
}

Result<store::ModelRecord> register_artifact_bytes(ModelRegistry& registry,
                                                   const std::string& bytes,
                                                   const std::string& source, double now) {
  FP_ASSIGN_OR_RETURN(store::ModelRecord record, artifact_record(bytes, source));
  return registry.add(bytes, record.spec_json, record.meta_json, now);
}

bool is_model_sha_prefix(const std::string& model) {
  if (model.size() < kShortShaMin || model.size() >= 64) return false;
  for (char ch : model)
    if (!std::isxdigit(static_cast<unsigned char>(ch)) ||
        std::isupper(static_cast<unsigned char>(ch)))
      return false;
  std::error_code ec;
  return !std::filesystem::exists(model, ec);  // a file of that name is a path
}

Result<std::string> full_model_sha(store::Store& store, const std::string& prefix) {
  FP_ASSIGN_OR_RETURN(auto models, store.models());
  std::vector<std::string> matches, known;
  for (const auto& m : models) {
    if (m.sha256.rfind(prefix, 0) == 0) matches.push_back(m.sha256);
    known.push_back(m.sha256.substr(0, 12));
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty())
    return Status::not_found(
        "no registered model's SHA-256 starts with '" + prefix + "'" +
        (known.empty() ? std::string(" (none is registered)")
                       : " (registered: " + fmt::format("{}", fmt::join(known, ", ")) + ")"));
  return Status::invalid_argument("'" + prefix + "' starts the SHA-256 of " +
                                  std::to_string(matches.size()) +
                                  " registered models: give more of it");
}

Result<store::ModelRecord> resolve_model(ModelRegistry& registry, store::Store& store,
                                         const std::string& model, double now) {
  if (model == "latest") {
    FP_ASSIGN_OR_RETURN(auto models, store.models());
    if (models.empty()) {
      return Status::not_found(
          "no model registered yet: run 'fp-coordinator train' or "
          "'fp-coordinator register <artifact>' first");
    }
    return registry.find(models.back().sha256);
  }
  if (proto::is_sha256_hex(model)) return registry.find(model);
  if (is_model_sha_prefix(model)) {
    FP_ASSIGN_OR_RETURN(std::string sha, full_model_sha(store, model));
    return registry.find(sha);
  }
  return register_artifact(registry, model, now);
}

namespace {

// The SHA-256 `model` names without registering anything: the newest model for "latest"
// ("" when none is), the hash itself, or an artifact file's hash (nullopt when the file
// cannot be read: the stored campaign's model is in the registry, so a restart need not
// have the file any more).
Result<std::optional<std::string>> configured_model_sha(store::Store& store,
                                                        const std::string& model) {
  if (model == "latest") {
    FP_ASSIGN_OR_RETURN(auto models, store.models());
    return std::optional<std::string>(models.empty() ? "" : models.back().sha256);
  }
  if (proto::is_sha256_hex(model)) return std::optional<std::string>(model);
  if (is_model_sha_prefix(model)) {
    auto sha = full_model_sha(store, model);
    return std::optional<std::string>(sha.ok() ? *sha : "");
  }
  auto bytes = read_file(model, "model artifact");
  if (!bytes.ok()) {
    spdlog::warn("cannot compare the config's model with the stored campaign's: {}",
                 bytes.status().to_string());
    return std::optional<std::string>();
  }
  return std::optional<std::string>(sha256_hex(*bytes));
}

std::string input_kind_words(const std::string& kind) {
  return kind == "image" ? "pictures" : kind == "log_mel" ? "recordings (log-mel)" : kind;
}

// A built-in data set's devices feed the model their own kind of input (pictures or
// recordings): a model of the other kind would fail every task on them. Those holding the
// data set's samples (fashion-mnist, fsdd; a device folder is decoded to the model's shape)
// feed them as they are: a model of another input shape or class count failed every task on
// them too (a LibTorch trace as the reason).
Status check_model_input(const store::ModelRecord& model, const std::string& dataset) {
  const InputSpec feeds = builtin_input_spec(dataset);
  auto spec = ModelSpec::from_json(model.spec_json);
  // A model registered before register refused personalized ones.
  if (spec.ok() && spec->is_compact())
    return Status::invalid_argument("model " + model.sha256.substr(0, 12) +
                                    " is a compact, personalized model (its pruned units are "
                                    "gone), not a general one: devices cannot prune it");
  if (!spec.ok() || feeds.kind.empty()) return Status::ok_status();
  if (!spec->input.kind.empty() && spec->input.kind != feeds.kind)
    return Status::invalid_argument(
        "its data set " + dataset + " gives " + input_kind_words(feeds.kind) + " but model " +
        model.sha256.substr(0, 12) + " takes " + input_kind_words(spec->input.kind));
  const auto shape = builtin_input_shape(dataset);
  if (!shape || shape->fits(*spec)) return Status::ok_status();
  return Status::invalid_argument(fmt::format(
      "its data set {} gives {}x{}x{} inputs of {} classes but model {} takes {}x{}x{} inputs "
      "of {} classes",
      dataset, shape->channels, shape->height, shape->width, shape->classes,
      model.sha256.substr(0, 12), spec->in_channels, spec->height, spec->width, spec->num_classes));
}

// A layer to protect that the campaign's model does not have would fail every task on the
// devices ("prune: protected layer ... is not in the model"): refused when the campaign is made.
Status check_protected_layers(const store::ModelRecord& model, const std::string& settings) {
  FP_ASSIGN_OR_RETURN(PruneConfig prune, PruneConfig::from_json(settings));
  if (prune.protected_layers.empty()) return Status::ok_status();
  FP_ASSIGN_OR_RETURN(ModelSpec spec, ModelSpec::from_json(model.spec_json));
  FP_ASSIGN_OR_RETURN(const std::vector<std::string> names, layer_names_of(spec));
  for (const auto& p : prune.protected_layers) {
    if (std::find(names.begin(), names.end(), p) != names.end()) continue;
    return Status::invalid_argument(
        fmt::format("campaign.prune: protected layer '{}' is not a layer of the campaign's model "
                    "({}: {})",
                    p, spec.arch, fmt::join(names, ", ")));
  }
  return Status::ok_status();
}

bool same_json(const std::string& a, const std::string& b) {
  return nlohmann::json::parse(a, nullptr, false) == nlohmann::json::parse(b, nullptr, false);
}

// Personalization settings as a device runs them: a key missing from the JSON (a campaign
// stored before the setting existed) is the shared default, which is what its tasks get.
bool same_settings(const std::string& a, const std::string& b) {
  auto filled = [](const std::string& text) {
    nlohmann::json given = nlohmann::json::parse(text, nullptr, false);
    if (!given.is_object()) return given;
    nlohmann::json j = nlohmann::json::parse(personalize_settings_json(PersonalizeConfig{}));
    j.update(given);
    return j;
  };
  return filled(a) == filled(b);
}

}  // namespace

Result<std::vector<std::string>> campaign_differences(store::Store& store,
                                                      const store::CampaignRecord& stored,
                                                      const CampaignSection& c) {
  std::vector<std::string> out;
  FP_ASSIGN_OR_RETURN(std::optional<std::string> sha, configured_model_sha(store, c.model));
  if (sha && *sha != stored.model_sha256)
    out.push_back("model (stored " + stored.model_sha256.substr(0, 12) + ", the config's '" +
                  c.model + "' is " + (sha->empty() ? "none" : sha->substr(0, 12)) + ")");
  if (c.dataset != stored.dataset)
    out.push_back("dataset (stored " + stored.dataset + ", the config's " + c.dataset + ")");
  if (!same_settings(c.prune_config_json, stored.prune_config_json))
    out.push_back("the personalization settings ([campaign.prune], selector, privacy)");
  if (!same_json(nlohmann::json(c.baselines).dump(), stored.baselines_json))
    out.push_back("baselines (stored " + stored.baselines_json + ")");
  if (!same_json(nlohmann::json(c.sweep).dump(), stored.sweep_targets_json))
    out.push_back("sweep (stored " + stored.sweep_targets_json + ")");
  // An open campaign's tasks are whoever announced themselves: only its openness counts.
  std::set<std::string> have, want(c.individuals.begin(), c.individuals.end());
  if (!stored.open_enrollment) {
    FP_ASSIGN_OR_RETURN(auto tasks, store.tasks(stored.id));
    for (const auto& t : tasks) have.insert(t.individual);
  }
  auto described = [](bool open, size_t n) {
    return open ? std::string("open to every announced individual")
                : "a list of " + std::to_string(n);
  };
  if (c.individuals.empty() != stored.open_enrollment || have != want)
    out.push_back("individuals (stored: " + described(stored.open_enrollment, have.size()) +
                  "; the config: " + described(c.individuals.empty(), want.size()) +
                  (c.individuals.empty() == stored.open_enrollment ? ", not the same" : "") + ")");
  return out;
}

namespace {

// The stored campaign of the config's name when a restart may resume it, nullopt when none
// has that name, otherwise an InvalidArgument naming what differs.
Result<std::optional<store::CampaignRecord>> resumable_campaign(store::Store& store,
                                                                const CampaignSection& c) {
  FP_ASSIGN_OR_RETURN(auto existing, store.find_campaign(c.name));
  if (!existing) return existing;
  FP_ASSIGN_OR_RETURN(std::vector<std::string> differ, campaign_differences(store, *existing, c));
  if (differ.empty()) return existing;
  std::string list;
  for (const auto& d : differ) list += (list.empty() ? "" : "; ") + d;
  return Status::invalid_argument(
      "campaign '" + c.name + "' already exists (id " + std::to_string(existing->id) +
      ") with other settings than the config's: " + list +
      ". A restart resumes a campaign as it was created: restore those settings, or give the "
      "new ones a new [campaign] name");
}

// What a new campaign's model must pass before the campaign is stored.
Status check_new_campaign_model(const store::ModelRecord& model, const CampaignSection& c) {
  FP_RETURN_IF_ERROR(check_protected_layers(model, c.prune_config_json));
  if (Status fed = check_model_input(model, c.dataset); !fed.ok())
    return Status::invalid_argument(fed.message() + " (campaign.dataset, campaign.model)");
  return Status::ok_status();
}

store::CampaignRecord new_campaign_record(const CampaignSection& c, const std::string& model_sha,
                                          double now) {
  store::CampaignRecord record;
  record.name = c.name;
  record.model_sha256 = model_sha;
  record.dataset = c.dataset;
  record.prune_config_json = c.prune_config_json;
  record.baselines_json = nlohmann::json(c.baselines).dump();
  record.sweep_targets_json = nlohmann::json(c.sweep).dump();
  record.open_enrollment = c.individuals.empty();
  record.created_at = now;
  return record;
}

std::string new_campaign_words(const CampaignSection& c, const std::string& model_sha) {
  return fmt::format("model {}, data set {}, {}", model_sha.substr(0, 12), c.dataset,
                     c.individuals.empty()
                         ? std::string("open to every announced individual")
                         : std::to_string(c.individuals.size()) + " individual(s)");
}

// An error about campaign `c` that names it ("campaign 'x': ..."), once.
Status naming_campaign(const CampaignSection& c, const Status& s) {
  const std::string name = "campaign '" + c.name + "'";
  return s.message().rfind(name, 0) == 0 ? s : s.with_context(name + ": ");
}

// The other open-enrollment campaigns over `c`'s data set that are handed out now, which
// serving `c` (open too) supersedes: a new [campaign] name is how a fleet ships a new model,
// and every new device ran the replaced campaigns' tasks as well, one per model ever shipped.
Result<std::vector<store::CampaignRecord>> superseded_by(store::Store& store,
                                                         const CampaignSection& c) {
  std::vector<store::CampaignRecord> out;
  if (!c.individuals.empty()) return out;  // a fixed list ends by itself
  FP_ASSIGN_OR_RETURN(auto campaigns, store.campaigns());
  for (auto& other : campaigns)
    if (other.open_enrollment && other.status == "running" && other.dataset == c.dataset &&
        other.name != c.name)
      out.push_back(std::move(other));
  return out;
}

std::string superseded_words(const std::vector<store::CampaignRecord>& superseded) {
  std::string names;
  for (const auto& o : superseded) names += (names.empty() ? "'" : ", '") + o.name + "'";
  return names.empty()
             ? ""
             : "; supersedes " + names +
                   " (no longer handed out: " + std::to_string(superseded.size()) + " campaign(s))";
}

// Serving `c` (stored as `id`, with `status`): it runs, the campaigns it supersedes do not.
Status serve_only(store::Store& store, const CampaignSection& c, int64_t id,
                  const std::string& status) {
  FP_ASSIGN_OR_RETURN(auto superseded, superseded_by(store, c));
  for (const auto& o : superseded) {
    FP_RETURN_IF_ERROR(store.set_campaign_status(o.id, store::kCampaignSuperseded));
    FP_ASSIGN_OR_RETURN(store::TaskCounts counts, store.task_counts(o.id));
    spdlog::info(
        "campaign '{}' superseded by '{}' (both open to every device on {}): no longer handed "
        "out; {} of its {} task(s) ended, {} pending kept as they are",
        o.name, c.name, c.dataset, counts.done + counts.failed, counts.total(), counts.pending);
  }
  if (status == store::kCampaignSuperseded) {  // served again: it runs again
    FP_RETURN_IF_ERROR(store.set_campaign_status(id, "running"));
    spdlog::info("campaign '{}' was superseded; serving it again", c.name);
  }
  return Status::ok_status();
}

Result<int64_t> ensure_campaign_unnamed(ModelRegistry& registry, store::Store& store,
                                        const CampaignSection& c, double now) {
  FP_ASSIGN_OR_RETURN(auto existing, resumable_campaign(store, c));
  if (existing) {
    spdlog::info("resuming campaign '{}' (id {}, status {})", c.name, existing->id,
                 existing->status);
    FP_RETURN_IF_ERROR(serve_only(store, c, existing->id, existing->status));
    return existing->id;
  }
  FP_ASSIGN_OR_RETURN(auto model, resolve_model(registry, store, c.model, now));
  FP_RETURN_IF_ERROR(check_new_campaign_model(model, c));
  FP_ASSIGN_OR_RETURN(int64_t id, store.create_campaign(new_campaign_record(c, model.sha256, now)));
  for (const auto& individual : c.individuals) {
    FP_RETURN_IF_ERROR(store.add_task(id, individual).status());
  }
  spdlog::info("campaign '{}' created: {}", c.name, new_campaign_words(c, model.sha256));
  FP_RETURN_IF_ERROR(serve_only(store, c, id, "running"));
  return id;
}

Result<std::string> plan_campaign_unnamed(ModelRegistry& registry, store::Store& store,
                                          const CampaignSection& c) {
  FP_ASSIGN_OR_RETURN(auto existing, resumable_campaign(store, c));
  if (existing) {
    FP_ASSIGN_OR_RETURN(store::TaskCounts counts, store.task_counts(existing->id));
    FP_ASSIGN_OR_RETURN(auto superseded, superseded_by(store, c));
    return fmt::format("campaign '{}' resumed (id {}, {}: {} of {} task(s) ended){}", c.name,
                       existing->id, existing->status, counts.done + counts.failed, counts.total(),
                       superseded_words(superseded));
  }
  // As ensure_campaign would resolve it, but an artifact path is read, not registered.
  const bool registered =
      c.model == "latest" || proto::is_sha256_hex(c.model) || is_model_sha_prefix(c.model);
  store::ModelRecord model;
  if (registered) {
    FP_ASSIGN_OR_RETURN(model, resolve_model(registry, store, c.model, 0));
  } else {
    FP_ASSIGN_OR_RETURN(std::string bytes, read_file(c.model, "model artifact"));
    FP_ASSIGN_OR_RETURN(model, artifact_record(bytes, c.model));
  }
  FP_RETURN_IF_ERROR(check_new_campaign_model(model, c));
  // A registered model's file must still hold its bytes, as for a stored campaign.
  if (registered)
    FP_RETURN_IF_ERROR(check_campaign_model(registry, new_campaign_record(c, model.sha256, 0)));
  FP_ASSIGN_OR_RETURN(auto superseded, superseded_by(store, c));
  return fmt::format(
      "campaign '{}' made at the start: {}{}{}", c.name, new_campaign_words(c, model.sha256),
      registered ? "" : " (the artifact registered then)", superseded_words(superseded));
}

}  // namespace

Result<int64_t> ensure_campaign(ModelRegistry& registry, store::Store& store,
                                const CampaignSection& c, double now) {
  auto id = ensure_campaign_unnamed(registry, store, c, now);
  if (!id.ok()) return naming_campaign(c, id.status());
  return id;
}

Result<std::string> plan_campaign(ModelRegistry& registry, store::Store& store,
                                  const CampaignSection& c) {
  auto plan = plan_campaign_unnamed(registry, store, c);
  if (!plan.ok()) return naming_campaign(c, plan.status());
  return plan;
}

Status check_campaign_model(ModelRegistry& registry, const store::CampaignRecord& c) {
  auto cannot = [&](const std::string& why, const std::string& advice) {
    return Status::invalid_argument("campaign '" + c.name + "' cannot be served: " + why + "; " +
                                    advice);
  };
  const std::string again = "register its model again (fp-coordinator register <artifact>)";
  auto model = registry.find(c.model_sha256);
  if (!model.ok()) return cannot(model.status().message(), again);
  auto bytes = read_file(model->path, "model file");
  if (!bytes.ok()) return cannot(bytes.status().message(), again);
  const std::string actual = sha256_hex(*bytes);
  if (actual != c.model_sha256)
    return cannot("model file " + model->path + " holds other bytes than model " +
                      c.model_sha256.substr(0, 12) + " (SHA-256 " + actual.substr(0, 12) + ")",
                  again);
  Status fed = check_model_input(*model, c.dataset);
  if (!fed.ok())
    return cannot(fed.message(),
                  "give it a model trained on " + c.dataset + ", under a new campaign name");
  return Status::ok_status();
}

Status check_served_campaigns(ModelRegistry& registry, store::Store& store,
                              const std::string& configured) {
  FP_ASSIGN_OR_RETURN(auto campaigns, store.campaigns());
  for (const auto& c : campaigns) {
    if (c.status != "running") continue;  // done or superseded: nothing handed out
    Status servable = check_campaign_model(registry, c);
    if (servable.ok()) continue;
    if (c.name == configured) return servable;
    spdlog::warn("{} (its tasks will fail on the devices)", servable.message());
  }
  return Status::ok_status();
}

Status check_exit_when_done(store::Store& store, const std::string& database, bool configured) {
  if (configured) return Status::ok_status();
  FP_ASSIGN_OR_RETURN(auto campaigns, store.campaigns());
  if (!campaigns.empty()) return Status::ok_status();
  return Status::invalid_argument(
      "--exit-when-done: database " + database +
      " holds no campaign and the configuration has no [campaign]: nothing would ever finish, "
      "and serving would wait for ever");
}

}  // namespace fp::coord
