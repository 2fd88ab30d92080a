// Putting models and campaigns into the registry and the store before serving.
#pragma once

#include <string>
#include <vector>

#include "coordinator/config.h"
#include "coordinator/model_registry.h"
#include "store/store.h"

namespace fp::coord {

// Artifact bytes read from `source` load as a model, or the error says why (naming it):
// checked before anything is stored.
Status check_artifact_bytes(const std::string& bytes, const std::string& source);

// Validates an artifact file (it must load as a model) and registers it.
Result<store::ModelRecord> register_artifact(ModelRegistry& registry, const std::string& path,
                                             double now);
// The same for artifact bytes read from `source` (a path, recorded in the metadata).
Result<store::ModelRecord> register_artifact_bytes(ModelRegistry& registry,
                                                   const std::string& bytes,
                                                   const std::string& source, double now);

// "latest" (the newest registered model), a registered SHA-256, the start of one (as the
// commands print them: 12 characters; at least kShortShaMin, lowercase hex, and no file of
// that name), or an artifact path.
Result<store::ModelRecord> resolve_model(ModelRegistry& registry, store::Store& store,
                                         const std::string& model, double now);

constexpr size_t kShortShaMin = 8;
bool is_model_sha_prefix(const std::string& model);
// The one registered model whose SHA-256 starts with `prefix`; NotFound naming the registered
// ones when none does, InvalidArgument when several do.
Result<std::string> full_model_sha(store::Store& store, const std::string& prefix);

// What the config's `campaign` sets otherwise than the stored campaign of its name: one
// line each (model, dataset, personalization settings, baselines, sweep, individuals);
// empty when a restart may resume it.
Result<std::vector<std::string>> campaign_differences(store::Store& store,
                                                      const store::CampaignRecord& stored,
                                                      const CampaignSection& campaign);

// Creates the configured campaign and its tasks, or resumes an existing one of the same name
// (a restarted coordinator) when the config still sets what it was created with; otherwise
// an InvalidArgument naming what differs, and nothing stored changes. Returns its id; an
// error names the campaign. A configured open-enrollment campaign is then the one handed
// out over its data set: any other running one there is superseded (store::kCampaignSuperseded),
// and a superseded one served again runs again.
Result<int64_t> ensure_campaign(ModelRegistry& registry, store::Store& store,
                                const CampaignSection& campaign, double now);

// What ensure_campaign would do with `campaign`, found without doing it (nothing stored, no
// artifact registered): one line saying whether it resumes the stored campaign (and how far
// it has got) or makes a new one (its model, data set, individuals), or the error
// ensure_campaign would return. A registered model's file is checked as
// check_campaign_model checks it. For fp-coordinator serve --check.
Result<std::string> plan_campaign(ModelRegistry& registry, store::Store& store,
                                  const CampaignSection& campaign);

// The campaign's model file is there and holds the bytes its SHA-256 names (a file removed
// or damaged since it was registered would fail every device's download, each costing the
// task an attempt), and takes the kind of input its built-in data set's devices give
// (pictures, recordings; ensure_campaign refuses a new campaign that does not). Otherwise
// an InvalidArgument naming the campaign, what is wrong and what to do.
Status check_campaign_model(ModelRegistry& registry, const store::CampaignRecord& campaign);

// check_campaign_model for every running campaign, which all hand out tasks: an error for
// the `configured` one (the campaign a config names, "" for none), a warning for any other
// (a stale campaign in the database does not block serving a new one).
Status check_served_campaigns(ModelRegistry& registry, store::Store& store,
                              const std::string& configured);

// Serving with --exit-when-done stops once every campaign has finished: with none in the
// database and none `configured` it waited for ever (a mistyped --db is a new, empty one).
// InvalidArgument then, saying so.
Status check_exit_when_done(store::Store& store, const std::string& database, bool configured);

}  // namespace fp::coord
