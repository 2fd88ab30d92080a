#include "coordinator/config.h"

#include <toml++/toml.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "config/toml_reader.h"
#include "data/dataset_names.h"
#include "data/image_shape.h"
#include "experiment/methods.h"
#include "experiment/personalize_settings.h"
#include "models/model_spec.h"
#include "protocol/limits.h"
#include "prune/prune_config.h"
#include "prune/selector_config.h"
#include "security/privacy_noise.h"
#include "train/train_config.h"
#include "util/compute_threads.h"
#include "util/file_io.h"
#include "util/text.h"

namespace fp::coord {
namespace {

using Section = config::TomlTable;  // the one strict reader (config/toml_reader.h)

Result<nlohmann::json> to_json(const toml::node& node) {
  if (auto t = node.as_table()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : *t) {
      FP_ASSIGN_OR_RETURN(j[std::string(k.str())], to_json(v));
    }
    return j;
  }
  if (auto a = node.as_array()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : *a) {
      FP_ASSIGN_OR_RETURN(auto item, to_json(v));
      j.push_back(std::move(item));
    }
    return j;
  }
  if (auto v = node.value_exact<std::string>()) return nlohmann::json(*v);
  if (auto v = node.value_exact<bool>()) return nlohmann::json(*v);
  if (auto v = node.value_exact<int64_t>()) return nlohmann::json(*v);
  if (auto v = node.value_exact<double>()) return nlohmann::json(*v);
  return Status::invalid_argument("dates and times are not valid here");
}

Status read_server(const toml::table* t, const std::string& src, CoordinatorConfig& c) {
  Section s(t, "server", src);
  auto& sv = c.server;
  FP_RETURN_IF_ERROR(s.get("endpoint", sv.endpoint));
  FP_RETURN_IF_ERROR(s.get("database", c.database));
  FP_RETURN_IF_ERROR(s.get("models_dir", c.models_dir));
  FP_RETURN_IF_ERROR(s.get("heartbeat_ms", sv.heartbeat_ms));
  FP_RETURN_IF_ERROR(s.get("liveness", sv.liveness));
  FP_RETURN_IF_ERROR(s.get("chunk_size", sv.chunk_size));
  FP_RETURN_IF_ERROR(s.get("chunk_credit", sv.chunk_credit));
  FP_RETURN_IF_ERROR(s.get("telemetry_batch", sv.telemetry_batch));
  FP_RETURN_IF_ERROR(s.get("commit_delay_ms", sv.commit_delay_ms));
  FP_RETURN_IF_ERROR(s.get("max_attempts", sv.max_attempts));
  FP_RETURN_IF_ERROR(s.get("http_port", c.http_port));
  FP_RETURN_IF_ERROR(s.get("http_address", c.http_address));
  FP_RETURN_IF_ERROR(s.get("key", c.key));
  FP_RETURN_IF_ERROR(s.get("plain", sv.security.plain));
  FP_RETURN_IF_ERROR(s.get("max_agents", sv.max_agents));
  FP_RETURN_IF_ERROR(s.get("rate_limit", sv.rate_limit));
  FP_RETURN_IF_ERROR(s.get("rate_burst", sv.rate_burst));
  FP_RETURN_IF_ERROR(s.get("max_sessions_per_key", sv.max_sessions_per_key));
  FP_RETURN_IF_ERROR(s.get("max_ids_per_key", sv.max_ids_per_key));
  FP_RETURN_IF_ERROR(s.get("max_individuals_per_key", sv.max_individuals_per_key));
  FP_RETURN_IF_ERROR(s.get("max_queued_bytes", sv.max_queued_bytes));
  FP_RETURN_IF_ERROR(s.get("stall_timeout_ms", sv.stall_timeout_ms));
  FP_RETURN_IF_ERROR(s.get("task_deadline_s", sv.task_deadline_s));
  FP_RETURN_IF_ERROR(s.get("task_deadline_s_per_mb", sv.task_deadline_s_per_mb));
  FP_RETURN_IF_ERROR(s.get("model_wait_s", sv.model_wait_s));
  FP_RETURN_IF_ERROR(s.get("last_seen_every_s", sv.last_seen_every_s));
  FP_RETURN_IF_ERROR(s.get("events_kept", sv.events_kept));
  FP_RETURN_IF_ERROR(s.finish());
  if (Status checked = check_server_config(sv); !checked.ok())
    return Status::invalid_argument(src + ": " + checked.message());
  // An empty path is no file: SQLite would keep the database in a temporary file and lose
  // every report it acknowledged at the stop. The same goes for ":memory:".
  if (c.database.empty() || c.database == ":memory:")
    return Status::invalid_argument(s.at_key("database") +
                                    "server.database must name the database file (default "
                                    "fineprune.db), not \"" +
                                    c.database + "\"");
  if (c.models_dir.empty())
    return Status::invalid_argument(s.at_key("models_dir") +
                                    "server.models_dir must name a folder (default models)");
  if (!sv.security.plain && c.key.empty()) {
    return Status::invalid_argument(src + ": server.key is empty (or set server.plain = true)");
  }
  if (c.http_port < 0 || c.http_port > 65535) {
    return Status::invalid_argument(src + ": server.http_port must be in [0, 65535]");
  }
  return Status::ok_status();
}

Status read_train(const toml::table* t, const std::string& src, TrainSection& tr) {
  Section s(t, "train", src);
  FP_RETURN_IF_ERROR(s.get("dataset", tr.dataset));
  FP_RETURN_IF_ERROR(s.get("data_dir", tr.data_dir));
  FP_RETURN_IF_ERROR(s.get("arch", tr.arch));
  FP_RETURN_IF_ERROR(s.get("width_mult", tr.width_mult));
  FP_RETURN_IF_ERROR(s.get("epochs", tr.epochs));
  FP_RETURN_IF_ERROR(s.get("batch_size", tr.batch_size));
  FP_RETURN_IF_ERROR(s.get("learning_rate", tr.learning_rate));
  FP_RETURN_IF_ERROR(s.get("seed", tr.seed));
  FP_RETURN_IF_ERROR(s.get("limit", tr.limit));
  FP_RETURN_IF_ERROR(s.get("general_fraction", tr.general_fraction));
  FP_RETURN_IF_ERROR(s.get("split_seed", tr.split_seed));
  FP_RETURN_IF_ERROR(s.get("threads", tr.threads));
  std::optional<int64_t> channels, height, width;
  FP_RETURN_IF_ERROR(s.get("channels", channels));
  FP_RETURN_IF_ERROR(s.get("height", height));
  FP_RETURN_IF_ERROR(s.get("width", width));
  FP_RETURN_IF_ERROR(s.finish());
  if (!known_dataset(tr.dataset))
    return Status::invalid_argument(s.at_key("dataset") + "train.dataset must be " +
                                    known_datasets_words() + ", not \"" + tr.dataset + "\"");
  if (std::string unknown = unknown_architecture(tr.arch); !unknown.empty())
    return Status::invalid_argument(s.at_key("arch") + "train.arch " + unknown);
  if (tr.dataset == "image-folder") {
    if (tr.data_dir.empty())
      return Status::invalid_argument(s.at_key("dataset") +
                                      "train.data_dir must name the image folder "
                                      "(one folder per class) for dataset = \"image-folder\"");
    tr.channels = channels.value_or(tr.channels);
    tr.height = height.value_or(tr.height);
    tr.width = width.value_or(tr.width);
    if (auto wrong = image_shape_problem(tr.channels, tr.height, tr.width))
      return Status::invalid_argument(s.at_key(wrong->key.c_str()) + "train." + wrong->key + " " +
                                      wrong->why);
  } else if (channels || height || width) {
    return Status::invalid_argument(s.at_key(channels ? "channels"
                                             : height ? "height"
                                                      : "width") +
                                    "train.channels, height and width are for dataset = "
                                    "\"image-folder\": " +
                                    tr.dataset + "'s input shape is its own");
  }
  // Epochs bounded as a scenario's are: a typo of many digits trained for ever.
  if (tr.epochs < 1 || tr.epochs > kMaxEpochs)
    return Status::invalid_argument(s.at_key("epochs") + "train.epochs must be 1 to " +
                                    std::to_string(kMaxEpochs) + ", got " +
                                    std::to_string(tr.epochs));
  if (tr.batch_size < 1)
    return Status::invalid_argument(s.at_key("batch_size") + "train.batch_size must be >= 1");
  if (tr.threads < 1 || tr.threads > kMaxComputeThreads)
    return Status::invalid_argument(s.at_key("threads") + "train.threads must be 1 to " +
                                    std::to_string(kMaxComputeThreads) + ", got " +
                                    std::to_string(tr.threads));
  if (!(tr.general_fraction > 0.0 && tr.general_fraction <= 1.0)) {
    return Status::invalid_argument(s.at_key("general_fraction") +
                                    "train.general_fraction must be in (0, 1]");
  }
  // Checked when the file is read, not once `train` starts on them.
  if (std::string why = learning_rate_problem(tr.learning_rate); !why.empty())
    return Status::invalid_argument(s.at_key("learning_rate") + "train.learning_rate " + why);
  if (!(tr.width_mult > 0 && tr.width_mult <= 4)) {
    return Status::invalid_argument(s.at_key("width_mult") + "train.width_mult must be in (0, 4]");
  }
  if (tr.limit < 0)
    return Status::invalid_argument(s.at_key("limit") + "train.limit must be >= 0 (0: all)");
  return Status::ok_status();
}

Status read_campaign(const toml::table* t, const std::string& src, CampaignSection& c) {
  c.present = t != nullptr;
  Section s(t, "campaign", src);
  FP_RETURN_IF_ERROR(s.get("name", c.name));
  FP_RETURN_IF_ERROR(s.get("model", c.model));
  FP_RETURN_IF_ERROR(s.get("dataset", c.dataset));
  FP_RETURN_IF_ERROR(s.get_distinct_list("individuals", c.individuals));
  FP_RETURN_IF_ERROR(s.get_distinct_list("baselines", c.baselines));
  FP_RETURN_IF_ERROR(s.get_distinct_list("sweep", c.sweep));
  FP_RETURN_IF_ERROR(s.get("select_sparsity", c.select_sparsity));
  FP_RETURN_IF_ERROR(s.get("selector", c.selector));
  FP_RETURN_IF_ERROR(s.finish({"prune", "privacy"}));
  if (!known_dataset(c.dataset))
    return Status::invalid_argument(s.at_key("dataset") + "campaign.dataset must be " +
                                    known_datasets_words() + ", not \"" + c.dataset + "\"");
  // A device announces "<dataset>/<individual>" as one line of text (protocol/validate.h):
  // an individual no Hello can name would keep its task pending for ever.
  const size_t room = c.dataset.size() < proto::kMaxNameBytes
                          ? proto::kMaxNameBytes - c.dataset.size() - 1
                          : 0;  // what a name may take beside "<dataset>/"
  for (const auto& i : c.individuals) {
    if (i.empty() || i.size() > room)
      return Status::invalid_argument(s.at_key("individuals") + "campaign.individuals: '" +
                                      escape_text(i) + "' must be 1 to " + std::to_string(room) +
                                      " bytes");
    if (std::string problem = text_problem(i); !problem.empty())
      return Status::invalid_argument(s.at_key("individuals") + "campaign.individuals: '" +
                                      escape_text(i) + "' " + problem +
                                      " (no device could announce it)");
  }
  for (const auto& b : c.baselines) {
    if (!is_known_method(b)) {
      return Status::invalid_argument(s.at_key("baselines") +
                                      "campaign.baselines: unknown baseline '" + b +
                                      "' (known: " + known_methods_text() + ")");
    }
  }
  for (double x : c.sweep) {
    if (!(x >= 0.0 && x < 1.0)) {
      return Status::invalid_argument(s.at_key("sweep") +
                                      "campaign.sweep values must be in [0, 1)");
    }
  }
  if (c.name.empty()) return Status::invalid_argument(s.at_key("name") + "campaign.name is empty");
  // "" was read as an artifact path ("model artifact  cannot be opened", no key named).
  if (c.model.empty())
    return Status::invalid_argument(s.at_key("model") +
                                    "campaign.model is empty: name \"latest\", a registered "
                                    "model's SHA-256 (or its first 8+ characters) or an artifact "
                                    "file");
  // Listed, logged and made into report folder names: one line of text.
  if (c.name.size() > 128)
    return Status::invalid_argument(s.at_key("name") +
                                    "campaign.name must be at most 128 bytes, got " +
                                    std::to_string(c.name.size()));
  if (std::string problem = text_problem(c.name); !problem.empty())
    return Status::invalid_argument(s.at_key("name") + "campaign.name must be one line of text: '" +
                                    escape_text(c.name) + "' " + problem);
  if (t) {
    if (const toml::node* prune = t->get("prune")) {
      if (!prune->is_table()) {
        return Status::invalid_argument(s.at_key("prune") + "campaign.prune must be a table");
      }
      auto json = to_json(*prune);
      if (!json.ok()) {
        return Status::invalid_argument(s.at_key("prune") +
                                        "campaign.prune: " + json.status().message());
      }
      c.prune_config_json = json->dump();
    }
  }
  // [campaign.prune] holds any personalization setting a task carries (the pruning's and the
  // selector's, personalize_settings.h); a key that is none of them is a mistake, not ignored.
  PersonalizeConfig settings;
  Status applied = apply_personalize_settings(c.prune_config_json, settings);
  if (!applied.ok()) {
    // The line of the key that is wrong on its own (a typo, a wrong type), as every other
    // table's messages name it; the section's where only keys together are refused.
    std::string where = s.at_key("prune");
    const toml::table* prune = t ? t->get_as<toml::table>("prune") : nullptr;
    for (auto it = prune ? prune->begin() : toml::table::const_iterator{};
         prune && it != prune->end(); ++it) {
      auto value = to_json(it->second);
      PersonalizeConfig alone;
      if (!value.ok() || !apply_personalize_settings(
                              nlohmann::json{{std::string(it->first.str()), *value}}.dump(), alone)
                              .ok()) {
        where = s.at(it->second);
        break;
      }
    }
    return Status::invalid_argument(where + "campaign.prune: " + applied.message());
  }
  if (c.select_sparsity) settings.select_sparsity = *c.select_sparsity;
  if (c.selector) {
    auto score = parse_selection_score(*c.selector);
    if (!score.ok())
      return Status::invalid_argument(s.at_key("selector") +
                                      "campaign.selector: " + score.status().message());
    settings.selector.score = *score;
  }
  auto normalised = nlohmann::json::parse(personalize_settings_json(settings));
  if (t) {
    if (const toml::node* node = t->get("privacy")) {
      if (!node->is_table()) {
        return Status::invalid_argument(s.at_key("privacy") + "campaign.privacy must be a table");
      }
      Section p(node->as_table(), "campaign.privacy", src);
      std::string mechanism = "none";
      double epsilon = 1.0, delta = 1e-5;
      FP_RETURN_IF_ERROR(p.get("mechanism", mechanism));
      FP_RETURN_IF_ERROR(p.get("epsilon", epsilon));
      FP_RETURN_IF_ERROR(p.get("delta", delta));
      FP_RETURN_IF_ERROR(p.finish());
      FP_ASSIGN_OR_RETURN(auto privacy,
                          security::make_privacy_config(mechanism, epsilon, delta,
                                                        s.at_key("privacy") + "campaign.privacy"));
      if (privacy.enabled()) {
        normalised["privacy"] = nlohmann::json::parse(security::privacy_to_json(privacy));
      }
    }
  }
  c.prune_config_json = normalised.dump();
  return Status::ok_status();
}

}  // namespace

Result<CoordinatorConfig> parse_config(const std::string& text, const std::string& source) {
  FP_ASSIGN_OR_RETURN(toml::table root, config::parse_toml(text, source));
  CoordinatorConfig c;
  const Section top(&root, "", source);  // for "<file>:<line>: "
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    const std::string at = top.at(node);
    const bool known = k == "server" || k == "train" || k == "campaign";
    if (known && !node.is_table()) return Status::invalid_argument(at + k + " must be a table");
    if (!known) {
      return Status::invalid_argument(
          at +
          (node.is_table() ? "unknown section [" + k + "]" : "'" + k + "' is outside any section") +
          " (sections: [server], [train], [campaign])");
    }
  }
  FP_RETURN_IF_ERROR(read_server(root["server"].as_table(), source, c));
  FP_RETURN_IF_ERROR(read_train(root["train"].as_table(), source, c.train));
  // A campaign is on the data set its general model trained on unless it says otherwise.
  c.campaign.dataset = c.train.dataset;
  FP_RETURN_IF_ERROR(read_campaign(root["campaign"].as_table(), source, c.campaign));
  return c;
}

Result<CoordinatorConfig> load_config(const std::string& path) {
  if (path.empty()) return parse_config("", "(defaults)");
  FP_ASSIGN_OR_RETURN(std::string text, read_file(path, "config file"));
  return parse_config(text, path);
}

}  // namespace fp::coord
