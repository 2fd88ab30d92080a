// fp-coordinator configuration: a TOML file (every key optional, unknown keys are
// errors so typos do not pass silently) with command-line overrides.
//
//   [server]   endpoint, database, models_dir, heartbeat_ms, liveness, chunk_size,
//              chunk_credit, telemetry_batch, max_attempts, http_port, http_address,
//              key (the CURVE key pair's path without .pub/.key), plain (true: no
//              encryption or authentication), max_agents, rate_limit, rate_burst, and
//              the other ServerConfig limits by their names (task_deadline_s,
//              model_wait_s, ...)
//   [train]    dataset, data_dir, arch, width_mult, epochs, batch_size, learning_rate,
//              seed, limit, general_fraction, split_seed, threads, channels, height,
//              width (an image folder's input)
//   [campaign] name, model ("latest", a SHA-256 or its start as the commands print it,
//              or an artifact path), dataset ([train]'s unless set),
//              individuals (empty: every individual an agent announces), baselines,
//              sweep, select_sparsity, selector, a [campaign.prune] table with
//              fp::PruneConfig's JSON keys, and a [campaign.privacy] table (mechanism =
//              "none" | "laplace" | "gaussian", epsilon, delta): noise the devices add
//              to reported accuracies
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "coordinator/server_config.h"
#include "util/status.h"

namespace fp::coord {

struct TrainSection {
  // "fsdd", "fashion-mnist" or "image-folder" (one's own labeled pictures, a folder per
  // class in data_dir, read into channels x height x width; all of them train).
  std::string dataset = "fsdd";
  std::string data_dir;                           // empty: the data set's default location
  int64_t channels = 1, height = 28, width = 28;  // image-folder only
  std::string arch = "cnn";
  double width_mult = 1.0;
  int64_t epochs = 3;
  int64_t batch_size = 64;
  double learning_rate = 1e-3;
  uint64_t seed = 1;
  int64_t limit = 0;              // 0: all samples
  double general_fraction = 0.5;  // share of the pool that trains the general model
  uint64_t split_seed = 1;        // must match the agents' --split-seed
  int threads = 2;
};

struct CampaignSection {
  bool present = false;
  std::string name = "default";
  std::string model = "latest";
  std::string dataset = "fsdd";  // parse_config: [train]'s unless the campaign sets one
  std::vector<std::string> individuals;
  std::vector<std::string> baselines;
  std::vector<double> sweep;
  // Unset keys take the defaults every config source shares (PersonalizeConfig,
  // experiment/personalize_settings.h): the sparsity is chosen on the device, without
  // labels, by the confidence score.
  std::optional<bool> select_sparsity;   // choose the sparsity on the device, without labels
  std::optional<std::string> selector;   // how: an fp::SelectionScore name
  std::string prune_config_json = "{}";  // every personalization setting (+ privacy), normalised
};

struct CoordinatorConfig {
  ServerConfig server;
  std::string database = "fineprune.db";
  std::string models_dir = "models";
  std::string key = "keys/coordinator";    // CURVE key pair: key.pub and key.key
  int64_t http_port = 0;                   // the web dashboard's port (0: no dashboard)
  std::string http_address = "127.0.0.1";  // where the dashboard listens
  TrainSection train;
  CampaignSection campaign;
};

// Parses TOML text; `source` names it in error messages.
Result<CoordinatorConfig> parse_config(const std::string& text, const std::string& source);
// Reads and parses a file; an empty path gives the defaults.
Result<CoordinatorConfig> load_config(const std::string& path);

}  // namespace fp::coord
