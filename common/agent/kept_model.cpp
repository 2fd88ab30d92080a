#include "agent/kept_model.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <vector>

#include "agent/model_download.h"
#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "util/file_io.h"
#include "util/json_object.h"
#include "util/scratch_folder.h"
#include "util/sha256.h"

namespace fp::agent {
namespace {

namespace fs = std::filesystem;

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

// A kept model's manifest as the folder's upkeep reads it.
struct KeptManifest {
  fs::path path;
  std::string model;  // its model file, in the same folder
  // The order it was kept in (its "kept" number; 0 for a manifest of before 7 Dec, which
  // ranks below every numbered one, by its file time).
  int64_t kept = 0;
  fs::file_time_type written;
};

// The model file a manifest names ("" : not a kept model's manifest).
std::string model_named(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("model") || !j["model"].is_string()) return "";
  const std::string model = j["model"].get<std::string>();
  // Only a model file of this folder: a manifest never sends a removal elsewhere.
  return fs::path(model).filename() == model && fs::path(model).extension() == ".fpm" ? model : "";
}

std::optional<KeptManifest> read_manifest(const fs::path& p) {
  auto text = read_regular_file(p.string(), "manifest");  // a folder: none
  if (!text.ok()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  KeptManifest m;
  m.path = p;
  m.model = model_named(j);
  if (m.model.empty()) return std::nullopt;
  if (j.contains("kept") && j["kept"].is_number_integer()) m.kept = j["kept"].get<int64_t>();
  std::error_code ec;
  m.written = fs::last_write_time(p, ec);
  if (ec) return std::nullopt;
  return m;
}

// The kept models' manifests of `dir` (latest.json aside), newest first: by the order they
// were kept in, not by file times (a device whose clock stepped back, a board without a
// battery-backed clock before NTP, removed its newest models and kept older ones).
Result<std::vector<KeptManifest>> kept_manifests(const std::string& dir) {
  std::vector<KeptManifest> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".json" || p.filename() == "latest.json") continue;
    if (auto m = read_manifest(p)) out.push_back(std::move(*m));
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Status::io_error("cannot list " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const KeptManifest& a, const KeptManifest& b) {
    return std::tie(a.kept, a.written) > std::tie(b.kept, b.written);
  });
  return out;
}

}  // namespace

ModelPtr model_to_keep(const PrunableNet& personalized, std::string* form) {
  auto compacted = compact(personalized);
  if (compacted.ok()) {
    if (form) *form = "compact";
    return compacted->model;
  }
  spdlog::warn("keeping the masked model: {}", compacted.status().to_string());
  if (form) *form = "masked";
  return clone_model(personalized);
}

Result<KeptModel> keep_model(const PrunableNet& personalized, const std::string& dir,
                             const std::string& general_sha256, const std::string& individual,
                             uint64_t task_id) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create " + dir + ": " + ec.message());
  KeptModel k;
  ModelPtr model = model_to_keep(personalized, &k.form);
  // Task ids start again at 1 in another coordinator database: a model kept for an earlier
  // "task 1" is not replaced (it was, without a word), the new one gets the next free name.
  const std::string first = "task" + std::to_string(task_id) + "-" + file_safe(individual);
  std::string stem = first;
  for (int n = 2; fs::exists(fs::path(dir) / (stem + ".fpm"), ec) ||
                  fs::exists(fs::path(dir) / (stem + ".json"), ec);
       ++n)
    stem = first + "-" + std::to_string(n);
  k.path = (fs::path(dir) / (stem + ".fpm")).string();
  k.general_sha256 = general_sha256;
  k.individual = individual;
  k.task_id = task_id;
  const std::string bytes = serialize_model(*model, {{"general_sha256", general_sha256},
                                                     {"individual", individual},
                                                     {"task", std::to_string(task_id)},
                                                     {"form", k.form}});
  k.sha256 = sha256_hex(bytes);
  k.bytes = bytes.size();
  FP_ASSIGN_OR_RETURN(std::vector<KeptManifest> earlier, kept_manifests(dir));
  int64_t kept = 1;  // one past the newest, latest.json's own included (its model's may be gone)
  if (!earlier.empty()) kept = earlier.front().kept + 1;
  if (auto latest = read_manifest(fs::path(dir) / "latest.json"))
    kept = std::max(kept, latest->kept + 1);
  nlohmann::json manifest = {{"model", fs::path(k.path).filename().string()},
                             {"sha256", k.sha256},
                             {"general_sha256", k.general_sha256},
                             {"individual", k.individual},
                             {"task", k.task_id},
                             {"bytes", k.bytes},
                             {"form", k.form},
                             {"kept", kept}};
  // The model and its manifests are all put in place or none (a full disk): a model kept
  // without its manifest was never counted by remove_older_kept_models, nor ever removed.
  // Each written beside and renamed: a reader never sees half a manifest.
  const std::string text = manifest.dump(2) + "\n";
  // A model's scratch file a killed agent left is named after that task's model, never
  // written again: swept here, or it stayed for good.
  remove_scratch_files_of_gone_writers(dir);
  StagedFiles files("kept model", /*durable=*/true);
  FP_RETURN_IF_ERROR(files.add(k.path, bytes));
  FP_RETURN_IF_ERROR(files.add((fs::path(dir) / (stem + ".json")).string(), text));
  FP_RETURN_IF_ERROR(files.add((fs::path(dir) / "latest.json").string(), text));
  FP_RETURN_IF_ERROR(files.commit());
  return k;
}

Result<int> remove_older_kept_models(const std::string& dir, size_t keep) {
  if (keep == 0) return 0;
  const auto latest = read_manifest(fs::path(dir) / "latest.json");
  FP_ASSIGN_OR_RETURN(std::vector<KeptManifest> manifests, kept_manifests(dir));
  int removed = 0;
  for (size_t i = keep; i < manifests.size(); ++i) {
    const std::string& model = manifests[i].model;
    if (latest && model == latest->model) continue;
    std::error_code rm;
    fs::remove(fs::path(dir) / model, rm);
    if (rm)
      return Status::io_error("cannot remove " + (fs::path(dir) / model).string() + ": " +
                              rm.message());
    fs::remove(manifests[i].path, rm);
    if (rm)
      return Status::io_error("cannot remove " + manifests[i].path.string() + ": " + rm.message());
    ++removed;
  }
  return removed;
}

namespace {

// What to do without a usable latest.json: the kept models there, named, can be given as
// --model; otherwise a task makes one.
std::string without_manifest(const std::string& dir) {
  std::vector<std::string> kept;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".fpm") kept.push_back(it->path().string());
  if (kept.empty()) return "run a task first";
  std::sort(kept.begin(), kept.end());
  return std::to_string(kept.size()) + " personalized model(s) there, e.g. " + kept.back() +
         ": give one with --model, or run a task to write latest.json again";
}

}  // namespace

Result<KeptModel> latest_kept_model(const std::string& dir) {
  const fs::path manifest_path = fs::path(dir) / "latest.json";
  std::error_code ec;
  if (!fs::exists(manifest_path, ec)) {
    return Status::not_found("no personalized model in " + dir +
                             " (no latest.json): " + without_manifest(dir));
  }
  // Not a file (a folder, a pipe): refused as one, with what to do instead.
  auto text = read_regular_file(manifest_path.string(), "manifest");
  if (!text.ok())
    return text.status().with_message(text.status().message() + ": " + without_manifest(dir));
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object())
    return Status::corruption(manifest_path.string() +
                              " is damaged (not a JSON manifest): " + without_manifest(dir));
  KeptModel k;
  JsonFieldReader r(j);
  std::string model;
  try {
    for (const char* required : {"model", "sha256"})
      if (!j.contains(required))
        return Status::corruption(manifest_path.string() + ": '" + required +
                                  "' is missing: " + without_manifest(dir));
    r.read("model", model);
    r.read("sha256", k.sha256);
    r.read("general_sha256", k.general_sha256);
    r.read("individual", k.individual);
    r.read("task", k.task_id);
    r.read("bytes", k.bytes);
    k.form = "masked";  // manifests before compaction
    r.read("form", k.form);
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(json_value_error(manifest_path.string(), r.key(), e).message() +
                              ": " + without_manifest(dir));
  }
  k.path = (fs::path(dir) / model).string();
  FP_ASSIGN_OR_RETURN(std::string actual, sha256_file_hex(k.path));
  if (actual != k.sha256) {
    return Status::corruption(k.path + ": SHA-256 " + actual + " differs from the manifest's " +
                              k.sha256 + " (the kept model was changed or damaged)");
  }
  return k;
}

}  // namespace fp::agent
