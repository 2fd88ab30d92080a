#include "coordinator/campaign_setup.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "models/artifact.h"
#include "protocol/validate.h"
#include "util/file_io.h"

namespace fp::coord {

Result<store::ModelRecord> register_artifact(ModelRegistry& registry, const std::string& path,
                                             double now) {
  FP_ASSIGN_OR_RETURN(std::string bytes, read_file(path, "model artifact"));
  return register_artifact_bytes(registry, bytes, path, now);
}

Result<store::ModelRecord> register_artifact_bytes(ModelRegistry& registry,
                                                   const std::string& bytes,
                                                   const std::string& source, double now) {
  ArtifactInfo info;
  auto model = deserialize_model(bytes, &info);
  if (!model.ok()) {
    return Status::corruption(source +
                              " is not a usable model artifact: " + model.status().message());
  }
  nlohmann::json meta(info.meta);
  meta["source"] = source;
  return registry.add(bytes, info.spec.to_json(), meta.dump(), now);
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
  return register_artifact(registry, model, now);
}

Result<int64_t> ensure_campaign(ModelRegistry& registry, store::Store& store,
                                const CampaignSection& c, double now) {
  FP_ASSIGN_OR_RETURN(auto existing, store.find_campaign(c.name));
  if (existing) {
    spdlog::info("resuming campaign '{}' (id {}, status {})", c.name, existing->id,
                 existing->status);
    return existing->id;
  }
  FP_ASSIGN_OR_RETURN(auto model, resolve_model(registry, store, c.model, now));
  store::CampaignRecord record;
  record.name = c.name;
  record.model_sha256 = model.sha256;
  record.dataset = c.dataset;
  record.prune_config_json = c.prune_config_json;
  record.baselines_json = nlohmann::json(c.baselines).dump();
  record.sweep_targets_json = nlohmann::json(c.sweep).dump();
  record.open_enrollment = c.individuals.empty();
  record.created_at = now;
  FP_ASSIGN_OR_RETURN(int64_t id, store.create_campaign(record));
  for (const auto& individual : c.individuals) {
    FP_RETURN_IF_ERROR(store.add_task(id, individual).status());
  }
  spdlog::info("campaign '{}' created: model {}, data set {}, {}", c.name,
               model.sha256.substr(0, 12), c.dataset,
               c.individuals.empty() ? std::string("open to every announced individual")
                                     : std::to_string(c.individuals.size()) + " individual(s)");
  return id;
}

}  // namespace fp::coord
