#include "agent/kept_model.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/model_download.h"
#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "util/file_io.h"
#include "util/sha256.h"

namespace fp::agent {
namespace {

namespace fs = std::filesystem;

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
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
  const std::string stem = "task" + std::to_string(task_id) + "-" + file_safe(individual);
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
  FP_RETURN_IF_ERROR(replace_file(k.path, bytes, "kept model"));
  nlohmann::json manifest = {{"model", fs::path(k.path).filename().string()},
                             {"sha256", k.sha256},
                             {"general_sha256", k.general_sha256},
                             {"individual", k.individual},
                             {"task", k.task_id},
                             {"bytes", k.bytes},
                             {"form", k.form}};
  // Each written beside and renamed: a reader never sees half a manifest.
  const std::string text = manifest.dump(2) + "\n";
  FP_RETURN_IF_ERROR(replace_file((fs::path(dir) / (stem + ".json")).string(), text, "manifest"));
  FP_RETURN_IF_ERROR(replace_file((fs::path(dir) / "latest.json").string(), text, "manifest"));
  return k;
}

Result<KeptModel> latest_kept_model(const std::string& dir) {
  const fs::path manifest_path = fs::path(dir) / "latest.json";
  std::ifstream in(manifest_path);
  if (!in) {
    return Status::not_found("no personalized model in " + dir +
                             " (no latest.json): run a task first");
  }
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  KeptModel k;
  try {
    k.path = (fs::path(dir) / j.at("model").get<std::string>()).string();
    k.sha256 = j.at("sha256").get<std::string>();
    k.general_sha256 = j.value("general_sha256", "");
    k.individual = j.value("individual", "");
    k.task_id = j.value("task", uint64_t{0});
    k.bytes = j.value("bytes", uint64_t{0});
    k.form = j.value("form", "masked");
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(manifest_path.string() + ": " + e.what());
  }
  FP_ASSIGN_OR_RETURN(std::string actual, sha256_file_hex(k.path));
  if (actual != k.sha256) {
    return Status::corruption(k.path + ": SHA-256 " + actual + " differs from the manifest's " +
                              k.sha256 + " (the kept model was changed or damaged)");
  }
  return k;
}

}  // namespace fp::agent
