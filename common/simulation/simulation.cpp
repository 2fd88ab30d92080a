#include "simulation/simulation.h"

#include <fmt/ranges.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "coordinator/model_registry.h"
#include "coordinator/server.h"
#include "simulation/agent_host.h"
#include "simulation/campaign_plan.h"
#include "simulation/campaign_progress.h"
#include "simulation/compute_totals.h"
#include "simulation/host_processes.h"
#include "simulation/host_zygote.h"
#include "simulation/population.h"
#include "simulation/run_check.h"
#include "simulation/run_hosts.h"
#include "simulation/run_log.h"
#include "simulation/scenario_overrides.h"
#include "simulation/sim_server_config.h"
#include "store/run_store.h"
#include "store/serve_lock.h"
#include "util/clock.h"
#include "util/compute_threads.h"
#include "util/file_io.h"
#include "util/machine.h"
#include "util/memory.h"
#include "util/progress.h"
#include "util/thread_name.h"

namespace fp::sim {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_seconds(int who) {
  struct rusage u {};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// One run of a scenario, step by step: run_scenario() calls the steps in order. A step
// that fails before the campaign starts records the run as failed, with why.
class ScenarioRun {
 public:
  ScenarioRun(const Scenario& s, const RunOptions& o) : s_(s), o_(o), out_(o.out_dir) {
    // The recorded text says what the flags changed (a resumed run's says it already).
    if (!o.resume) s_.text = text_with_overrides(s);
  }

  // The run directory, its log, the store and the run's row.
  Status prepare();
  // The population, the general model(s) and the campaigns.
  Status set_up();
  // CURVE keys and the coordinator on its own thread.
  Status start_coordinator();
  // Agent hosts: threads of this process or child processes (none when external).
  void launch_hosts();
  // Progress until every task finished, the run was interrupted or the hosts are gone.
  void wait();
  // Stops the coordinator and the hosts; settles the run's status.
  void shut_down();
  // The measurements, into sim_runs.
  Result<RunOutcome> finish();

  // Records the run as failed (interrupted, when `why` is Cancelled) before its campaign
  // started (a run being resumed: only once its record was reopened); returns `why`.
  Status setup_failed(const Status& why);

 private:
  void say(const std::string& line);
  // The log's new warnings and errors (the first few of the run), on the console: the log
  // goes to fp-sim.log, and a run that waits on a mistake (a host started with another
  // seed) would otherwise show only a still progress line. `last`: also how many more
  // the log holds.
  void show_log_tally(bool last);
  // The scenario as run, in the run folder: what `fp-sim host` processes read.
  Status write_scenario_copy();
  // A resumed run's scenario.toml that differs from the recorded text (a user's edit, which
  // --resume does not take): moved aside to scenario.edited.toml, with a warning, before the
  // recorded copy is written back over it.
  Status keep_edited_scenario();
  // prepare() for RunOptions::resume: the run folder's last run, marked running again.
  Status reopen();
  // A resumed run's agents with some or all of their tasks ended, written into their host's
  // journal with how many they have left (a host skips those with none and gives the others
  // only that many): one killed before it journaled itself, or between two tasks, would
  // otherwise wait, with nothing to do, in a connection slot until the campaign ends.
  Status journal_tasks_left();
  // The task counts (and the hosts' agents) into state_, read through `from`.
  Status poll_progress(store::Store* from);
  void fail(const std::string& why) {
    if (status_ == "done") {
      status_ = "failed";
      detail_ = why;
    }
  }

  Scenario s_;  // a copy: set_up() may record the best_classes pick in it
  const RunOptions& o_;
  const fs::path out_;
  const Clock::time_point started_ = Clock::now();
  std::unique_ptr<LogToFile> logging_;
  ProcessLock lock_;  // the run folder's database: one fp-sim run (or coordinator) at a time
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<coord::ModelRegistry> registry_;
  std::optional<store::RunStore> sim_;
  int64_t run_id_ = 0;
  nlohmann::json earlier_attempts_ = nlohmann::json::array();  // a resumed run's, oldest first
  bool reopened_ = false;  // a resumed run's record says "running" again
  std::string scenario_path_;
  Population population_;
  CampaignPlan plan_;
  double setup_seconds_ = 0;

  Clock::time_point campaign_started_;
  double cpu_before_ = 0, campaign_seconds_ = 0, cpu_self_ = 0;
  double hosts_seconds_ = 0;  // from the campaign's start until every host had ended
  zmq::context_t context_{1};
  RunKeys keys_;
  std::unique_ptr<coord::Server> server_;
  std::string endpoint_;
  std::atomic<bool> server_done_{false};
  Status server_status_;
  std::thread server_thread_;

  std::vector<std::unique_ptr<AgentHost>> hosts_;
  std::vector<std::thread> host_threads_;
  std::vector<Status> host_status_;
  std::atomic<int64_t> hosts_running_{0};
  std::vector<ChildProcess> children_;
  std::optional<ChildProcess> zygote_;  // what forked the child hosts, once reaped

  std::unique_ptr<store::Store> reader_;  // a second connection for progress
  std::optional<Progress> progress_;      // drawn while waiting, when o_.progress is set
  ProgressState state_;
  std::string status_ = "done", detail_;
};

void ScenarioRun::say(const std::string& line) {
  spdlog::info("{}", line);
  if (o_.progress) {
    std::fprintf(o_.progress, "%s\n", line.c_str());
    std::fflush(o_.progress);
  }
}

void ScenarioRun::show_log_tally(bool last) {
  // The progress is drawn (wait() made it) whenever there is a console.
  if (!progress_ || !logging_) return;
  LogTally& tally = logging_->tally();
  for (const auto& line : tally.take_new()) progress_->print(line);
  const int64_t more = tally.not_kept();
  if (last && more > 0) {
    const LogTally::Counts n = tally.counts();
    say(fmt::format("{} more warning(s) and error(s) in {} ({} warning(s), {} error(s) in all)",
                    more, (out_ / "fp-sim.log").string(), n.warnings, n.errors));
  }
}

Status ScenarioRun::write_scenario_copy() {
  return write_file(scenario_path_, s_.text, "the run's scenario copy");
}

Status ScenarioRun::keep_edited_scenario() {
  if (!scenario_copy_edited(out_.string(), s_.text))
    return Status::ok_status();  // gone, or as recorded
  std::error_code ec;
  fs::path kept = out_ / "scenario.edited.toml";
  for (int n = 2; fs::exists(kept, ec); ++n)
    kept = out_ / ("scenario.edited." + std::to_string(n) + ".toml");
  fs::rename(scenario_path_, kept, ec);
  if (ec)
    return Status::io_error("keeping the edited " + scenario_path_ + " as " + kept.string() + ": " +
                            ec.message());
  spdlog::warn(
      "{} was edited since the run began: --resume goes on with the scenario the run recorded "
      "(its copy is written back); the edit is kept as {} (a new run takes it: fp-sim run {} "
      "--out NEW_FOLDER)",
      scenario_path_, kept.string(), kept.string());
  return Status::ok_status();
}

Status ScenarioRun::setup_failed(const Status& why) {
  if (sim_ && (!o_.resume || reopened_)) {
    nlohmann::json stats = {{"detail", why.to_string()}};
    const bool cancelled = why.code() == Status::Code::kCancelled;
    (void)sim_->finish_run(run_id_, cancelled ? "interrupted" : "failed", unix_now(), stats.dump());
  }
  return why;
}

Status ScenarioRun::prepare() {
  // Before the lock file is written into it: --out may name a folder that is no run's. A run
  // going there now is named as such (it was "already holds a run ... or start over with
  // --fresh").
  FP_RETURN_IF_ERROR(check_no_run_going(o_.out_dir));
  FP_RETURN_IF_ERROR(check_run_folder(o_));
  FP_RETURN_IF_ERROR(check_protected_layers(s_));  // before it trains for nothing
  // Before anything in the folder is deleted or written: a run still going there is refused,
  // and one that ended just before the lock was taken is found by the second check.
  FP_ASSIGN_OR_RETURN(lock_, store::lock_database(run_database(o_.out_dir), "fp-sim run"));
  FP_RETURN_IF_ERROR(check_run_folder(o_));
  std::error_code ec;
  if (o_.resume) return reopen();
  if (o_.fresh) {  // what an earlier run wrote, but the lock just taken
    const fs::path held = fs::path(store::serve_lock_file(run_database(o_.out_dir)));
    std::vector<fs::path> old;
    std::vector<std::string> kept;
    for (fs::directory_iterator it(out_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name == held.filename()) continue;
      if (is_run_entry(name)) {
        old.push_back(it->path());
      } else {
        kept.push_back(name);
      }
    }
    if (ec) return Status::io_error("--fresh: listing " + o_.out_dir + ": " + ec.message());
    for (const auto& p : old) {
      fs::remove_all(p, ec);
      if (ec) return Status::io_error("--fresh: deleting " + p.string() + ": " + ec.message());
    }
    if (!kept.empty()) {
      std::sort(kept.begin(), kept.end());
      say(fmt::format("--fresh: kept what is not the earlier run's in {}: {}", o_.out_dir,
                      fmt::join(kept, ", ")));
    }
  }
  fs::create_directories(out_ / "hosts", ec);
  if (ec) return Status::io_error("creating " + o_.out_dir + ": " + ec.message());
  scenario_path_ = (out_ / "scenario.toml").string();
  FP_RETURN_IF_ERROR(write_scenario_copy());
  logging_ = std::make_unique<LogToFile>((out_ / "fp-sim.log").string(), o_.log_level);

  FP_ASSIGN_OR_RETURN(store_, store::Store::open(run_database(o_.out_dir)));
  registry_ = std::make_unique<coord::ModelRegistry>((out_ / "models").string(), *store_);
  FP_ASSIGN_OR_RETURN(store::RunStore sim, store::RunStore::open(*store_));
  sim_.emplace(sim);
  store::RunRecord record;
  record.scenario = s_.name;
  record.scenario_toml = s_.text;
  record.seed = s_.seed;
  record.started_at = unix_now();
  FP_ASSIGN_OR_RETURN(run_id_, sim_->add_run(record));
  if (o_.on_database) {
    Status ready = o_.on_database(run_database(o_.out_dir));
    if (!ready.ok()) return setup_failed(ready);
  }
  say("scenario " + s_.name + " (" + s_.source + "), seed " + std::to_string(s_.seed) + ", run " +
      std::to_string(run_id_) + " in " + o_.out_dir);
  return Status::ok_status();
}

Status ScenarioRun::reopen() {
  FP_RETURN_IF_ERROR(check_resumable(o_));  // as --resume --check finds it: not a task failed
  scenario_path_ = (out_ / "scenario.toml").string();
  const std::string log_path = (out_ / "fp-sim.log").string();
  {  // a killed run's last line may be cut short: this attempt's lines start on their own
    std::ifstream log(log_path, std::ios::binary | std::ios::ate);
    char last = '\n';
    if (log && log.tellg() > 0 && log.seekg(-1, std::ios::end)) log.get(last);
    if (last != '\n') std::ofstream(log_path, std::ios::app) << "\n";
  }
  logging_ = std::make_unique<LogToFile>(log_path, o_.log_level);
  FP_ASSIGN_OR_RETURN(store_, store::Store::open(run_database(o_.out_dir)));
  registry_ = std::make_unique<coord::ModelRegistry>((out_ / "models").string(), *store_);
  FP_ASSIGN_OR_RETURN(store::RunStore sim, store::RunStore::open(*store_));
  sim_.emplace(sim);
  FP_ASSIGN_OR_RETURN(store::RunRecord last, sim_->run(0));
  if (last.scenario_toml != s_.text) {
    return Status::invalid_argument("run " + std::to_string(last.id) + " in " + o_.out_dir +
                                    " recorded another scenario than the one given to resume it");
  }
  run_id_ = last.id;
  // What the earlier attempts measured stays in the record (a killed one measured nothing).
  auto earlier = nlohmann::json::parse(last.stats_json, nullptr, false);
  if (earlier.is_object()) {
    earlier_attempts_ = earlier.value("earlier_attempts", nlohmann::json::array());
    earlier.erase("earlier_attempts");
    earlier["status"] = last.status;
    earlier_attempts_.push_back(earlier);
  }
  std::error_code ec;
  fs::create_directories(out_ / "hosts", ec);
  FP_RETURN_IF_ERROR(keep_edited_scenario());
  FP_RETURN_IF_ERROR(write_scenario_copy());  // hosts read it; a user may have moved it away
  if (o_.on_database) {
    Status ready = o_.on_database(run_database(o_.out_dir));
    if (!ready.ok()) return setup_failed(ready);
  }
  say(fmt::format("scenario {}, seed {}: resuming run {} in {} (it was {}; attempt {})", s_.name,
                  s_.seed, run_id_, o_.out_dir, last.status, earlier_attempts_.size() + 1));
  return Status::ok_status();
}

Status ScenarioRun::set_up() {
  auto log = [this](const std::string& line) { say(line); };
  // In-process agents compute on threads of this process: the BLAS must take that.
  const HostingSection& h = s_.hosting;
  if (h.mode == HostingMode::kInProcess && !o_.null_compute) {
    Status blas = check_concurrent_blas(
        h.hosts * h.workers,
        fmt::format("fp-sim run ({} in-process host(s) x {} workers)", h.hosts, h.workers));
    if (!blas.ok()) return setup_failed(blas);
  }
  std::optional<SharedGeneral> trained;
  // A resumed run's pick is in its recorded text, unless it stopped while picking.
  if (s_.best_classes > 0 && s_.partition.classes.empty()) {
    // Figure 2d: the population comes from the classes the general model does best.
    auto picked = train_and_pick_classes(s_, *registry_, log, o_.interrupt);
    if (!picked.ok()) return setup_failed(picked.status());
    trained = std::move(picked).value();
    s_.partition.classes = trained->classes;
    auto text = with_partition_classes(
        s_.text, s_.partition.classes,
        fmt::format("picked by fp-sim run: the {} classes general model {} classifies best",
                    s_.best_classes, trained->sha256.substr(0, 12)));
    if (!text.ok()) return setup_failed(text.status());
    s_.text = std::move(text).value();
    Status recorded = write_scenario_copy();
    if (recorded.ok()) recorded = sim_->set_scenario_text(run_id_, s_.text);
    if (!recorded.ok()) return setup_failed(recorded);
  }
  auto loading = Clock::now();
  auto loaded = load_population(s_);
  if (!loaded.ok()) return setup_failed(loaded.status());
  population_ = std::move(loaded).value();
  say(fmt::format("{} individual(s) from {} ({} pool samples, partition {}), {:.1f} s",
                  population_.individuals.size(), population_.dataset, population_.pool.size(),
                  partition_method_name(s_.partition.method), seconds_since(loading)));
  if (const int64_t hosts = hosts_to_start(s_.hosting, population_.individuals.size());
      hosts < s_.hosting.hosts) {
    say(fmt::format(
        "{} host(s), one per individual (hosting.hosts = {}: the others would have none)", hosts,
        s_.hosting.hosts));
    s_.hosting.hosts = hosts;  // the keys, journals and child hosts' --hosts follow it
  }
  // A resumed run's campaigns are kept; what a set-up stopped part way left unmade is made.
  auto planned = setup_campaigns(s_, population_, *store_, *registry_, *sim_, run_id_, log,
                                 trained ? &*trained : nullptr, o_.interrupt);
  if (!planned.ok()) return setup_failed(planned.status());
  plan_ = std::move(planned).value();
  size_t retried = 0;
  if (o_.retry_failed) {
    for (const auto& c : plan_.campaigns) {
      auto ids = store_->retry_failed_tasks(c.campaign_id, unix_now());
      if (!ids.ok()) return setup_failed(ids.status());
      retried += ids->size();
    }
    say(fmt::format("{} failed task(s) back in the queue", retried));
  }
  if (o_.resume) {  // only now: a run that cannot go on keeps its record as it was
    // A done run goes on only for the failed tasks just put back.
    FP_RETURN_IF_ERROR(sim_->reopen_run(run_id_, /*done_too=*/retried > 0));
    reopened_ = true;
    // Before the coordinator listens: external hosts start once its endpoint is written,
    // and read their journals then.
    Status journaled = journal_tasks_left();
    if (!journaled.ok())
      return setup_failed(journaled.with_message("resuming: " + journaled.message()));
  }
  setup_seconds_ = seconds_since(started_);
  return Status::ok_status();
}

Status ScenarioRun::start_coordinator() {
  campaign_started_ = Clock::now();
  cpu_before_ = cpu_seconds(RUSAGE_SELF);
  coord::ServerConfig sc = server_config_for(s_);
  if (!s_.hosting.plain) {
    // A run resumed from its set-up has none yet: they are made after it.
    std::error_code ec;
    const bool made_before = o_.resume && fs::exists(out_ / "keys" / "coordinator.key", ec);
    auto made = made_before ? read_run_keys(o_.out_dir, s_.hosting.hosts)
                            : make_run_keys(o_.out_dir, s_.hosting.hosts, *store_);
    if (!made.ok()) return setup_failed(made.status());
    keys_ = std::move(made).value();
    sc.security.own = keys_.coordinator;
    say("CURVE security: " + std::string(made_before ? "the run's" : "ephemeral") + " keys in " +
        keys_.dir + ", " + std::to_string(keys_.hosts.size()) + " host key(s) enrolled");
  }
  server_ = std::make_unique<coord::Server>(sc, context_, *store_, *registry_);
  Status bound = server_->bind();
  if (!bound.ok()) return setup_failed(bound);
  endpoint_ = server_->bound_endpoint();
  server_thread_ = std::thread([this] {
    set_thread_name("fp-coordinator");
    server_status_ = server_->run();
    server_done_ = true;
  });
  return Status::ok_status();
}

Status ScenarioRun::journal_tasks_left() {
  // Per individual: its tasks (one per campaign it is in) and how many of them ended.
  std::map<std::string, std::pair<int64_t, int64_t>> ended_of;
  for (const auto& c : plan_.campaigns) {
    FP_ASSIGN_OR_RETURN(std::vector<store::TaskRecord> tasks, store_->tasks(c.campaign_id));
    for (const auto& t : tasks) {
      auto& [ended, all] = ended_of[t.individual];
      ended += t.status == "done" || t.status == "failed";
      ++all;
    }
  }
  const size_t n = population_.individuals.size();
  int64_t finished = 0, partly = 0;
  for (int64_t i = 0; i < s_.hosting.hosts; ++i) {
    const std::string dir = (out_ / "hosts" / std::to_string(i)).string();
    const std::map<std::string, int64_t> there = read_host_journal(dir);
    std::map<std::string, int64_t> left;  // what the journal does not say yet
    for (size_t k : host_share(n, i, s_.hosting.hosts)) {
      auto it = ended_of.find(population_.individuals[k].name);
      if (it == ended_of.end()) continue;
      const auto [ended, all] = it->second;
      const std::string id = agent_id(s_, k);
      auto was = there.find(id);
      // None ended: the host's default, unless a line of an earlier resume says otherwise.
      if (ended == 0 && was == there.end()) continue;
      if (was != there.end() && was->second == all - ended) continue;
      left[id] = all - ended;
      ++(ended == all ? finished : partly);
    }
    FP_RETURN_IF_ERROR(add_to_host_journal(dir, left).status());
  }
  if (finished > 0)
    say(fmt::format("{} agent(s) whose tasks ended journaled as finished", finished));
  if (partly > 0)
    say(fmt::format("{} agent(s) with tasks left in some campaigns journaled with how many",
                    partly));
  return Status::ok_status();
}

void ScenarioRun::launch_hosts() {
  const HostingSection& h = s_.hosting;
  const bool external = h.mode == HostingMode::kExternal;
  // Only child hosts are forked from it (fp-sim's main() started it for any run).
  if (h.mode != HostingMode::kProcesses) stop_host_zygote();
  host_status_.resize(static_cast<size_t>(h.hosts));
  for (int64_t i = 0; i < h.hosts && !external; ++i) {
    const std::string work_dir = (out_ / "hosts" / std::to_string(i)).string();
    if (h.mode == HostingMode::kInProcess) {
      HostOptions ho = host_options_for(s_);
      ho.coordinator = endpoint_;
      ho.work_dir = work_dir;
      if (!h.plain) {
        ho.security.own = keys_.hosts[static_cast<size_t>(i)];
        ho.security.server_public = keys_.coordinator.public_key;
      }
      hosts_.push_back(std::make_unique<AgentHost>(ho, s_, population_));
      if (o_.null_compute) hosts_.back()->set_runner_factory(null_runner_factory());
      auto share = host_share(population_.individuals.size(), i, h.hosts);
      ++hosts_running_;
      host_threads_.emplace_back([this, i, share, host = hosts_.back().get()] {
        set_thread_name("fp-host");
        host_status_[static_cast<size_t>(i)] = host->run(share);
        --hosts_running_;
      });
    } else {
      std::string exe = o_.executable.empty() ? self_executable() : o_.executable;
      auto argv = host_command_line(exe, s_, scenario_path_, endpoint_, i, work_dir,
                                    work_dir + "/stats.json", keys_);
      if (o_.null_compute) argv.push_back("--null-compute");
      argv.insert(argv.end(), {"--parent-pid", std::to_string(::getpid())});
      std::error_code ec;
      fs::create_directories(work_dir, ec);
      const std::string name = "host " + std::to_string(i);
      const bool forked = o_.executable.empty() && host_zygote_running();
      if (i == 0 && o_.executable.empty() && !forked)
        spdlog::info("agent hosts start as new processes: no host zygote ({})", host_zygote_note());
      auto child = forked ? spawn_from_host_zygote(argv, name, work_dir + ".log")
                          : spawn_child(argv, name, work_dir + ".log");
      if (forked && child.status().code() == Status::Code::kUnavailable) {
        spdlog::warn("{}; starting it as a new process", child.status().to_string());
        child = spawn_child(argv, name, work_dir + ".log");
      }
      if (!child.ok()) {
        fail(child.status().to_string());
        break;
      }
      children_.push_back(*child);
    }
  }
  say(
      fmt::format("coordinator on {}; {} {} host(s) x {} worker(s), up to {} agent(s) connected "
                  "per host; {} task(s) in {} campaign(s)",
                  endpoint_, h.hosts, hosting_mode_name(h.mode), h.workers, h.connected_per_host(),
                  plan_.tasks, plan_.campaigns.size()));
  if (o_.on_listening) o_.on_listening(endpoint_);
  if (external) {
    say(fmt::format(
        "waiting for {} agent host(s); start host i (0..{}) on any machine with\n"
        "  fp-sim host --coordinator tcp://<this machine>:{} --scenario {} "
        "--hosts {} --host-index i --seed {} --individuals {}{}",
        h.hosts, h.hosts - 1, endpoint_.substr(endpoint_.rfind(':') + 1), scenario_path_, h.hosts,
        s_.seed, s_.partition.num_individuals,
        h.plain ? ""
                : " --key " + keys_.dir + "/host-i --coordinator-key " +
                      keys_.coordinator_public() + "\n  (copy the keys/ folder along)"));
  }
}

Status ScenarioRun::poll_progress(store::Store* from) {
  if (!from) return Status::ok_status();
  int64_t done = 0, failed = 0, running = 0;
  for (const auto& c : plan_.campaigns) {
    FP_ASSIGN_OR_RETURN(store::TaskCounts counts, from->task_counts(c.campaign_id));
    done += counts.done;
    failed += counts.failed;
    running += counts.assigned;
  }
  state_.done = done;
  state_.failed = failed;
  state_.running = running;
  if (!hosts_.empty()) {
    state_.live_agents = state_.computing = 0;
    for (const auto& host : hosts_) {
      auto p = host->progress();
      state_.live_agents += p.live;
      state_.computing += p.computing;
    }
  }
  return Status::ok_status();
}

void ScenarioRun::wait() {
  // A connection of its own: the coordinator's is its thread's while it serves.
  auto reader = store::Store::open(run_database(o_.out_dir));
  if (reader.ok()) {
    reader_ = std::move(reader).value();
  } else {
    spdlog::warn("no progress while the campaign runs: {}", reader.status().to_string());
  }
  state_.total = plan_.tasks;
  if (o_.progress) {
    Progress::Options po;
    po.mode = o_.interactive ? Progress::Mode::kBar : Progress::Mode::kLines;
    po.out = o_.progress;
    po.sink = [out = o_.progress](const std::string& line) {
      std::fprintf(out, "progress: %s\n", line.c_str());
      std::fflush(out);
    };
    // A resumed run's tasks ended before are done, not part of this attempt's pace.
    if (o_.resume && reader_ && poll_progress(reader_.get()).ok())
      po.done_before = state_.finished();
    progress_.emplace("tasks", plan_.tasks, po);
  }
  const bool external = s_.hosting.mode == HostingMode::kExternal;
  while (status_ == "done" && !server_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (progress_) {
      // Only for the display (the run's counts are taken again at its end): a count of a
      // 10,000-task campaign's tasks costs ~1 ms, a quiet run's whole main thread (issue 17).
      Status polled = poll_progress(reader_.get());
      if (!polled.ok()) spdlog::debug("progress: {}", polled.to_string());  // shown stale
      progress_->update(state_.finished(), progress_note(state_));
    }
    show_log_tally(false);
    if (o_.interrupt && *o_.interrupt) {
      status_ = "interrupted";
      detail_ = "interrupted before every task finished";
      break;
    }
    bool hosts_alive = external || (!hosts_.empty() && hosts_running_ > 0);
    for (size_t i = 0; i < children_.size(); ++i) {
      ChildProcess& c = children_[i];
      if (!reap_child(c, false)) {
        hosts_alive = true;
      } else if (c.exit_code != 0 && !server_done_) {
        // Its agents live in no other host: their tasks cannot finish, so the run stops now
        // rather than when the other hosts are done.
        fail(c.name + " " + how_it_ended(c) + " before the campaign finished; its agents' " +
             "tasks cannot finish (see " + (out_ / "hosts").string() + "/" + std::to_string(i) +
             ".log)");
      }
    }
    if (status_ != "done") break;
    if (!hosts_alive && !server_done_) {
      // Give the coordinator a moment to commit what the last agents sent.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      if (server_done_) break;
      fail("every agent host ended before the campaign finished (see " + (out_ / "hosts").string() +
           "/*.log and fp-sim.log)");
    }
  }
  // The campaign's time ends here: what follows is shutdown.
  campaign_seconds_ = seconds_since(campaign_started_);
}

void ScenarioRun::shut_down() {
  server_->request_stop();
  server_thread_.join();
  for (auto& host : hosts_) host->stop();
  for (auto& t : host_threads_) t.join();
  // Child hosts leave by themselves once the coordinator says Goodbye; nudge late ones.
  auto grace_until = Clock::now() + std::chrono::seconds(5);
  for (auto& c : children_) {
    while (!reap_child(c, false) && Clock::now() < grace_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!c.exited) {
      signal_child(c, SIGTERM);
      reap_child(c, true);
    }
  }
  hosts_seconds_ = seconds_since(campaign_started_);
  zygote_ = stop_host_zygote();  // none in other modes (launch_hosts stopped it)
  cpu_self_ = cpu_seconds(RUSAGE_SELF) - cpu_before_;
  // The last word on the tasks: through the coordinator's connection, idle now, which wrote
  // them (the progress reader's view failed or lagged once, 5 Dec, and a finished run was
  // called unfinished).
  Status counted = poll_progress(store_.get());
  if (!counted.ok()) fail("counting the finished tasks: " + counted.to_string());
  if (progress_) progress_->finish(progress_note(state_));
  show_log_tally(true);
  if (!server_status_.ok()) fail("coordinator: " + server_status_.to_string());
  for (size_t i = 0; i < host_status_.size() && i < hosts_.size(); ++i) {
    if (!host_status_[i].ok())
      fail("host " + std::to_string(i) + ": " + host_status_[i].to_string());
  }
  if (state_.done + state_.failed < state_.total) {
    fail("the coordinator stopped with unfinished tasks");
  }
}

Result<RunOutcome> ScenarioRun::finish() {
  const HostingSection& h = s_.hosting;
  // The hosts' meters, summed: from in-process hosts directly, from child hosts' stats files.
  ComputeTotals meters;
  for (const auto& host : hosts_) meters += ComputeTotals::of(host->meter());
  nlohmann::json processes = nlohmann::json::array();
  const double self_mb = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
  double peak_total_mb = self_mb;
  processes.push_back(
      {{"role", h.mode == HostingMode::kInProcess ? "fp-sim run (coordinator + agent hosts)"
                                                  : "fp-sim run (coordinator)"},
       {"pid", static_cast<int64_t>(::getpid())},
       {"peak_rss_mb", self_mb},
       {"campaign_cpu_seconds", cpu_self_}});
  double cpu_all = cpu_self_;
  // Where each host made its live agents' folders (memory or disk), as it reported, and
  // the connections its agents opened (reconnects included).
  nlohmann::json agent_folders = nlohmann::json::array();
  int64_t connections = 0;
  for (const auto& host : hosts_) {
    agent_folders.push_back(host->agent_folders());
    connections += host->connections_opened();
  }
  // A child process of the run: its memory and CPU counted in the run's.
  auto count_child = [&](const ChildProcess& c, double mb, nlohmann::json entry) {
    peak_total_mb += mb;
    cpu_all += c.cpu_seconds;
    entry.update({{"role", c.name},
                  {"pid", static_cast<int64_t>(c.pid)},
                  {"exit_code", c.exit_code},
                  {"peak_rss_mb", mb},
                  {"cpu_seconds", c.cpu_seconds}});
    processes.push_back(std::move(entry));
  };
  for (size_t i = 0; i < children_.size(); ++i) {
    const auto& c = children_[i];
    std::ifstream in((out_ / "hosts" / std::to_string(i) / "stats.json").string());
    auto j = nlohmann::json::parse(in, nullptr, false);
    bool reported = !j.is_discarded() && j.is_object();
    if (reported) {
      meters += ComputeTotals::read_from(j);
      connections += j.value("connections_opened", int64_t{0});
      agent_folders.push_back(j.value("agent_folders", ""));
    }
    // The host's own VmHWM; wait4's figure (an upper bound) only if it wrote none.
    double mb = reported ? j.value("peak_rss_mb", 0.0)
                         : static_cast<double>(c.peak_rss_bytes) / (1024.0 * 1024.0);
    count_child(c, mb, {{"started", c.forked ? "forked" : "executed"}});
    if (c.exit_code != 0) {
      fail(c.name + " " + how_it_ended(c) + " (see " + (out_ / "hosts").string() + "/" +
           std::to_string(i) + ".log)");
    }
  }
  if (zygote_) {
    // Its own CPU is its forks; its memory is mostly the hosts' too (shared until written).
    count_child(*zygote_, static_cast<double>(zygote_->peak_rss_bytes) / (1024.0 * 1024.0),
                nlohmann::json::object());
  }
  int64_t telemetry_rows = 0;
  if (reader_) {
    for (const auto& c : plan_.campaigns) {
      auto rows = reader_->telemetry(c.campaign_id);
      if (rows.ok()) telemetry_rows += static_cast<int64_t>(rows->size());
    }
  }
  // A run stopped early lets the tasks its workers were running end during shut-down, and
  // counts their compute: its workers' time runs until its hosts ended (a share below zero
  // before, 5 Dec).
  const double worker_seconds =
      status_ == "done" ? campaign_seconds_ : std::max(campaign_seconds_, hosts_seconds_);
  const double worker_capacity = static_cast<double>(h.hosts * h.workers) * worker_seconds;
  const coord::ServerStats& server = server_->stats();
  nlohmann::json stats = {
      {"wall_seconds", seconds_since(started_)},
      {"setup_seconds", setup_seconds_},
      {"train_seconds", plan_.train_seconds},
      {"models_trained", plan_.models_trained},
      {"campaign_seconds", campaign_seconds_},
      {"individuals", population_.individuals.size()},
      {"tasks", plan_.tasks},
      {"tasks_done", state_.done},
      {"tasks_failed", state_.failed},
      {"overrides", s_.overrides},
      {"machine", machine_description()},
      {"null_compute", o_.null_compute},
      {"hosting", hosting_mode_name(h.mode)},
      {"hosts", h.hosts},
      {"workers_per_host", h.workers},
      {"connected_per_host", h.connected_per_host()},
      {"connections", h.share_connections ? "shared" : "per-agent"},
      {"connections_opened", connections},
      {"compute_seconds", meters.compute_wall},
      {"compute_cpu_seconds", meters.compute_cpu},
      // The framework's CPU on the compute threads (around personalize()); the rest of it
      // is the agents' sessions, ZeroMQ, the coordinator and the processes' start.
      {"job_cpu_seconds", meters.job_cpu},
      {"load_seconds", meters.load_wall},
      // Agents that had a task but no free compute slot: more connected than workers.
      {"wait_seconds", meters.wait_wall},
      {"campaign_cpu_seconds", cpu_all},
      // The framework's share: CPU not spent inside the agents' personalize() calls,
      // and worker capacity (workers x wall) not spent inside them.
      {"overhead_cpu_share", cpu_all > 0 ? 1.0 - meters.compute_cpu / cpu_all : 0.0},
      {"overhead_wall_share",
       worker_capacity > 0 ? 1.0 - meters.compute_wall / worker_capacity : 0.0},
      {"telemetry_rows", telemetry_rows},  // the run's campaigns', earlier attempts' too
      // This attempt's rows over this attempt's campaign time (a resumed run counted the
      // earlier attempts' rows too).
      {"telemetry_per_second", campaign_seconds_ > 0
                                   ? static_cast<double>(server.reports_stored) / campaign_seconds_
                                   : 0.0},
      {"processes", processes},
      {"agent_folders", agent_folders},
      {"peak_rss_total_mb", peak_total_mb},
      {"coordinator",
       {{"frames_in", server.frames_in},
        {"reports_stored", server.reports_stored},
        {"reports_duplicate", server.reports_duplicate},
        {"chunk_bytes_sent", server.chunk_bytes_sent},
        {"agents_dropped", server.agents_dropped},
        {"tasks_requeued", server.tasks_requeued},
        {"commits_on_loop", server.commits_on_loop},
        {"commits_in_background", server.commits_in_background}}}};
  if (!detail_.empty()) stats["detail"] = detail_;
  if (o_.resume) stats["earlier_attempts"] = earlier_attempts_;
  Status recorded = sim_->finish_run(run_id_, status_, unix_now(), stats.dump());
  if (!recorded.ok() && status_ != "done") {
    // The run's own failure comes first: recording it is often its casualty (a full disk).
    return recorded.with_message("run " + std::to_string(run_id_) + " " + status_ + ": " + detail_ +
                                 " (recording that failed too: " + recorded.message() + ")");
  }
  FP_RETURN_IF_ERROR(recorded);
  spdlog::info("run {} {}: {}", run_id_, status_, stats.dump());
  return RunOutcome{run_id_, run_database(o_.out_dir), status_, detail_, stats.dump()};
}

}  // namespace

Result<Scenario> recorded_run_scenario(const std::string& out_dir, bool retry_failed) {
  const std::string db = run_database(out_dir);
  std::error_code ec;
  if (!fs::exists(db, ec)) return Status::not_found(out_dir + " holds no run to resume (no fp.db)");
  FP_ASSIGN_OR_RETURN(auto store, store::Store::open(db));
  FP_ASSIGN_OR_RETURN(store::RunStore sim, store::RunStore::open(*store));
  FP_ASSIGN_OR_RETURN(store::RunRecord last, sim.run(0));
  if (last.status == "done") {
    FP_ASSIGN_OR_RETURN(std::vector<store::TaskRecord> tasks, store->tasks());
    const auto failed = std::count_if(tasks.begin(), tasks.end(), [](const store::TaskRecord& t) {
      return t.status == "failed";
    });
    const std::string run = "run " + std::to_string(last.id) + " in " + out_dir;
    if (failed == 0) {
      return Status::invalid_argument(run + " is done" +
                                      (retry_failed
                                           ? " and none of its tasks failed: nothing to retry"
                                           : ": nothing to resume") +
                                      " (fp-sim report --db " + db + ")");
    }
    if (!retry_failed) {
      return Status::invalid_argument(
          run + " is done: nothing to resume; its " + std::to_string(failed) +
          " failed task(s) run again with --resume --retry-failed (fp-sim report --db " + db + ")");
    }
  }
  return recorded_scenario(last.scenario_toml, db + " (run " + std::to_string(last.id) + ")");
}

std::string run_database(const std::string& out_dir) {
  return (fs::path(out_dir) / "fp.db").string();
}

bool is_run_entry(const std::string& name) {
  static const std::set<std::string> entries = {"fp.db",         "fp.db-wal",     "fp.db-shm",
                                                "fp.db-journal", "scenario.toml", "fp-sim.log",
                                                "models",        "keys",          "hosts"};
  return entries.count(name) > 0;
}

Result<RunOutcome> run_scenario(const Scenario& scenario, const RunOptions& options) {
  ScenarioRun run(scenario, options);
  FP_RETURN_IF_ERROR(run.prepare());
  FP_RETURN_IF_ERROR(run.set_up());
  FP_RETURN_IF_ERROR(run.start_coordinator());
  run.launch_hosts();
  run.wait();
  run.shut_down();
  return run.finish();
}

}  // namespace fp::sim
