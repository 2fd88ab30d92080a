// fp-agent: one device. Holds an individual's private data at a local path, takes
// Fine-Pruning tasks from the coordinator and sends back telemetry only.
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>

#include "agent/agent.h"
#include "agent/fineprune_runner.h"
#include "model_commands.h"
#include "security/keys.h"

namespace {

fp::agent::Agent* g_agent = nullptr;

// Only an atomic store: safe in a signal handler.
extern "C" void on_signal(int) {
  if (g_agent) g_agent->stop();
}

std::string default_agent_id() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid());
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
      "  fp-coordinator enroll --key {} --name <device name>\n",
      fp::security::public_key_path(key), fp::security::secret_key_path(key),
      fp::security::public_key_path(key));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
  bool plain = false, force = false;

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
  app.require_subcommand(0, 1);

  app.add_option("--id", config.agent_id, "agent id (default: hostname-pid)");
  app.add_option("--coordinator", config.coordinator, "coordinator endpoint")
      ->capture_default_str();
  app.add_option("--dataset", runner_config.data.dataset, "fsdd or fashion-mnist")
      ->capture_default_str();
  app.add_option("--data-dir", runner_config.data.data_dir,
                 "where this device's private data are (default: the data set's usual place)");
  app.add_option("--individual", individuals,
                 "an individual whose data this device holds, e.g. speaker=jackson or "
                 "classes=3+7 (repeatable; required unless keygen)");
  app.add_option("--key", key, "this agent's CURVE key pair, without .pub/.key (fp-agent keygen)")
      ->capture_default_str();
  app.add_option("--coordinator-key", coordinator_key, "the coordinator's public key file")
      ->capture_default_str();
  app.add_flag("--plain", plain,
               "connect without encryption or authentication (to a coordinator serving --plain)");
  app.add_option("--work-dir", config.work_dir, "model cache and personalized models")
      ->capture_default_str();
  app.add_option("--threads", config.threads, "LibTorch threads")->capture_default_str();
  app.add_option("--split-seed", runner_config.data.split_seed,
                 "seed of the general/private split (must match the coordinator's)")
      ->capture_default_str();
  app.add_option("--general-fraction", runner_config.data.general_fraction,
                 "share of the data set the coordinator trains on (fsdd)")
      ->capture_default_str();
  app.add_option("--eval-fraction", runner_config.data.eval_fraction,
                 "share of the individual's samples kept for labeled evaluation")
      ->capture_default_str();
  app.add_option("--samples", runner_config.data.samples,
                 "most samples of the individual to use (0: all; fashion-mnist: 600)")
      ->capture_default_str();
  app.add_option("--finetune-epochs", runner_config.finetune_epochs,
                 "epochs of the fine-tuning baseline")
      ->capture_default_str();
  app.add_flag("!--no-keep-models", keep_models, "do not keep personalized models");
  app.add_option("--max-tasks", config.max_tasks, "leave after this many tasks (0: never)")
      ->capture_default_str();
  app.add_flag("--leave-on-goodbye", config.leave_on_goodbye,
               "exit when the coordinator shuts down instead of reconnecting");
  app.add_option("--hello-timeout-ms", hello_ms, "wait this long for a Welcome")
      ->capture_default_str();
  app.add_option("--resend-ms", resend_ms, "resend unacknowledged reports after")
      ->capture_default_str();
  app.add_option("--backoff-min-ms", backoff_min_ms, "first reconnect delay")
      ->capture_default_str();
  app.add_option("--backoff-max-ms", backoff_max_ms, "longest reconnect delay")
      ->capture_default_str();
  app.add_option("--protocol-version", config.protocol_version,
                 "protocol version to announce (for compatibility tests)")
      ->group("");  // hidden
  app.add_option("--log-level", level, "trace, debug, info, warn, error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(level));
  if (*keygen_cmd) return keygen(key, force);
  if (*compact_cmd)
    return fp::agent_cli::compact_command(model_path, out_path, static_cast<int>(config.threads));
  if (*export_cmd) return fp::agent_cli::export_command(model_path, out_path);
  if (individuals.empty()) {
    spdlog::error("--individual is required: name the individual(s) whose data this device holds");
    return 2;
  }
  config.security.plain = plain;
  if (plain) {
    spdlog::warn("agent in PLAIN mode: traffic is neither encrypted nor authenticated");
  } else {
    auto pair = fp::security::read_keypair(key);
    auto server = pair.ok() ? fp::security::read_public_key(coordinator_key)
                            : fp::Result<std::string>(pair.status());
    if (!server.ok()) {
      spdlog::error("{} (create a key pair with 'fp-agent keygen --key {}', or pass --plain)",
                    server.status().to_string(), key);
      return 2;
    }
    config.security.own = *pair;
    config.security.server_public = *server;
  }
  if (config.agent_id.empty()) config.agent_id = default_agent_id();
  for (const auto& i : individuals) config.datasets.push_back(runner_config.data.dataset + "/" + i);
  config.hello_timeout = std::chrono::milliseconds(hello_ms);
  config.resend_after = std::chrono::milliseconds(resend_ms);
  config.reconnect_min = std::chrono::milliseconds(backoff_min_ms);
  config.reconnect_max = std::chrono::milliseconds(backoff_max_ms);
  if (keep_models) runner_config.personalized_dir = config.work_dir + "/personalized";
  torch::set_num_threads(static_cast<int>(config.threads));

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
  if (!s.ok()) {
    spdlog::error("{}", s.to_string());
    return s.code() == fp::Status::Code::kProtocol ? 3 : 1;
  }
  return 0;
}
