#include "coordinator/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "protocol/limits.h"
#include "prune/prune_config.h"
#include "prune/sparsity_selector.h"
#include "security/privacy_noise.h"

namespace fp::coord {
namespace {

// Reads known keys from one table and reports the first unknown one.
class Section {
 public:
  Section(const toml::table* table, std::string name, const std::string& source)
      : table_(table), name_(std::move(name)), source_(source) {}

  template <typename T>
  Status get(const char* key, T& out) {
    seen_.insert(key);
    if (!table_) return Status::ok_status();
    const toml::node* node = table_->get(key);
    if (!node) return Status::ok_status();
    if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = node->value<std::string>()) return out = *v, Status::ok_status();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node->value<bool>()) return out = *v, Status::ok_status();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (auto v = node->value<double>()) return out = *v, Status::ok_status();
    } else {
      if (auto v = node->value<int64_t>()) {
        if (*v < 0 && std::is_unsigned_v<T>) return wrong(key, "a non-negative integer");
        return out = static_cast<T>(*v), Status::ok_status();
      }
    }
    return wrong(key, std::is_same_v<T, std::string> ? "a string"
                      : std::is_same_v<T, bool>      ? "a boolean"
                      : std::is_floating_point_v<T>  ? "a number"
                                                     : "an integer");
  }

  template <typename T>
  Status get_list(const char* key, std::vector<T>& out) {
    seen_.insert(key);
    if (!table_) return Status::ok_status();
    const toml::node* node = table_->get(key);
    if (!node) return Status::ok_status();
    const toml::array* array = node->as_array();
    if (!array) return wrong(key, "an array");
    out.clear();
    for (const auto& item : *array) {
      auto v = item.value<T>();
      if (!v) return wrong(key, "an array of the same type throughout");
      out.push_back(*v);
    }
    return Status::ok_status();
  }

  // Call last: every key in the table must have been asked for.
  Status finish(const std::set<std::string>& subtables = {}) const {
    if (!table_) return Status::ok_status();
    for (const auto& [key, node] : *table_) {
      std::string k(key.str());
      if (!seen_.count(k) && !subtables.count(k)) {
        return Status::invalid_argument(source_ + ": unknown key '" + name_ + "." + k + "'");
      }
    }
    return Status::ok_status();
  }

 private:
  Status wrong(const char* key, const char* expected) const {
    return Status::invalid_argument(source_ + ": " + name_ + "." + key + " must be " + expected);
  }
  const toml::table* table_;
  std::string name_;
  const std::string& source_;
  std::set<std::string> seen_;
};

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
  FP_RETURN_IF_ERROR(s.get("max_attempts", sv.max_attempts));
  FP_RETURN_IF_ERROR(s.get("http_port", c.http_port));
  FP_RETURN_IF_ERROR(s.get("http_address", c.http_address));
  FP_RETURN_IF_ERROR(s.get("key", c.key));
  FP_RETURN_IF_ERROR(s.get("plain", sv.security.plain));
  FP_RETURN_IF_ERROR(s.get("max_agents", sv.max_agents));
  FP_RETURN_IF_ERROR(s.get("rate_limit", sv.rate_limit));
  FP_RETURN_IF_ERROR(s.get("rate_burst", sv.rate_burst));
  FP_RETURN_IF_ERROR(s.finish());
  if (sv.max_agents < 1) return Status::invalid_argument(src + ": server.max_agents must be >= 1");
  if (!(sv.rate_limit >= 0) || !(sv.rate_burst >= 1)) {
    return Status::invalid_argument(src +
                                    ": server.rate_limit must be >= 0 (0: unlimited) and "
                                    "server.rate_burst >= 1");
  }
  if (!sv.security.plain && c.key.empty()) {
    return Status::invalid_argument(src + ": server.key is empty (or set server.plain = true)");
  }
  if (c.http_port < 0 || c.http_port > 65535) {
    return Status::invalid_argument(src + ": server.http_port must be in [0, 65535]");
  }
  if (sv.heartbeat_ms < 10 || sv.heartbeat_ms > 600000) {
    return Status::invalid_argument(src + ": server.heartbeat_ms must be in [10, 600000]");
  }
  if (sv.liveness < 1) return Status::invalid_argument(src + ": server.liveness must be >= 1");
  if (sv.chunk_size < 1024 || sv.chunk_size > proto::kMaxChunkBytes) {
    return Status::invalid_argument(src + ": server.chunk_size must be in [1024, " +
                                    std::to_string(proto::kMaxChunkBytes) + "]");
  }
  if (sv.chunk_credit < 1 || sv.chunk_credit > 256) {
    return Status::invalid_argument(src + ": server.chunk_credit must be in [1, 256]");
  }
  if (sv.telemetry_batch < 1) {
    return Status::invalid_argument(src + ": server.telemetry_batch must be >= 1");
  }
  if (sv.max_attempts < 1) {
    return Status::invalid_argument(src + ": server.max_attempts must be >= 1");
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
  FP_RETURN_IF_ERROR(s.finish());
  if (tr.epochs < 1 || tr.batch_size < 1 || tr.threads < 1) {
    return Status::invalid_argument(src + ": train.epochs, batch_size and threads must be >= 1");
  }
  if (!(tr.general_fraction > 0.0 && tr.general_fraction <= 1.0)) {
    return Status::invalid_argument(src + ": train.general_fraction must be in (0, 1]");
  }
  return Status::ok_status();
}

Status read_campaign(const toml::table* t, const std::string& src, CampaignSection& c) {
  c.present = t != nullptr;
  Section s(t, "campaign", src);
  FP_RETURN_IF_ERROR(s.get("name", c.name));
  FP_RETURN_IF_ERROR(s.get("model", c.model));
  FP_RETURN_IF_ERROR(s.get("dataset", c.dataset));
  FP_RETURN_IF_ERROR(s.get_list("individuals", c.individuals));
  FP_RETURN_IF_ERROR(s.get_list("baselines", c.baselines));
  FP_RETURN_IF_ERROR(s.get_list("sweep", c.sweep));
  FP_RETURN_IF_ERROR(s.get("select_sparsity", c.select_sparsity));
  FP_RETURN_IF_ERROR(s.get("selector", c.selector));
  FP_RETURN_IF_ERROR(s.finish({"prune", "privacy"}));
  for (const auto& b : c.baselines) {
    if (b != "finetune" && b != "svd") {
      return Status::invalid_argument(src + ": campaign.baselines: unknown baseline '" + b +
                                      "' (known: finetune, svd)");
    }
  }
  for (double x : c.sweep) {
    if (!(x >= 0.0 && x < 1.0)) {
      return Status::invalid_argument(src + ": campaign.sweep values must be in [0, 1)");
    }
  }
  if (c.name.empty()) return Status::invalid_argument(src + ": campaign.name is empty");
  if (t) {
    if (const toml::node* prune = t->get("prune")) {
      if (!prune->is_table()) {
        return Status::invalid_argument(src + ": campaign.prune must be a table");
      }
      auto json = to_json(*prune);
      if (!json.ok()) {
        return Status::invalid_argument(src + ": campaign.prune: " + json.status().message());
      }
      c.prune_config_json = json->dump();
    }
  }
  auto prune = PruneConfig::from_json(c.prune_config_json);
  if (!prune.ok())
    return Status::invalid_argument(src + ": campaign.prune: " + prune.status().message());
  // Normalised, with every default spelled out; the agent reads select_sparsity too.
  auto normalised = nlohmann::json::parse(prune->to_json());
  normalised["select_sparsity"] = c.select_sparsity;
  auto score = parse_selection_score(c.selector);
  if (!score.ok())
    return Status::invalid_argument(src + ": campaign.selector: " + score.status().message());
  normalised["selector"] = c.selector;
  if (t) {
    if (const toml::node* node = t->get("privacy")) {
      if (!node->is_table()) {
        return Status::invalid_argument(src + ": campaign.privacy must be a table");
      }
      Section p(node->as_table(), "campaign.privacy", src);
      std::string mechanism = "none";
      double epsilon = 1.0, delta = 1e-5;
      FP_RETURN_IF_ERROR(p.get("mechanism", mechanism));
      FP_RETURN_IF_ERROR(p.get("epsilon", epsilon));
      FP_RETURN_IF_ERROR(p.get("delta", delta));
      FP_RETURN_IF_ERROR(p.finish());
      FP_ASSIGN_OR_RETURN(auto privacy, security::make_privacy_config(mechanism, epsilon, delta,
                                                                      src + ": campaign.privacy"));
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
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream out;
    out << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return Status::invalid_argument(out.str());
  }
  CoordinatorConfig c;
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    if (k != "server" && k != "train" && k != "campaign") {
      return Status::invalid_argument(source + ": unknown section '" + k + "'");
    }
    if (!node.is_table()) return Status::invalid_argument(source + ": '" + k + "' must be a table");
  }
  FP_RETURN_IF_ERROR(read_server(root["server"].as_table(), source, c));
  FP_RETURN_IF_ERROR(read_train(root["train"].as_table(), source, c.train));
  FP_RETURN_IF_ERROR(read_campaign(root["campaign"].as_table(), source, c.campaign));
  return c;
}

Result<CoordinatorConfig> load_config(const std::string& path) {
  if (path.empty()) return parse_config("", "(defaults)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("config file " + path + " cannot be opened");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), path);
}

}  // namespace fp::coord
