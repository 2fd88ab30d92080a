#include "simulation/scenario.h"

#include <toml++/toml.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "config/toml_reader.h"
#include "data/dataset_names.h"
#include "data/image_shape.h"
#include "experiment/methods.h"
#include "experiment/personalize_settings.h"
#include "models/model_spec.h"
#include "protocol/endpoint.h"
#include "train/train_config.h"
#include "util/compute_threads.h"
#include "util/file_io.h"

namespace fp::sim {
namespace {

using Table = config::TomlTable;

template <typename E>
Status get_enum(Table& t, const char* key, E& out, Result<E> (*parse)(const std::string&)) {
  std::string text;
  bool present = false;
  {
    std::string probe = "\x01";
    FP_RETURN_IF_ERROR(t.get(key, probe));
    present = probe != "\x01";
    text = probe;
  }
  if (!present) return Status::ok_status();
  auto parsed = parse(text);
  if (!parsed.ok())
    return Status::invalid_argument(t.at_key(key) + t.name(key) + ": " + parsed.status().message());
  out = *parsed;
  return Status::ok_status();
}

Status invalid(Table& t, const char* key, const std::string& why) {
  return Status::invalid_argument(t.at_key(key) + t.name(key) + " " + why);
}

// A key whose value must be one of two words: `is_a` holds the default and says whether
// the value is `a` (else `b`).
Status read_either(Table& t, const char* key, const char* a, const char* b, bool& is_a) {
  std::string word = is_a ? a : b;
  FP_RETURN_IF_ERROR(t.get(key, word));
  if (word != a && word != b) {
    return invalid(t, key,
                   std::string("must be \"") + a + "\" or \"" + b + "\", not \"" + word + "\"");
  }
  is_a = word == a;
  return Status::ok_status();
}

Status read_data(Table t, DataSection& d) {
  FP_RETURN_IF_ERROR(t.get("dataset", d.dataset));
  FP_RETURN_IF_ERROR(t.get("dir", d.dir));
  FP_RETURN_IF_ERROR(t.get("general_samples", d.general_samples));
  std::optional<int64_t> channels, height, width;
  FP_RETURN_IF_ERROR(t.get("channels", channels));
  FP_RETURN_IF_ERROR(t.get("height", height));
  FP_RETURN_IF_ERROR(t.get("width", width));
  FP_RETURN_IF_ERROR(t.finish());
  if (!known_dataset(d.dataset))
    return invalid(t, "dataset",
                   "must be " + known_datasets_words() + ", not \"" + d.dataset + "\"");
  if (d.general_samples < 0) return invalid(t, "general_samples", "must be >= 0");
  const std::pair<const char*, const std::optional<int64_t>*> shape[] = {
      {"channels", &channels}, {"height", &height}, {"width", &width}};
  for (const auto& [key, value] : shape) {
    if (value->has_value() && d.dataset != "image-folder") {
      return invalid(
          t, key, "is for dataset = \"image-folder\": " + d.dataset + "'s input shape is its own");
    }
  }
  if (d.dataset == "image-folder" && d.dir.empty()) {
    return invalid(t, "dir",
                   "must name the image folder (one folder per class) for "
                   "dataset = \"image-folder\"");
  }
  d.channels = channels.value_or(d.channels);
  d.height = height.value_or(d.height);
  d.width = width.value_or(d.width);
  if (auto wrong = image_shape_problem(d.channels, d.height, d.width))
    return invalid(t, wrong->key.c_str(), wrong->why);
  return Status::ok_status();
}

Status read_partition(Table t, Scenario& s) {
  PartitionConfig& p = s.partition;
  FP_RETURN_IF_ERROR(get_enum(t, "method", p.method, &parse_partition_method));
  std::optional<int64_t> individuals;
  FP_RETURN_IF_ERROR(t.get("individuals", individuals));
  p.num_individuals = individuals.value_or(p.num_individuals);
  FP_RETURN_IF_ERROR(t.get("k", p.k));
  FP_RETURN_IF_ERROR(t.get_list("k_values", p.k_values));
  FP_RETURN_IF_ERROR(t.get("alpha", p.alpha));
  FP_RETURN_IF_ERROR(t.get("samples", p.samples_per_individual));
  FP_RETURN_IF_ERROR(t.get("eval_fraction", p.eval_fraction));
  FP_RETURN_IF_ERROR(t.get("disjoint", p.disjoint));
  FP_RETURN_IF_ERROR(t.get_distinct_list("classes", p.classes));
  FP_RETURN_IF_ERROR(t.get("best_classes", s.best_classes));
  uint64_t seed = 0;
  bool had_seed = false;
  {
    int64_t probe = -1;
    FP_RETURN_IF_ERROR(t.get("seed", probe));
    if (probe < -1) return invalid(t, "seed", "must be a non-negative integer");
    had_seed = probe >= 0;
    seed = static_cast<uint64_t>(probe);
  }
  FP_RETURN_IF_ERROR(t.finish());
  if (had_seed) {
    p.seed = seed;
    s.partition_seed_set = true;
  }
  if (p.method == PartitionMethod::kNatural && individuals)
    return invalid(t, "individuals", kNaturalCount);
  if (p.method != PartitionMethod::kNatural && p.num_individuals < 1) {
    return invalid(t, "individuals", "must be at least 1");
  }
  if (p.k < 1) return invalid(t, "k", "must be at least 1");
  for (int64_t k : p.k_values)
    if (k < 1) return invalid(t, "k_values", "must hold class counts of at least 1");
  if (!(p.alpha > 0)) return invalid(t, "alpha", "must be positive");
  if (p.samples_per_individual < 0 || p.samples_per_individual == 1) {
    return invalid(t, "samples",
                   "must be 0 (all, natural only) or at least 2 (one adaptation and one "
                   "evaluation sample)");
  }
  if (p.method == PartitionMethod::kKClasses && p.samples_per_individual > 0) {
    for (int64_t k : p.k_values.empty() ? std::vector<int64_t>{p.k} : p.k_values)
      if (p.samples_per_individual < k)
        return invalid(t, "samples", "must cover k = " + std::to_string(k) + " classes");
  }
  if (p.samples_per_individual == 0 && p.method != PartitionMethod::kNatural) {
    return invalid(t, "samples", "may be 0 (all) only with method = \"natural\"");
  }
  if (!(p.eval_fraction > 0 && p.eval_fraction < 1)) {
    return invalid(t, "eval_fraction", "must be in (0, 1)");
  }
  for (int64_t c : p.classes)
    if (c < 0) return invalid(t, "classes", "must hold class labels (>= 0)");
  if (s.best_classes < 0) return invalid(t, "best_classes", "must be >= 0");
  if (p.method == PartitionMethod::kNatural && (!p.classes.empty() || s.best_classes > 0)) {
    return invalid(t, p.classes.empty() ? "best_classes" : "classes",
                   "cannot narrow method = \"natural\" (an individual is a group)");
  }
  if (s.best_classes > 0) {
    const int64_t k =
        p.k_values.empty() ? p.k : *std::max_element(p.k_values.begin(), p.k_values.end());
    if (p.method == PartitionMethod::kKClasses && s.best_classes < k) {
      return invalid(
          t, "best_classes",
          "must be at least k (" + std::to_string(k) + "): each individual needs k classes");
    }
    if (!p.classes.empty() && static_cast<int64_t>(p.classes.size()) != s.best_classes) {
      return invalid(t, "classes",
                     "holds " + std::to_string(p.classes.size()) + " classes but best_classes is " +
                         std::to_string(s.best_classes) +
                         " (with both, classes is an earlier run's pick)");
    }
  }
  return Status::ok_status();
}

std::string epochs_range(int64_t epochs) {
  return "must be 1 to " + std::to_string(kMaxEpochs) + ", not " + std::to_string(epochs);
}

Status read_general(Table t, GeneralSection& g) {
  FP_RETURN_IF_ERROR(t.get("arch", g.arch));
  FP_RETURN_IF_ERROR(t.get("width_mult", g.width_mult));
  FP_RETURN_IF_ERROR(t.get("epochs", g.epochs));
  FP_RETURN_IF_ERROR(t.get("batch_size", g.batch_size));
  FP_RETURN_IF_ERROR(t.get("learning_rate", g.learning_rate));
  FP_RETURN_IF_ERROR(t.get("optimizer", g.optimizer));
  FP_RETURN_IF_ERROR(t.get("threads", g.threads));
  FP_RETURN_IF_ERROR(t.get("leave_individual_out", g.leave_individual_out));
  FP_RETURN_IF_ERROR(t.finish());
  if (std::string unknown = unknown_architecture(g.arch); !unknown.empty())
    return invalid(t, "arch", unknown);
  if (!(g.width_mult > 0 && g.width_mult <= 4))
    return invalid(t, "width_mult", "must be in (0, 4]");
  if (g.epochs < 1 || g.epochs > kMaxEpochs) return invalid(t, "epochs", epochs_range(g.epochs));
  if (g.batch_size < 1) return invalid(t, "batch_size", "must be at least 1");
  if (std::string why = learning_rate_problem(g.learning_rate); !why.empty())
    return invalid(t, "learning_rate", why);
  if (g.optimizer != "adam" && g.optimizer != "sgd") {
    return invalid(t, "optimizer", "must be \"adam\" or \"sgd\"");
  }
  if (g.threads < 1 || g.threads > kMaxComputeThreads)
    return invalid(t, "threads", "must be in [1, " + std::to_string(kMaxComputeThreads) + "]");
  return Status::ok_status();
}

bool in_unit(double x) { return x >= 0 && x < 1; }

// The keys a variant may set; [fineprune] sets them for all, [[fineprune.variants]] per variant.
Status read_variant_keys(Table& t, Variant& v) {
  PruneConfig& p = v.settings.prune;
  SelectorConfig& sel = v.settings.selector;
  FP_RETURN_IF_ERROR(get_enum(t, "criterion", p.criterion, &parse_criterion));
  FP_RETURN_IF_ERROR(get_enum(t, "granularity", p.granularity, &parse_granularity));
  FP_RETURN_IF_ERROR(get_enum(t, "scope", p.scope, &parse_scope));
  FP_RETURN_IF_ERROR(get_enum(t, "schedule", p.schedule, &parse_schedule));
  FP_RETURN_IF_ERROR(t.get("target_sparsity", p.target_sparsity));
  FP_RETURN_IF_ERROR(t.get("iterative_steps", p.iterative_steps));
  FP_RETURN_IF_ERROR(t.get("prune_output_layer", p.prune_output_layer));
  FP_RETURN_IF_ERROR(t.get("output_usage_threshold", p.output_usage_threshold));
  FP_RETURN_IF_ERROR(t.get_distinct_list("protected_layers", p.protected_layers));
  FP_RETURN_IF_ERROR(t.get("min_units_per_layer", p.min_units_per_layer));
  FP_RETURN_IF_ERROR(t.get("prune_hidden", p.prune_hidden));
  FP_RETURN_IF_ERROR(t.get("compensate_bias", p.compensate_bias));
  FP_RETURN_IF_ERROR(t.get("reestimate_batch_norm", p.reestimate_batch_norm));
  FP_RETURN_IF_ERROR(t.get("class_spread_threshold", p.class_spread_threshold));
  FP_RETURN_IF_ERROR(t.get("class_spread_share", p.class_spread_share));
  FP_RETURN_IF_ERROR(
      t.get("reestimation_min_confidence_ratio", p.reestimation_min_confidence_ratio));
  FP_RETURN_IF_ERROR(t.get("select_sparsity", v.settings.select_sparsity));
  FP_RETURN_IF_ERROR(get_enum(t, "selector", sel.score, &parse_selection_score));
  FP_RETURN_IF_ERROR(t.get("min_agreement", sel.min_agreement));
  FP_RETURN_IF_ERROR(t.get("confident_fraction", sel.confident_fraction));
  FP_RETURN_IF_ERROR(t.get("heldout_fraction", v.settings.heldout_fraction));
  FP_RETURN_IF_ERROR(t.get_list("candidates", sel.candidates));
  FP_RETURN_IF_ERROR(t.get("stop_after_ruled_out", sel.stop_after_ruled_out));
  FP_RETURN_IF_ERROR(t.get("stop_after_beaten", sel.stop_after_beaten));
  FP_RETURN_IF_ERROR(t.get("rule_out_parts", sel.rule_out_parts));
  FP_RETURN_IF_ERROR(t.get_distinct_list("sweep", v.settings.sweep_targets));
  FP_RETURN_IF_ERROR(t.get("adaptation_samples", v.settings.max_adaptation_samples));
  FP_RETURN_IF_ERROR(t.get("statistics_samples", v.settings.statistics_samples));
  Status valid = p.validate();
  if (!valid.ok()) {
    return Status::invalid_argument(t.at_key("target_sparsity") + t.path() + ": " +
                                    valid.message());
  }
  if (auto problem = personalize_settings_problem(v.settings))
    return invalid(t, problem->key, problem->must);
  const auto& sweep = v.settings.sweep_targets;
  if (!std::all_of(sweep.begin(), sweep.end(), in_unit) || sweep.size() > 64) {
    return invalid(t, "sweep", "must hold at most 64 sparsities in [0, 1)");
  }
  return Status::ok_status();
}

// Names become folder and file names (runs/<name>): "." or ".." would put a run outside
// runs/ (and --fresh would then empty the folder above), a leading '.' would hide it.
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 48 || s.front() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Status read_fineprune(Table t, const std::string& source, Scenario& s) {
  Variant base;
  FP_RETURN_IF_ERROR(read_variant_keys(t, base));
  FP_ASSIGN_OR_RETURN(auto variants, t.tables("variants"));
  FP_RETURN_IF_ERROR(t.finish());
  std::set<std::string> names;
  for (size_t i = 0; i < variants.size(); ++i) {
    Variant v = base;
    Table vt(variants[i], "fineprune.variants[" + std::to_string(i) + "]", source);
    FP_RETURN_IF_ERROR(vt.get("name", v.name));
    FP_RETURN_IF_ERROR(read_variant_keys(vt, v));
    FP_RETURN_IF_ERROR(vt.finish());
    if (!valid_name(v.name)) {
      return Status::invalid_argument(
          vt.at(*variants[i]) + vt.name("name") +
          " must be 1-48 letters, digits, '-', '_' or '.', not starting with '.'");
    }
    if (!names.insert(v.name).second) {
      return Status::invalid_argument(vt.at(*variants[i]) + "variant name '" + v.name +
                                      "' is used twice");
    }
    s.variants.push_back(std::move(v));
  }
  if (s.variants.empty()) s.variants.push_back(std::move(base));
  return Status::ok_status();
}

// Every name a known method, none twice; the message names the first that is not.
std::string methods_problem(const std::vector<std::string>& methods) {
  std::set<std::string> seen;
  for (const auto& m : methods) {
    if (!is_known_method(m)) return "may hold " + known_methods_text() + ", not \"" + m + "\"";
    if (!seen.insert(m).second) return "names \"" + m + "\" twice";
  }
  return "";
}

Status read_baselines(Table t, BaselineSection& b) {
  FP_RETURN_IF_ERROR(t.get_distinct_list("methods", b.methods));
  FP_RETURN_IF_ERROR(t.get("finetune_epochs", b.finetune_epochs));
  FP_RETURN_IF_ERROR(t.get("finetune_learning_rate", b.finetune_learning_rate));
  FP_RETURN_IF_ERROR(t.get_distinct_list("finetune_learning_rates", b.finetune_learning_rates));
  FP_RETURN_IF_ERROR(t.get("finetune_max_epochs", b.finetune_max_epochs));
  FP_RETURN_IF_ERROR(t.get("finetune_last_layer_only", b.finetune_last_layer_only));
  FP_RETURN_IF_ERROR(t.finish());
  if (std::string why = methods_problem(b.methods); !why.empty()) return invalid(t, "methods", why);
  if (b.finetune_epochs < 1 || b.finetune_epochs > kMaxEpochs)
    return invalid(t, "finetune_epochs", epochs_range(b.finetune_epochs));
  if (b.finetune_max_epochs < 1 || b.finetune_max_epochs > kMaxEpochs)
    return invalid(t, "finetune_max_epochs", epochs_range(b.finetune_max_epochs));
  if (b.finetune_learning_rates.empty())
    return invalid(t, "finetune_learning_rates", "must be a non-empty list of rates");
  for (double rate : b.finetune_learning_rates)
    if (std::string why = learning_rate_problem(rate); !why.empty())
      return invalid(t, "finetune_learning_rates", "each " + why);
  if (std::string why = learning_rate_problem(b.finetune_learning_rate); !why.empty())
    return invalid(t, "finetune_learning_rate", why);
  return Status::ok_status();
}

Status read_hosting(Table t, HostingSection& h) {
  std::string mode = hosting_mode_name(h.mode);
  FP_RETURN_IF_ERROR(t.get("mode", mode));
  FP_RETURN_IF_ERROR(t.get("hosts", h.hosts));
  FP_RETURN_IF_ERROR(t.get("workers", h.workers));
  FP_RETURN_IF_ERROR(t.get("connected", h.connected));
  FP_RETURN_IF_ERROR(t.get("threads_per_worker", h.threads_per_worker));
  FP_RETURN_IF_ERROR(t.get("compute_nice", h.compute_nice));
  FP_RETURN_IF_ERROR(t.get("endpoint", h.endpoint));
  FP_RETURN_IF_ERROR(t.get("heartbeat_ms", h.heartbeat_ms));
  FP_RETURN_IF_ERROR(t.get("liveness", h.liveness));
  FP_RETURN_IF_ERROR(t.get("max_attempts", h.max_attempts));
  FP_RETURN_IF_ERROR(t.get("commit_delay_ms", h.commit_delay_ms));
  FP_RETURN_IF_ERROR(t.get("keep_private_data", h.keep_private_data));
  FP_RETURN_IF_ERROR(read_either(t, "agent_folders", "memory", "disk", h.folders_in_memory));
  FP_RETURN_IF_ERROR(read_either(t, "private_data", "memory", "file", h.private_data_in_memory));
  FP_RETURN_IF_ERROR(read_either(t, "downloads", "memory", "file", h.downloads_in_memory));
  FP_RETURN_IF_ERROR(read_either(t, "connections", "shared", "per-agent", h.share_connections));
  bool curve = !h.plain;
  FP_RETURN_IF_ERROR(read_either(t, "security", "curve", "plain", curve));
  h.plain = !curve;
  FP_RETURN_IF_ERROR(t.finish());
  if (auto m = parse_hosting_mode(mode)) {
    h.mode = *m;
  } else {
    return invalid(t, "mode",
                   "must be \"in-process\", \"processes\" or \"external\", not \"" + mode + "\"");
  }
  if (auto wrong = hosting_problem(h)) return invalid(t, wrong->key.c_str(), wrong->why);
  return Status::ok_status();
}

Status read_privacy(Table t, security::PrivacyConfig& p) {
  std::string mechanism = security::mechanism_name(p.mechanism);
  FP_RETURN_IF_ERROR(t.get("mechanism", mechanism));
  FP_RETURN_IF_ERROR(t.get("epsilon", p.epsilon));
  FP_RETURN_IF_ERROR(t.get("delta", p.delta));
  FP_RETURN_IF_ERROR(t.finish());
  auto made = security::make_privacy_config(mechanism, p.epsilon, p.delta,
                                            t.at_key("mechanism") + "privacy");
  if (!made.ok()) return made.status();
  p = *made;
  return Status::ok_status();
}

}  // namespace

std::string Variant::assignment_json(const security::PrivacyConfig& privacy) const {
  auto j = nlohmann::json::parse(personalize_settings_json(settings));
  if (privacy.enabled()) j["privacy"] = nlohmann::json::parse(security::privacy_to_json(privacy));
  return j.dump();
}

std::optional<KeyProblem> hosting_problem(const HostingSection& h) {
  auto range = [](const char* key, int64_t value, int64_t low, int64_t high) {
    return value < low || value > high
               ? std::optional<KeyProblem>(KeyProblem{
                     key, "must be in [" + std::to_string(low) + ", " + std::to_string(high) + "]"})
               : std::nullopt;
  };
  if (auto wrong = range("hosts", h.hosts, 1, 1024)) return wrong;
  if (auto wrong = range("workers", h.workers, 1, 256)) return wrong;
  if (auto wrong = range("connected", h.connected, 0, 100000)) return wrong;
  if (auto wrong = range("threads_per_worker", h.threads_per_worker, 1, 64)) return wrong;
  if (auto wrong = range("compute_nice", h.compute_nice, 0, 19)) return wrong;
  if (h.endpoint.rfind("tcp://", 0) != 0 && h.endpoint.rfind("ipc://", 0) != 0)
    return KeyProblem{"endpoint", "must start with tcp:// or ipc://"};
  // The coordinator's own check, here: "tcp://127.0.0.1:99999" passed run --check and failed
  // once the general model had trained.
  if (Status e = proto::check_endpoint(h.endpoint, proto::EndpointUse::kBind); !e.ok())
    return KeyProblem{"endpoint", "must be an endpoint to bind: " + e.message()};
  if (auto wrong = range("heartbeat_ms", h.heartbeat_ms, 10, 60000)) return wrong;
  if (auto wrong = range("liveness", h.liveness, 2, 100)) return wrong;
  if (auto wrong = range("commit_delay_ms", h.commit_delay_ms, 0, 1000)) return wrong;
  return range("max_attempts", h.max_attempts, 1, 100);
}

std::optional<HostingMode> parse_hosting_mode(const std::string& name) {
  for (HostingMode m : {HostingMode::kInProcess, HostingMode::kProcesses, HostingMode::kExternal})
    if (name == hosting_mode_name(m)) return m;
  return std::nullopt;
}

const char* hosting_mode_name(HostingMode m) {
  switch (m) {
    case HostingMode::kInProcess:
      return "in-process";
    case HostingMode::kProcesses:
      return "processes";
    case HostingMode::kExternal:
      return "external";
  }
  return "?";
}

Status set_baseline_methods(Scenario& scenario, const std::string& list) {
  if (list.empty())
    return Status::invalid_argument("--methods is empty (say none for no baseline)");
  std::vector<std::string> methods;
  if (list != "none") {
    std::stringstream in(list);
    for (std::string m; std::getline(in, m, ',');) methods.push_back(m);
  }
  if (std::string why = methods_problem(methods); !why.empty())
    return Status::invalid_argument("--methods " + why + " (a comma-separated list, or none)");
  scenario.baselines.methods = std::move(methods);
  return Status::ok_status();
}

void set_seed(Scenario& scenario, uint64_t seed) {
  scenario.seed = seed;
  if (!scenario.partition_seed_set) scenario.partition.seed = seed;
}

std::string text_with_overrides(const Scenario& scenario) {
  if (scenario.overrides.empty()) return scenario.text;
  std::string note = "# fp-sim run overrode, after reading this file:\n";
  for (const auto& o : scenario.overrides) note += "#   " + o + "\n";
  return note + scenario.text;
}

Result<Scenario> parse_scenario(const std::string& text, const std::string& source) {
  FP_ASSIGN_OR_RETURN(toml::table root, config::parse_toml(text, source));
  Scenario s;
  s.source = source;
  s.text = text;
  Table top(&root, "", source);
  FP_RETURN_IF_ERROR(top.get("name", s.name));
  FP_RETURN_IF_ERROR(top.get("description", s.description));
  FP_RETURN_IF_ERROR(top.get("seed", s.seed));
  FP_ASSIGN_OR_RETURN(auto data, top.table("data"));
  FP_ASSIGN_OR_RETURN(auto partition, top.table("partition"));
  FP_ASSIGN_OR_RETURN(auto general, top.table("general"));
  FP_ASSIGN_OR_RETURN(auto fineprune, top.table("fineprune"));
  FP_ASSIGN_OR_RETURN(auto baselines, top.table("baselines"));
  FP_ASSIGN_OR_RETURN(auto hosting, top.table("hosting"));
  FP_ASSIGN_OR_RETURN(auto privacy, top.table("privacy"));
  FP_RETURN_IF_ERROR(top.finish());
  if (s.name.empty())
    return Status::invalid_argument(source + ": name is required (a short label)");
  if (!valid_name(s.name)) {
    return Status::invalid_argument(
        top.at_key("name") +
        "name must be 1-48 letters, digits, '-', '_' or '.', not starting with '.'");
  }
  s.partition.seed = s.seed;
  FP_RETURN_IF_ERROR(read_data(Table(data, "data", source), s.data));
  FP_RETURN_IF_ERROR(read_partition(Table(partition, "partition", source), s));
  FP_RETURN_IF_ERROR(read_general(Table(general, "general", source), s.general));
  FP_RETURN_IF_ERROR(read_fineprune(Table(fineprune, "fineprune", source), source, s));
  FP_RETURN_IF_ERROR(read_baselines(Table(baselines, "baselines", source), s.baselines));
  FP_RETURN_IF_ERROR(read_hosting(Table(hosting, "hosting", source), s.hosting));
  FP_RETURN_IF_ERROR(read_privacy(Table(privacy, "privacy", source), s.privacy));

  if (s.best_classes > 0 && s.data.dataset != "fashion-mnist") {
    return Status::invalid_argument(
        source +
        ": partition.best_classes needs data.dataset = \"fashion-mnist\" (the classes "
        "are scored on training images the general model did not train on)");
  }
  if (s.best_classes > 0 && s.partition.classes.empty() && s.data.general_samples == 0) {
    return Status::invalid_argument(
        source +
        ": partition.best_classes needs data.general_samples > 0: the general model "
        "trains on the first general_samples training images and the classes are "
        "scored on the next ones (e.g. general_samples = 50000)");
  }
  if (s.general.leave_individual_out) {
    if (s.data.dataset == "fashion-mnist") {
      return Status::invalid_argument(
          source +
          ": general.leave_individual_out needs data.dataset = \"fsdd\" or \"image-folder\" "
          "(Fashion-MNIST individuals come from the test split, which the general model never "
          "sees)");
    }
    if (s.partition.method != PartitionMethod::kNatural) {
      return Status::invalid_argument(source +
                                      ": general.leave_individual_out needs partition.method = "
                                      "\"natural\" (an individual is a speaker, or a person's "
                                      "subfolder of an image folder)");
    }
  }
  return s;
}

Result<std::string> with_partition_classes(const std::string& text,
                                           const std::vector<int64_t>& classes,
                                           const std::string& why) {
  static const std::regex header(R"(^\s*\[\s*partition\s*\]\s*(#.*)?\r?$)");
  std::string line, out;
  bool added = false;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    out += line + "\n";
    if (!added && std::regex_match(line, header)) {
      out += "classes = [";
      for (size_t i = 0; i < classes.size(); ++i)
        out += (i ? ", " : "") + std::to_string(classes[i]);
      out += "]  # " + why + "\n";
      added = true;
    }
  }
  if (!added) {
    return Status::invalid_argument(
        "the scenario has no [partition] header line to record classes under");
  }
  auto parsed = parse_scenario(out, "scenario with classes");
  if (!parsed.ok()) return parsed.status();
  if (parsed->partition.classes != classes) {
    return Status::invalid_argument(
        "the scenario's [partition] classes did not take the recorded list");
  }
  return out;
}

int64_t hosts_to_start(const HostingSection& h, size_t individuals) {
  if (h.mode == HostingMode::kExternal) return h.hosts;
  return std::clamp<int64_t>(static_cast<int64_t>(individuals), 1, h.hosts);
}

Result<Scenario> load_scenario(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::string text, read_file(path, "scenario file"));
  return parse_scenario(text, path);
}

}  // namespace fp::sim
