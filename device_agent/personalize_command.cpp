// fp-agent personalize: a task's Fine-Pruning with no coordinator. A device that holds a
// general model file and its own files makes its personalized model; nothing is sent.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/device_personalize.h"
#include "agent/folder_data.h"
#include "agent/kept_model.h"
#include "agent/start_checks.h"
#include "experiment/personalize_settings.h"
#include "model_commands.h"
#include "models/artifact.h"
#include "models/pruned_state.h"
#include "prune/pruner.h"
#include "util/file_io.h"
#include "util/sha256.h"

namespace fp::agent_cli {
namespace {

// PersonalizeConfig{} with the "key=value" settings over it; Fine-Pruning alone (the
// baselines are a campaign's comparisons, not a device's model).
Result<PersonalizeConfig> offline_config(const std::vector<std::string>& settings) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& s : settings) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::invalid_argument("'" + s + "' is not key=value (e.g. target_sparsity=0.6)");
    const std::string key = s.substr(0, eq), value = s.substr(eq + 1);
    auto parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    json[key] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
  }
  PersonalizeConfig config;
  FP_RETURN_IF_ERROR(apply_personalize_settings(json.dump(), config));
  config.run_finetune = config.run_svd = false;
  return config;
}

// True, the error logged, when --out would land among the device's own files: inside the
// data folder (a photo named as --out was replaced by the model) or on the labels file.
bool out_in_private_data(const agent::FolderDataConfig& folder, const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!folder.labels_file.empty() && fs::equivalent(folder.labels_file, out, ec)) {
    spdlog::error("--out {} is the labels file (--labels {}): give another --out", out,
                  folder.labels_file);
    return true;
  }
  fs::path data = fs::weakly_canonical(folder.dir, ec);
  const fs::path target = fs::weakly_canonical(out, ec);
  if (ec || data.empty()) return false;
  if (data.filename().empty()) data = data.parent_path();  // "pics/"
  if (std::mismatch(data.begin(), data.end(), target.begin(), target.end()).first != data.end())
    return false;
  spdlog::error(
      "--out {} is inside the data folder {} (the device's own files, which every task reads): "
      "give an --out outside it",
      out, folder.dir);
  return true;
}

}  // namespace

int personalize_command(const PersonalizeOptions& o) {
  if (o.folder.dir.empty()) {
    spdlog::error("personalize needs --data DIR (this device's own files)");
    return 2;
  }
  if (std::filesystem::is_directory(o.out_path)) {
    spdlog::error("--out {} is a folder: give the personalized model's file (e.g. {}/personal.fpm)",
                  o.out_path, o.out_path);
    return 2;
  }
  if (out_model_refused(o.model_path, o.out_path, "the personalized model")) return 2;
  if (out_in_private_data(o.folder, o.out_path)) return 2;
  auto config = offline_config(o.settings);
  if (!config.ok()) {
    spdlog::error("--set: {}", config.status().message());
    return 2;
  }
  if (Status s = agent::check_data_folder(o.folder.dir); !s.ok()) {
    spdlog::error("--data: {}", s.to_string());
    // A folder holding no file it can read is the files' problem (1), as damaged files are (an
    // empty one was 2: a script read a device without files yet as a wrong command line).
    std::error_code ec;
    return std::filesystem::is_directory(o.folder.dir, ec) ? 1 : 2;
  }
  if (!o.folder.labels_file.empty()) {
    if (Status s = agent::check_labels_file(o.folder.labels_file); !s.ok()) {
      spdlog::error("--labels: {}", s.to_string());
      return 2;
    }
  }
  ArtifactInfo general_info;
  auto general = load_model(o.model_path, &general_info);
  // The file's SHA-256 (sha256sum's), as the coordinator and kept models name models.
  auto general_sha = general.ok() ? sha256_file_hex(o.model_path) : general.status();
  if (!general_sha.ok()) {
    spdlog::error("{}", general_sha.status().to_string());
    return 1;
  }
  // A masked one too: its pruned units would be reported as the general model's.
  if (const std::string pruned = pruned_state(**general); !pruned.empty()) {
    spdlog::error("{} is a personalized model ({}); personalize the general model it came from",
                  o.model_path, pruned);
    return 2;
  }
  if (const std::string note = pre_zeroed_note(**general); !note.empty())
    spdlog::warn("the general model {}: {}", o.model_path, note);
  auto data = agent::load_folder_data(o.folder, general_info.spec);
  if (!data.ok()) {
    // Both named: the problem may be the labels file's ("--data X: the labels file cannot
    // be used" sent the user to the wrong option).
    spdlog::error("--data {}{}: {}", o.folder.dir,
                  o.folder.labels_file.empty() ? "" : " --labels " + o.folder.labels_file,
                  data.status().to_string());
    return 1;
  }
  auto r = agent::personalize_on_device(**general, general_info, data->adaptation, data->heldout,
                                        *config, "personalize", data->heldout_inputs);
  if (!r.ok()) {
    spdlog::error("{}", r.status().to_string());
    return 1;
  }
  std::string form;
  ModelPtr kept = agent::model_to_keep(*r->personalized, &form);
  ArtifactInfo out_info;
  Status saved = make_parent_folder(o.out_path, "personalized model");
  if (saved.ok())
    saved = save_model(
        *kept, o.out_path,
        {{"general_sha256", *general_sha}, {"form", form}, {"made_by", "fp-agent personalize"}},
        &out_info);
  if (!saved.ok()) {
    spdlog::error("{}", saved.to_string());
    return 1;
  }

  auto out_sha = sha256_file_hex(o.out_path);
  if (!out_sha.ok()) {
    spdlog::error("{}", out_sha.status().to_string());
    return 1;
  }
  const Footprint before = footprint(**general, general_info.size_bytes);
  const Footprint after = footprint(*kept, out_info.size_bytes);
  fmt::print("{} ({}) -> {} ({}, sha256 {})\n", o.model_path, general_info.spec.arch, o.out_path,
             form, out_sha->substr(0, 16));
  fmt::print(
      "Fine-Pruned on {} of {} files ({} more held out for the figures below; {} skipped): "
      "sparsity {:.1f}% ({})\n",
      r->fine_prune_samples, r->adaptation_samples, r->label_free_samples, data->skipped.count,
      100 * r->sparsity.sparsity(),
      config->select_sparsity
          ? fmt::format("target {:.2f} chosen without labels", r->selection.chosen)
          : fmt::format("fixed target {:.2f}", config->prune.target_sparsity));
  fmt::print("{:<13} {:>12} {:>14} {:>12}\n", "", "parameters", "MACs/sample", "bytes");
  for (const auto& [name, f] :
       {std::pair<const char*, Footprint>{"general", before}, {"personalized", after}})
    fmt::print("{:<13} {:>12} {:>14} {:>12}\n", name, f.parameters, f.macs, f.bytes);
  fmt::print(
      "held-out files: mean confidence {:.3f} -> {:.3f}, agreement with the general model "
      "{:.3f}\n",
      r->label_free.confidence_before, r->label_free.confidence_after, r->label_free.agreement);
  if (r->evaluated)
    fmt::print("accuracy on {} labeled held-out files: {:.3f} -> {:.3f}\n", r->evaluation_samples,
               r->general.accuracy, r->fine_prune.accuracy);
  return 0;
}

}  // namespace fp::agent_cli
