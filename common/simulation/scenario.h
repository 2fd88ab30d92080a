// A simulation scenario: one TOML file that describes a whole campaign.
//
//   name, description, seed          top level (seed drives partitions and training)
//   [data]        dataset ("fashion-mnist" | "fsdd" | "image-folder"), dir, general_samples;
//                 image-folder: channels, height, width (its pictures' model input)
//   [partition]   method (natural | k_classes | dirichlet | iid), individuals, k, k_values
//                 (class counts taken in turn, e.g. [1, 2, ..., 10]), alpha,
//                 samples, eval_fraction, disjoint, seed, classes (draw individuals only
//                 from these classes), best_classes = K (Figure 2d's rule, Fashion-MNIST:
//                 `fp-sim run` trains the general model first, scores it per class on
//                 training images it did not train on, and draws individuals from its K
//                 best classes; the pick is written into the run folder's scenario.toml as
//                 `classes`, which is what hosts read)
//   [general]     arch, width_mult, epochs, batch_size, learning_rate, optimizer, threads,
//                 leave_individual_out (one general model per individual, trained without
//                 that individual's group: FSDD's leave-one-speaker-out)
//   [fineprune]   criterion, granularity, scope, schedule, target_sparsity, iterative_steps,
//                 prune_output_layer, output_usage_threshold, protected_layers,
//                 min_units_per_layer, prune_hidden, compensate_bias,
//                 reestimate_batch_norm, class_spread_threshold, class_spread_share,
//                 reestimation_min_confidence_ratio, select_sparsity, selector,
//                 min_agreement, confident_fraction, heldout_fraction, candidates,
//                 stop_after_ruled_out, stop_after_beaten, rule_out_parts,
//                 statistics_samples, sweep (targets of the labeled accuracy-vs-sparsity
//                 curve), adaptation_samples (use only the first N adaptation samples,
//                 every method), and [[fineprune.variants]]: named
//                 overrides of the keys above, one campaign each (a sweep over configs)
//   [baselines]   methods (names of common/experiment/methods.h: "finetune", "svd",
//                 "em_prior", "adabn", "tent", "fine_prune+tent", ...), finetune_epochs,
//                 finetune_learning_rate, finetune_last_layer_only (the plain recipe),
//                 finetune_learning_rates, finetune_max_epochs (the tuned one)
//   [hosting]     mode ("in-process" | "processes" | "external"), hosts, workers, connected,
//                 threads_per_worker, compute_nice, endpoint, heartbeat_ms, liveness, max_attempts,
//                 commit_delay_ms,
//                 keep_private_data, agent_folders ("memory" | "disk": where live agents'
//                 scratch folders are made; memory by default), private_data ("memory" |
//                 "file": how a virtual agent's runner gets its samples; memory by
//                 default, a file with keep_private_data), downloads ("memory" | "file":
//                 whether a virtual agent keeps its model download in memory or writes it
//                 to its folder; memory by default), connections ("shared" |
//                 "per-agent": a host slot's agents take turns on one connection, each
//                 with its own session; shared by default), security ("curve" | "plain"; curve
//                 when absent: the run creates ephemeral key pairs in <out>/keys, one per host, and
//                 enrolls them; plain only when a scenario asks for it, e.g. loopback runs)
//   [privacy]     mechanism ("none" | "laplace" | "gaussian"), epsilon, delta: noise each
//                 virtual device adds to its reported accuracies (seeded by the scenario's
//                 seed, so runs stay reproducible); mechanism and epsilon are stored with
//                 every report
//
// Every key is optional; an unknown key or a value of the wrong type is an error that
// names the file, the line and the key. No torch here: the scenario is plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/partition.h"
#include "experiment/personalize_config.h"
#include "security/privacy_noise.h"
#include "util/status.h"

namespace fp::sim {

struct DataSection {
  // "fashion-mnist", "fsdd" or "image-folder" (one's own labeled pictures, one folder per
  // class: data/image_folder.h; `dir` names it).
  std::string dataset = "fashion-mnist";
  std::string dir;  // empty: the data set's default location (image-folder has none)
  // Samples the general model trains on (0: all available). Fashion-MNIST trains on
  // its training split and carves individuals from the test split; FSDD and image folders
  // train on the samples no individual owns (FSDD: minus the left-out individual's speaker).
  int64_t general_samples = 0;
  // image-folder: the model input its pictures are read into (channels 1 or 3, then
  // height x width); the keys are refused for the other data sets, whose shape is fixed.
  int64_t channels = 1, height = 28, width = 28;
};

struct GeneralSection {
  std::string arch = "cnn";
  double width_mult = 1.0;
  int64_t epochs = 1;
  int64_t batch_size = 64;
  double learning_rate = 1e-3;
  std::string optimizer = "adam";
  int threads = 2;
  bool leave_individual_out = false;
};

// One Fine-Pruning configuration; a campaign runs one of these for every individual.
// Its settings start from PersonalizeConfig's defaults, the one table every config source
// shares (experiment/personalize_settings.h); a scenario sets its keys in [fineprune].
struct Variant {
  std::string name;  // empty for the single, unnamed configuration
  PersonalizeConfig settings;

  // What travels in the task assignment: the personalization settings and, when
  // enabled, the privacy settings.
  std::string assignment_json(const security::PrivacyConfig& privacy = {}) const;
};

struct BaselineSection {
  std::vector<std::string> methods = {"finetune", "svd"};
  int64_t finetune_epochs = 3;
  double finetune_learning_rate = 0.01;
  std::vector<double> finetune_learning_rates = {1e-4, 3e-4, 1e-3};  // tuned "finetune"
  int64_t finetune_max_epochs = 10;
  bool finetune_last_layer_only = false;
};

// in-process: agent hosts are threads of `fp-sim run`; processes: `fp-sim host` children
// of it; external: `fp-sim run` only coordinates, hosts are started elsewhere (Slurm,
// Kubernetes, other machines) with `fp-sim host --coordinator tcp://HOST:PORT`.
enum class HostingMode { kInProcess, kProcesses, kExternal };

struct HostingSection {
  HostingMode mode = HostingMode::kInProcess;
  int64_t hosts = 1;    // agent hosts (threads of fp-sim run, or `fp-sim host` processes)
  int64_t workers = 2;  // agents computing at once, per host
  // Agents connected at once, per host (0: 4 x workers). The rest wait in the host's
  // queue without a socket, data or model, so idle agents cost (almost) nothing.
  int64_t connected = 0;
  int64_t threads_per_worker = 1;  // LibTorch threads of a computing agent
  // Added to the nice value of the hosts' compute threads (0-19): with every core busy
  // computing, the coordinator's loop, its dashboard and the agents' sessions run first.
  int64_t compute_nice = 5;
  std::string endpoint = "tcp://127.0.0.1:*";  // the coordinator's ROUTER
  int64_t heartbeat_ms = 1000;
  int64_t liveness = 5;
  int64_t max_attempts = 2;
  // The coordinator's group commit (coord::ServerConfig::commit_delay_ms): a run's hosts
  // send hundreds of messages a second; sharing each commit's page writes among the
  // messages of 30 ms took a tenth off the coordinator's CPU at 10,000 agents, where 10 ms
  // cost more than none (docs/SIMULATIONS.md, item 16).
  int64_t commit_delay_ms = 30;
  bool keep_private_data = false;  // keep each agent's data directory after it leaves
  bool plain = false;              // security = "plain": no CURVE (asked for explicitly)
  // agent_folders = "memory" (default) | "disk": live agents' scratch folders in /dev/shm
  // or under the host's work dir (HostOptions::folders_in_memory).
  bool folders_in_memory = true;
  // private_data = "memory" (default) | "file": a virtual agent's runner takes its
  // individual's samples from the host's memory, or reads them from a file the host wrote
  // into the agent's folder (HostOptions::private_data_in_memory).
  bool private_data_in_memory = true;
  // downloads = "memory" (default) | "file": a virtual agent keeps its model download in
  // memory, or writes it into its folder as a device does (HostOptions).
  bool downloads_in_memory = true;
  // connections = "shared" (default) | "per-agent": whether the agents a host slot runs one
  // after another take turns on one connection (HostOptions::share_connections).
  bool share_connections = true;

  int64_t connected_per_host() const { return connected > 0 ? connected : 4 * workers; }
};

// The hosts `fp-sim run` starts for `individuals`: hosting.hosts, but no more than one per
// individual (a host without one started, loaded its model and ended idle). External hosts
// are the user's to start (a Slurm array's size): their count stays.
int64_t hosts_to_start(const HostingSection& h, size_t individuals);

struct Scenario {
  std::string source;  // the file (or label) it came from, for messages
  std::string text;    // the TOML text, kept with the run's results
  std::string name;
  std::string description;
  uint64_t seed = 1;
  DataSection data;
  PartitionConfig partition;  // seed follows the scenario's unless set in [partition]
  bool partition_seed_set = false;
  // [partition] best_classes: K > 0 asks `fp-sim run` to set partition.classes to the K
  // classes the general model classifies best (unless `classes` is given: an earlier pick).
  int64_t best_classes = 0;
  GeneralSection general;
  std::vector<Variant> variants;  // at least one
  BaselineSection baselines;
  HostingSection hosting;
  security::PrivacyConfig privacy;
  // What `fp-sim run`'s flags changed after the file was read ("partition.individuals =
  // 30"): the run records them (stats_json "overrides", and a comment atop its recorded
  // scenario text), so its record says what it ran.
  std::vector<std::string> overrides;
};

// Parses TOML text; `source` names it in error messages.
Result<Scenario> parse_scenario(const std::string& text, const std::string& source);
// Reads and parses a file.
Result<Scenario> load_scenario(const std::string& path);

// Changes the scenario's seed (e.g. `fp-sim run --seed`), and the partition's with it
// unless [partition] sets its own.
void set_seed(Scenario& scenario, uint64_t seed);

// Replaces [baselines] methods (`fp-sim run --methods`): a comma-separated list of method
// names, or "none" (Fine-Pruning alone). An unknown or repeated name is refused by name.
Status set_baseline_methods(Scenario& scenario, const std::string& list);

// `scenario.text` with a comment atop it listing `scenario.overrides` (unchanged when there
// are none): the text a run records and its hosts read.
std::string text_with_overrides(const Scenario& scenario);

// `text` with `classes = [...]  # <why>` added to its [partition] table: how `fp-sim run`
// records its best_classes pick in the run folder's scenario.toml, which hosts read. An
// error when the text has no "[partition]" header line or the result does not parse to
// exactly those classes (e.g. the text sets classes already).
Result<std::string> with_partition_classes(const std::string& text,
                                           const std::vector<int64_t>& classes,
                                           const std::string& why);

// The first [hosting] key of `h` out of its range ("workers", "must be in [1, 256]"), or
// nothing: the scenario file's keys and fp-sim run's overrides are checked alike.
struct KeyProblem {
  std::string key, why;
};
std::optional<KeyProblem> hosting_problem(const HostingSection& h);

// Why a natural partition takes no individuals count (one individual per group).
inline constexpr const char* kNaturalCount =
    "is for the drawn partitions: method = \"natural\" takes every group of the data (a "
    "speaker, a person) as one individual";

const char* hosting_mode_name(HostingMode m);
// The mode hosting_mode_name names ("in-process", "processes", "external"); nullopt otherwise.
std::optional<HostingMode> parse_hosting_mode(const std::string& name);

}  // namespace fp::sim
