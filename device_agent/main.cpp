// fp-agent: one device. Holds an individual's private data (its own folder of files,
// or an individual of a built-in data set), takes Fine-Pruning tasks from the
// coordinator and sends back telemetry only; keeps the personalized model and runs it
// on its files (fp-agent predict). Every option may also come from --config FILE.
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "agent/agent.h"
#include "agent/device_inference.h"
#include "agent/fineprune_runner.h"
#include "agent/kept_model.h"
#include "agent/local_data.h"
#include "agent/start_checks.h"
#include "config/cli_checks.h"
#include "config/cli_toml.h"
#include "config/duration.h"
#include "data/dataset_names.h"
#include "data/file_decoder.h"
#include "data/fsdd.h"
#include "model_commands.h"
#include "models/artifact.h"
#include "protocol/endpoint.h"
#include "security/keys.h"
#include "util/allocator.h"
#include "util/compute_threads.h"
#include "util/process_lock.h"
#include "util/program_main.h"
#include "util/progress.h"
#include "util/text.h"

namespace {

fp::agent::Agent* g_agent = nullptr;
volatile std::sig_atomic_t g_signalled = 0;

// Only atomic stores: safe in a signal handler.
extern "C" void on_signal(int) {
  g_signalled = 1;
  if (g_agent) g_agent->stop();
}

// fp-agent keygen: this device's key pair; its .pub goes to the coordinator's operator.
int keygen(const std::string& key, bool force) {
  auto pair = fp::security::generate_keypair();
  fp::Status s = pair.ok() ? fp::security::write_keypair(*pair, key, force) : pair.status();
  if (!s.ok()) {
    spdlog::error("{}", s.to_string());
    return 1;
  }
  fmt::print(
      "wrote {} and {} (secret, mode 0600)\nenroll it on the coordinator with:\n"
      "  fp-coordinator enroll -c <its configuration> --key {} --name <device name>\n"
      "(in the coordinator's working folder)\n",
      fp::security::public_key_path(key), fp::security::secret_key_path(key),
      fp::security::public_key_path(key));
  return 0;
}

// fp-agent predict: the kept personalized model (or --model) on every file of the folder.
int predict(const std::string& data, const std::string& model_path, const std::string& work_dir,
            int64_t batch) {
  if (data.empty()) {
    spdlog::error("predict needs --data DIR (the files to classify)");
    return 2;
  }
  std::string path = model_path;
  if (path.empty()) {
    auto kept = fp::agent::latest_kept_model(work_dir + "/personalized");
    if (!kept.ok()) {
      spdlog::error("{}", kept.status().to_string());
      return 1;
    }
    spdlog::info("model {} ({} {} bytes, sha256 {}, personalized from general {})", kept->path,
                 kept->form, kept->bytes, kept->sha256.substr(0, 12),
                 kept->general_sha256.substr(0, 12));
    path = kept->path;
  }
  auto model = fp::load_model(path);
  if (!model.ok()) {
    spdlog::error("{}", model.status().to_string());
    return 1;
  }
  std::unique_ptr<fp::Progress> progress;
  auto summary = fp::agent::predict_folder(
      **model, data, batch,
      [](const fp::agent::Prediction& p) {
        // One line a file whatever its name (a name with a newline could forge a line).
        fmt::print("{}\t{}\t{}\t{:.3f}\n", fp::escape_text(p.file), p.class_id,
                   p.class_name.empty() ? "-" : fp::escape_text(p.class_name), p.confidence);
      },
      [&](int64_t done, int64_t total) {
        // A bar only for folders long enough to wait for.
        if (!progress && total > 4 * batch)
          progress = std::make_unique<fp::Progress>("predict", total);
        if (progress) progress->update(done);
      });
  if (progress) progress->finish();
  if (!summary.ok()) {
    spdlog::error("{}", summary.status().to_string());
    return 1;
  }
  spdlog::info("{} file(s) classified{}", summary->predicted,
               summary->skipped.count ? "; " + summary->skipped.summary() : "");
  for (const auto& note : summary->skipped.recording_warnings()) spdlog::warn("{}", note);
  return 0;
}

// This agent's key pair and the coordinator's public key, into `security`; false (the
// error logged, saying how to make them) when they cannot be read.
bool read_agent_keys(const std::string& key, const std::string& coordinator_key,
                     fp::security::SocketSecurity& security) {
  // A folder is no pair to make either: keygen refuses it too, so no "create it with" hint.
  if (fp::Status path = fp::security::check_key_pair_path(key); !path.ok()) {
    spdlog::error("--key: {}", path.to_string());
    return false;
  }
  auto pair = fp::security::read_keypair(key);
  if (!pair.ok()) {
    spdlog::error(
        "{} (create this agent's key pair with 'fp-agent keygen --key {}', or pass "
        "--plain)",
        pair.status().to_string(), key);
    return false;
  }
  auto server = fp::security::read_public_key(coordinator_key);
  if (!server.ok()) {  // not this agent's to make: the coordinator's operator hands it out
    spdlog::error(
        "{} (--coordinator-key is the coordinator's public key: copy its .pub file, "
        "made by 'fp-coordinator keygen' or its first start, to {})",
        server.status().to_string(), coordinator_key);
    return false;
  }
  security.own = *pair;
  security.server_public = *server;
  return true;
}

// fp-agent --check looks inside some of the data folder's files (a start only lists them):
// false, the error logged, when none of those tried can be read.
bool check_folder_reads(const std::string& folder, const std::string& dataset) {
  auto probe = fp::agent::probe_data_folder(folder, dataset);
  if (!probe.ok()) {
    spdlog::error("--data: {}", probe.status().to_string());
    return false;
  }
  if (probe->decoded == 0) {
    spdlog::error(
        "--data: none of the {} file(s) tried of {} could be read, so every task would "
        "fail: {}",
        probe->sampled, folder, probe->skipped.summary());
    return false;
  }
  if (probe->skipped.count > 0)
    spdlog::warn("--data: {} of the {} file(s) tried could not be read (tasks skip such files): {}",
                 probe->skipped.count, probe->sampled, probe->skipped.summary());
  for (const auto& note : probe->skipped.recording_warnings()) spdlog::warn("--data: {}", note);
  fmt::print("data: {} file(s) in {}; {} of {} tried read as {} data\n", probe->files, folder,
             probe->decoded, probe->sampled, dataset);
  return true;
}

// fp-agent --check, once the start checks passed: the keys (read, nothing made) and whether
// another agent uses the work folder now, then what the agent would announce.
int check_result(const fp::agent::AgentConfig& config, const std::vector<std::string>& announced,
                 const std::string& key, const std::string& coordinator_key, bool plain,
                 bool new_id) {
  fp::security::SocketSecurity read;  // read to check, not kept
  if (!plain && !read_agent_keys(key, coordinator_key, read)) return 2;
  // Not an error: the check of a running agent's configuration finds its own agent there.
  if (fp::ProcessLock::held_by_another(config.work_dir + "/agent.lock").value_or(false)) {
    spdlog::warn(
        "--work-dir: {} is in use by a running agent now: a second start would be "
        "refused until it ends",
        config.work_dir);
  }
  fmt::print("ready: agent {}{} -> {} ({}) holding {}\n", config.agent_id,
             new_id ? " (an id made for this check; the first start makes and keeps its own)" : "",
             config.coordinator, plain ? "plain" : "CURVE, keys read", fmt::join(announced, ", "));
  return 0;
}

int agent_main(int argc, char** argv) {
  fp::tune_allocator();  // before any thread allocates
  CLI::App app{
      "fp-agent: a device agent that fine-prunes the coordinator's model on private, "
      "local data and reports telemetry only"};
  fp::agent::AgentConfig config;
  fp::agent::FinePruneRunnerConfig runner_config;
  std::vector<std::string> individuals;
  std::string level = "info";
  int64_t hello_ms = 3000, resend_ms = 2000, backoff_min_ms = 100, backoff_max_ms = 5000;
  bool keep_models = true;
  std::string key = "keys/agent", coordinator_key = "keys/coordinator.pub";
  bool plain = false, force = false, check_only = false;
  std::string config_file, give_up_after, predict_model;
  int64_t predict_batch = 256;

  auto* keygen_cmd = app.add_subcommand("keygen", "Create this agent's CURVE key pair and exit");
  keygen_cmd->add_option("--key", key, "key pair path without .pub/.key")->capture_default_str();
  keygen_cmd->add_flag("--force", force, "overwrite an existing key pair");
  std::string model_path, out_path;
  auto* compact_cmd = app.add_subcommand(
      "compact", "Remove a pruned model's pruned units: a smaller model with the same outputs");
  compact_cmd->add_option("--model", model_path, "model artifact (dense or masked)")->required();
  compact_cmd->add_option("--out", out_path, "compact artifact to write")->required();
  auto* export_cmd = app.add_subcommand(
      "export", "Write a model for PyTorch: <out>.pt (torch.load) and <out>.json");
  export_cmd->add_option("--model", model_path, "model artifact (dense, masked or compact)")
      ->required();
  export_cmd->add_option("--out", out_path, "path prefix of the two files")->required();
  auto* predict_cmd = app.add_subcommand(
      "predict",
      "Classify every file under --data with this device's personalized model, print "
      "'file<TAB>class id<TAB>class name<TAB>confidence' per file (in names, tabs, newlines, "
      "backslashes, other control characters and non-UTF-8 bytes are escaped: \\t, \\n, "
      "\\\\, \\uXXXX, \\xNN); nothing leaves the device");
  predict_cmd->fallthrough();  // --data, --work-dir, --config ... are the agent's own
  predict_cmd->footer(
      "Also fp-agent's own options, before or after predict (fp-agent --help): --data DIR (the "
      "files to classify; required), --work-dir (where the kept models are), --threads, "
      "--config, --log-level.");
  predict_cmd->add_option("--model", predict_model,
                          "a model file (default: the newest kept in --work-dir/personalized)");
  predict_cmd->add_option("--batch", predict_batch, "files decoded and classified at a time")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  fp::agent_cli::PersonalizeOptions personalize_options;
  auto* personalize_cmd = app.add_subcommand(
      "personalize",
      "Fine-Prune a general model on the files of --data, with no coordinator: writes the "
      "personalized (compact) model to --out and prints what it became; nothing leaves the "
      "device");
  personalize_cmd->fallthrough();  // --data, --labels, --max-samples ... are the agent's own
  personalize_cmd->footer(
      "Also fp-agent's own options, before or after personalize (fp-agent --help): --data DIR "
      "(this device's files; required), --labels FILE, --max-samples, --min-samples, "
      "--eval-fraction, --threads, --config, --log-level.");
  personalize_cmd->add_option("--model", personalize_options.model_path, "the general model")
      ->required();
  personalize_cmd->add_option("--out", personalize_options.out_path, "personalized model to write")
      ->required();
  personalize_cmd->add_option(
      "--set", personalize_options.settings,
      "a personalization setting as [campaign.prune] takes it, e.g. target_sparsity=0.6 "
      "select_sparsity=false (repeatable; default: a campaign's defaults)");
  auto* info_cmd = app.add_subcommand(
      "info", "Say what a model file is: form, classes, size and cost against its architecture");
  info_cmd->add_option("--model", model_path, "model artifact")->required();
  app.require_subcommand(0, 1);

  app.add_option("--config", config_file,
                 "a TOML file with any of these options as keys (give_up_after = \"1h\"); "
                 "the command line wins");
  app.add_option("--data", runner_config.folder.dir,
                 std::string("this device's own files (") + fp::kRecordingFormats + ", " +
                     fp::kPictureFormats +
                     ", IDX; recursively, no labels needed): its private data");
  app.add_option("--labels", runner_config.folder.labels_file,
                 "optional CSV 'path,label' for some --data files: accuracy is then measured "
                 "on the held-out part");
  app.add_option("--max-samples", runner_config.folder.max_samples,
                 "most --data files decoded for one task (memory stays bounded)")
      ->check(fp::config::at_least(2))
      ->capture_default_str();
  app.add_option("--min-samples", runner_config.folder.min_samples,
                 "fewest usable --data files a task personalizes on (fewer: the task fails, "
                 "saying so; the statistics of a handful of files describe those files)")
      ->check(fp::config::at_least(2))
      ->capture_default_str();
  app.add_option("--give-up-after", give_up_after,
                 "exit (status 4) when the coordinator has been unreachable this long, e.g. "
                 "30m (0 or unset: never); unacknowledged reports stay in the work folder for "
                 "the next start");

  app.add_option("--id", config.agent_id,
                 "agent id (default: the one kept in --work-dir/agent.id, made on the first "
                 "start: \"device-\" and 16 random hex digits, nothing of this host)");
  app.add_option("--coordinator", config.coordinator, "coordinator endpoint")
      ->capture_default_str();
  app.add_option("--dataset", runner_config.data.dataset,
                 "fsdd, fashion-mnist, or image-folder (with --data: pictures for a model "
                 "trained on an image folder)")
      ->capture_default_str()
      ->check(CLI::IsMember(fp::dataset_names()));
  app.add_option("--data-dir", runner_config.data.data_dir,
                 "where this device's private data are (default: the data set's usual place)");
  app.add_option("--individual", individuals,
                 "an individual whose data this device holds, e.g. speaker=jackson or "
                 "classes=3+7 (repeatable; required without --data; with --data, the name it "
                 "announces, default device=<id>)");
  app.add_option("--key", key, "this agent's CURVE key pair, without .pub/.key (fp-agent keygen)")
      ->capture_default_str();
  app.add_option("--coordinator-key", coordinator_key, "the coordinator's public key file")
      ->capture_default_str();
  app.add_flag("--check", check_only,
               "check the options, the data, the keys and the work folder as a start would, say "
               "what this agent would announce, and exit (0: ready) without connecting or "
               "writing anything (command line only)");
  app.add_flag("--plain", plain,
               "connect without encryption or authentication (to a coordinator serving --plain)");
  app.add_option("--work-dir", config.work_dir, "model cache and personalized models")
      ->capture_default_str();
  app.add_option("--threads", config.threads, "LibTorch threads")
      ->check(fp::config::in_range(1, fp::kMaxComputeThreads))
      ->capture_default_str();
  app.add_option("--split-seed", runner_config.data.split_seed,
                 "seed of the general/private split (must match the coordinator's)")
      ->capture_default_str();
  app.add_option("--general-fraction", runner_config.data.general_fraction,
                 "share of the data set the coordinator trains on (fsdd)")
      ->check(fp::config::share_below_one())
      ->capture_default_str();
  app.add_option("--eval-fraction", runner_config.data.eval_fraction,
                 "share of the individual's samples kept for labeled evaluation")
      ->check(fp::config::open_unit_interval())
      ->capture_default_str();
  app.add_option("--samples", runner_config.data.samples,
                 "samples per individual (0: fsdd (1 - general fraction) of a speaker's; "
                 "fashion-mnist 600)")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  app.add_option("--partition-individuals", runner_config.data.individuals,
                 "fashion-mnist: individuals of fp-sim's k_classes partition, so "
                 "--individual classes=<a>+<b>#<i> is that simulated individual (0: a class set)")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  app.add_option("--partition-k", runner_config.data.k,
                 "fashion-mnist: classes per individual of that partition")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--finetune-epochs", runner_config.finetune_epochs,
                 "epochs of the plain fine-tuning baseline (finetune_plain; the default "
                 "finetune baseline chooses its epochs on a validation slice, up to 10)")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  app.add_flag("!--no-keep-models", keep_models, "do not keep personalized models");
  app.add_option("--kept-models", runner_config.kept_models,
                 "personalized models kept in --work-dir: the newest this many (0: all)")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  app.add_option("--cached-models", config.cached_models,
                 "general models kept in --work-dir for later tasks: the most recently used "
                 "this many (0: all)")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  app.add_option("--max-tasks", config.max_tasks, "leave after this many tasks (0: never)")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  app.add_flag("--leave-on-goodbye", config.leave_on_goodbye,
               "exit when the coordinator shuts down instead of reconnecting");
  app.add_flag("--leave-when-done", config.leave_when_done,
               "exit once the coordinator has no task left on this device's data (its tasks "
               "ended, none pending) instead of waiting for another campaign");
  // At most a day: the handshake interval is libzmq's int of milliseconds (2147483648 passed
  // --check, then the start failed with "Invalid argument", naming no option).
  constexpr double kDayMs = 86400000;
  app.add_option("--hello-timeout-ms", hello_ms, "wait this long for a Welcome")
      ->check(fp::config::in_range(1, kDayMs))
      ->capture_default_str();
  app.add_option("--resend-ms", resend_ms, "resend unacknowledged reports after")
      ->check(fp::config::in_range(1, kDayMs))
      ->capture_default_str();
  app.add_option("--backoff-min-ms", backoff_min_ms, "first reconnect delay")
      ->check(fp::config::in_range(1, kDayMs))
      ->capture_default_str();
  app.add_option("--backoff-max-ms", backoff_max_ms, "longest reconnect delay")
      ->check(fp::config::in_range(1, kDayMs))
      ->capture_default_str();
  app.add_option("--protocol-version", config.protocol_version,
                 "protocol version to announce (for compatibility tests)")
      ->configurable(false)  // a test's own; a device's config file naming it is refused
      ->group("");           // hidden
  app.add_option("--log-level", level, "trace, debug, info, warn, error")
      ->check(fp::config::log_level())
      ->capture_default_str();
  fp::config::add_integer_range_checks(app);
  if (int code = fp::config::parse_with_config(app, argc, argv, "--config", {"check"}); code >= 0) {
    return code;
  }

  spdlog::set_level(spdlog::level::from_str(level));
  // A device's own files are split and held out as a built-in individual's are.
  runner_config.folder.seed = runner_config.data.split_seed;
  runner_config.folder.eval_fraction = runner_config.data.eval_fraction;
  if (backoff_max_ms < backoff_min_ms) {
    spdlog::error("--backoff-max-ms ({}) must be at least --backoff-min-ms ({})", backoff_max_ms,
                  backoff_min_ms);
    return 2;
  }
  if (*keygen_cmd) return keygen(key, force);
  if (*compact_cmd)
    return fp::agent_cli::compact_command(model_path, out_path, static_cast<int>(config.threads));
  if (*export_cmd) return fp::agent_cli::export_command(model_path, out_path);
  fp::set_compute_threads(static_cast<int>(config.threads));
  if (*info_cmd) return fp::agent_cli::info_command(model_path);
  if (*personalize_cmd) {
    personalize_options.folder = runner_config.folder;
    return fp::agent_cli::personalize_command(personalize_options);
  }
  if (*predict_cmd) {
    return predict(runner_config.folder.dir, predict_model, config.work_dir, predict_batch);
  }
  if (!give_up_after.empty()) {
    auto d = fp::config::parse_duration(give_up_after);
    if (!d.ok()) {
      spdlog::error("--give-up-after: {}", d.status().message());
      return 2;
    }
    config.give_up_after = *d;
  }
  // Given empty (`id = ""` in a config): meant as something, and read as "none given".
  if (app.count("--id") > 0 && config.agent_id.empty()) {
    spdlog::error(
        "--id is empty: give this device's id, or leave it out for the one kept in {}/agent.id",
        config.work_dir);
    return 2;
  }
  bool new_id = false;  // made now: kept in the work folder once the start checks pass
  if (config.agent_id.empty()) {
    auto id = fp::agent::stored_or_new_agent_id(config.work_dir, &new_id);
    if (!id.ok()) {
      spdlog::error("--id: {}", id.status().to_string());
      return 2;
    }
    config.agent_id = *id;
  }
  if (!runner_config.folder.dir.empty()) {
    // The device's own files: the individual is this device.
    if (individuals.empty()) individuals.push_back("device=" + config.agent_id);
  }
  if (individuals.empty()) {
    spdlog::error(
        "--individual or --data is required: name the individual(s) whose data this device "
        "holds, or the folder of its own files");
    return 2;
  }
  // What no task or Hello could work with is refused now: a name no task could load, a
  // folder with nothing to read, an id the coordinator refuses, a labels file that is not
  // there, a work folder that cannot be written (made last: nothing is made for a refused
  // start). Each error names its option (the individuals' check names its own).
  auto refused = [](const char* option, const fp::Status& checked) {
    if (checked.ok()) return false;
    spdlog::error("{}{}{}", option, *option ? ": " : "", checked.to_string());
    return true;
  };
  const std::string& folder = runner_config.folder.dir;
  const std::string& labels = runner_config.folder.labels_file;
  // An option that does nothing in this mode is a mistake to say, not to pass over: a
  // device's own files are not drawn from a built-in data set, and the other way round.
  const std::vector<std::string> builtin_only = {"--data-dir", "--samples", "--general-fraction",
                                                 "--partition-individuals", "--partition-k"};
  for (const auto& option :
       folder.empty() ? std::vector<std::string>{"--max-samples", "--min-samples"} : builtin_only) {
    if (app.count(option) == 0) continue;
    spdlog::error("{}: {}", option,
                  folder.empty() ? "it bounds the files read from --data; give --data too"
                                 : "it applies to a built-in data set's individuals "
                                   "(--individual without --data), not to the files of --data");
    return 2;
  }
  if (runner_config.folder.max_samples < runner_config.folder.min_samples) {
    spdlog::error("--max-samples {} is below --min-samples {}: no task could run",
                  runner_config.folder.max_samples, runner_config.folder.min_samples);
    return 2;
  }
  if (refused(folder.empty() ? "" : "--data",
              folder.empty() ? fp::agent::check_individuals(runner_config.data, individuals)
                             : fp::agent::check_data_folder(folder, runner_config.data.dataset))) {
    return 2;
  }
  if (folder.empty() && !labels.empty()) {
    spdlog::error("--labels: it labels files of --data; give --data too");
    return 2;
  }
  std::vector<std::string> announced;  // what its Hello says it holds
  for (const auto& i : individuals) announced.push_back(runner_config.data.dataset + "/" + i);
  if (refused("--id", fp::agent::check_agent_id(config.agent_id)) ||
      refused("--coordinator", fp::proto::check_program_endpoint(
                                   config.coordinator, fp::proto::EndpointUse::kConnect)) ||
      refused("--individual", fp::agent::check_announced(announced)) ||
      (!labels.empty() && refused("--labels", fp::agent::check_labels_file(labels))) ||
      refused("--work-dir", check_only ? fp::agent::check_work_dir(config.work_dir)
                                       : fp::agent::prepare_work_dir(config.work_dir))) {
    return 2;
  }
  if (check_only) {
    if (!folder.empty() && !check_folder_reads(folder, runner_config.data.dataset)) return 2;
    return check_result(config, announced, key, coordinator_key, plain, new_id);
  }
  // Two agents on one work folder would resend each other's reports from its outbox and write
  // over each other's downloads: the second is refused, naming the first.
  auto work_lock =
      fp::ProcessLock::acquire(config.work_dir + "/agent.lock", "work folder " + config.work_dir,
                               "fp-agent " + config.agent_id);
  if (refused("--work-dir", work_lock.status())) return 2;
  if (new_id) {
    if (refused("--work-dir", fp::agent::keep_agent_id(config.work_dir, config.agent_id))) return 2;
    spdlog::info("agent id {} made for this device, kept in {}/agent.id", config.agent_id,
                 config.work_dir);
  }
  config.security.plain = plain;
  if (plain) {
    spdlog::warn("agent in PLAIN mode: traffic is neither encrypted nor authenticated");
  } else if (!read_agent_keys(key, coordinator_key, config.security)) {
    return 2;
  }
  config.datasets = announced;
  // This machine's memory, for the coordinator's list of agents (MiB).
  config.memory_mb = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                         static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE)) >>
                     20;
  config.hello_timeout = std::chrono::milliseconds(hello_ms);
  config.resend_after = std::chrono::milliseconds(resend_ms);
  config.reconnect_min = std::chrono::milliseconds(backoff_min_ms);
  config.reconnect_max = std::chrono::milliseconds(backoff_max_ms);
  if (keep_models) runner_config.personalized_dir = config.work_dir + "/personalized";
  config.outbox_dir = config.work_dir + "/outbox";
  config.local_paths = {{runner_config.folder.dir, "<data folder>"},
                        {runner_config.folder.labels_file, "<labels file>"},
                        {runner_config.data.data_dir.empty() && runner_config.data.dataset == "fsdd"
                             ? fp::default_fsdd_dir()  // FP_FSDD_DIR's: a private folder too
                             : runner_config.data.data_dir,
                         "<data folder>"}};

  fp::agent::FinePruneRunner runner(runner_config);
  zmq::context_t context(1);
  fp::agent::Agent agent(config, context, runner);
  g_agent = &agent;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  spdlog::info("agent {} -> {} holding {}", config.agent_id, config.coordinator,
               fmt::join(config.datasets, ", "));
  fp::Status s = agent.run();
  g_agent = nullptr;
  auto stats = agent.stats();
  spdlog::info("agent {} leaving: {} task(s) done, {} failed, {} report(s) acknowledged",
               config.agent_id, stats.tasks_done, stats.tasks_failed, stats.reports_acked);
  // Stopped by a signal mid-computation: the task went back to the coordinator with the
  // Goodbye and its result could not be sent, so the process leaves now instead of computing
  // it to the end (a minute and more for a large model; systemd kills after 30 s). What the
  // agent keeps is written whole or not at all; the kernel releases its work folder's lock.
  if (g_signalled && s.ok()) {
    if (const uint64_t task = agent.computing_task()) {
      spdlog::info("agent {}: task {} handed back unfinished; leaving without computing it",
                   config.agent_id, task);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the Goodbye's linger
      spdlog::shutdown();
      std::fflush(nullptr);
      std::_Exit(0);
    }
  }
  if (!s.ok()) {
    spdlog::error("{}", s.to_string());
    if (s.code() == fp::Status::Code::kUnavailable) return 4;  // gave up on the coordinator
    return s.code() == fp::Status::Code::kProtocol ? 3 : 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return fp::run_main("fp-agent", [&] { return agent_main(argc, argv); });
}
