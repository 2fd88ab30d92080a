#include "agent/folder_data.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string_view>
#include <unordered_set>

#include "agent/report_privacy.h"
#include "data/file_decoder.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fp::agent {
namespace {

namespace fs = std::filesystem;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\"");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\"");
  return s.substr(b, e - b + 1);
}

// Decodes `items`; with `labels`, keeps only the labeled ones and attaches their labels.
Dataset decode(const std::vector<FolderItem>& items, const std::string& dir, const ModelSpec& spec,
               SkipLog& skipped, const std::map<std::string, int64_t>* labels) {
  std::vector<FolderItem> chosen;
  std::vector<int64_t> y;
  for (const auto& item : items) {
    if (labels) {
      auto it = labels->find(item.name(dir));
      if (it == labels->end()) continue;
      y.push_back(it->second);
    }
    chosen.push_back(item);
  }
  std::vector<size_t> kept;
  Dataset d;
  d.class_names = spec.class_names;
  d.inputs = decode_items(chosen, spec, skipped, &kept);
  if (labels && d.inputs.defined()) {
    std::vector<int64_t> kept_labels;
    for (size_t k : kept) kept_labels.push_back(y[k]);
    d.labels = torch::tensor(kept_labels, torch::kLong);
  }
  return d;
}

}  // namespace

Result<std::map<std::string, int64_t>> read_labels_csv(const std::string& path,
                                                       const ModelSpec& spec) {
  std::ifstream in(path);
  if (!in) return Status::not_found("labels file " + path + " cannot be opened");
  std::map<std::string, int64_t> out;
  std::map<std::string, int> line_of;  // each file's line, for a repeat's error
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    // A spreadsheet's CSV export may begin with a byte order mark.
    if (n == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (trim(line).empty()) continue;
    const auto comma = line.rfind(',');
    const std::string where = path + ":" + std::to_string(n) + ": ";
    if (comma == std::string::npos) return Status::invalid_argument(where + "expected path,label");
    const std::string file = fs::path(trim(line.substr(0, comma))).lexically_normal().string();
    const std::string label = trim(line.substr(comma + 1));
    if (n == 1 && file == "path" && label == "label") continue;
    if (auto [at, fresh] = line_of.emplace(file, n); !fresh) {
      return Status::invalid_argument(where + "'" + file + "' is labeled again (first on line " +
                                      std::to_string(at->second) + ")");
    }
    int64_t id = -1;
    auto name = std::find(spec.class_names.begin(), spec.class_names.end(), label);
    if (name != spec.class_names.end()) {
      id = name - spec.class_names.begin();
    } else {
      try {
        size_t used = 0;
        id = std::stoll(label, &used);
        if (used != label.size()) id = -1;
      } catch (const std::exception&) {
        id = -1;
      }
    }
    if (id < 0 || id >= spec.num_classes) {
      return Status::invalid_argument(where + "label '" + label +
                                      "' is neither a class id in [0, " +
                                      std::to_string(spec.num_classes) + ") nor a class name");
    }
    out[file] = id;
  }
  return out;
}

namespace {

const std::string kReadTypes = std::string("recordings (") + kRecordingFormats + "), pictures (" +
                               kPictureFormats + ") and IDX are read";

// A task's error names no file or folder (it travels to the coordinator as the task's
// failure reason): `s` with `path` written as `as`, after the whole message is logged here.
Status on_device_only(const Status& s, const std::string& path, const std::string& as) {
  if (s.ok()) return s;
  spdlog::warn("{}", s.to_string());
  return s.with_message(without_local_paths(s.message(), {{path, as}}));
}

// A labels file's problem quotes its lines (file names, labels): said on the device only.
Status labels_unusable(const Status& s) {
  spdlog::warn("{}", s.to_string());
  return s.with_message("the labels file cannot be used (the device's log says why)");
}

}  // namespace

Status check_data_folder(const std::string& dir, const std::string& dataset) {
  FP_ASSIGN_OR_RETURN(FolderListing listing, list_folder(dir));
  if (listing.items.empty()) {
    return Status::invalid_argument(
        "data folder " + dir + ": no usable file (" + std::to_string(listing.skipped.count) +
        " of another type; " + kReadTypes + ")" +
        (listing.skipped.count ? ": " + listing.skipped.summary() : ""));
  }
  const std::string kind = builtin_input_spec(dataset).kind;
  if (kind.empty()) return Status::ok_status();
  int64_t audio = 0, pictures = 0;
  for (const auto& item : listing.items)
    ++(file_kind(item.path) == FileKind::kAudio ? audio : pictures);
  const bool wants_audio = kind == "log_mel";
  if ((wants_audio ? audio : pictures) > 0) return Status::ok_status();
  return Status::invalid_argument(
      "data folder " + dir + " holds " +
      (wants_audio ? std::to_string(pictures) + " picture(s) and no recording"
                   : std::to_string(audio) + " recording(s) and no picture") +
      ", but the models of " + dataset + " campaigns take " +
      (wants_audio ? std::string("recordings (") + kRecordingFormats + ")"
                   : std::string("pictures (") + kPictureFormats + ", IDX)") +
      ": give the --dataset its files are for");
}

Result<FolderProbe> probe_data_folder(const std::string& dir, const std::string& dataset,
                                      int64_t sample) {
  FP_ASSIGN_OR_RETURN(FolderListing listing, list_folder(dir));
  ModelSpec spec;  // the data set's front end; the size matters not for whether a file reads
  spec.input = builtin_input_spec(dataset);
  if (spec.input.kind.empty()) spec.input = image_folder_input_spec();
  spec.height = spec.width = 32;
  std::vector<FolderItem> kind;
  for (const auto& item : listing.items) {
    const bool audio = file_kind(item.path) == FileKind::kAudio;
    if (builtin_input_spec(dataset).kind.empty() || audio == (spec.input.kind == "log_mel"))
      kind.push_back(item);
  }
  FolderProbe out;
  out.files = static_cast<int64_t>(listing.items.size());
  std::vector<FolderItem> picked;
  const int64_t n = static_cast<int64_t>(kind.size());
  const int64_t take = std::min(n, sample);
  for (int64_t i = 0; i < take; ++i) picked.push_back(kind[static_cast<size_t>(i * n / take)]);
  // A sampled file's kind decides its front end: a recording's log-mel or a picture's. Each
  // kind decoded in one call: one at a time, an IDX file was read again for each of its
  // sampled images (a folder of Fashion-MNIST's training file: 20 times, 59 s).
  std::vector<FolderItem> recordings, others;
  for (const auto& item : picked)
    (builtin_input_spec(dataset).kind.empty() && file_kind(item.path) == FileKind::kAudio
         ? recordings
         : others)
        .push_back(item);
  ModelSpec heard = spec;
  heard.input = builtin_input_spec("fsdd");
  for (const auto& [items, front_end] : {std::pair{&recordings, &heard}, {&others, &spec}}) {
    std::vector<size_t> kept;
    decode_items(*items, *front_end, out.skipped, &kept);
    out.decoded += static_cast<int64_t>(kept.size());
  }
  out.sampled = static_cast<int64_t>(picked.size());
  return out;
}

namespace {

// The listing's signature with the labels file's size and modification time.
std::string signature_of(const FolderListing& listing, const std::string& labels_file) {
  if (labels_file.empty()) return listing.signature;
  std::error_code ec;
  const auto size = fs::file_size(labels_file, ec);
  const auto written = fs::last_write_time(labels_file, ec).time_since_epoch().count();
  return sha256_hex(listing.signature + '\0' + std::to_string(ec ? -1 : int64_t(size)) + '\0' +
                    std::to_string(ec ? 0 : written));
}

}  // namespace

Result<std::string> folder_data_signature(const FolderDataConfig& c) {
  auto listed = list_folder(c.dir);
  if (!listed.ok()) return on_device_only(listed.status(), c.dir, "<data folder>");
  return signature_of(*listed, c.labels_file);
}

namespace {

// Counts the inputs of `parts` that repeat an earlier one exactly, and those constant over
// every value (one bit pattern throughout).
void count_uninformative(const std::vector<const Dataset*>& parts, FolderData& out) {
  std::unordered_set<std::string_view> seen;
  std::vector<torch::Tensor> kept;  // the bytes `seen` points into
  for (const Dataset* d : parts) {
    if (d->size() == 0) continue;
    torch::Tensor rows = d->inputs.reshape({d->size(), -1}).contiguous();
    kept.push_back(rows);
    const auto bytes = static_cast<size_t>(rows.size(1)) * rows.element_size();
    const char* base = static_cast<const char*>(rows.data_ptr());
    for (int64_t i = 0; i < rows.size(0); ++i) {
      const std::string_view row(base + static_cast<size_t>(i) * bytes, bytes);
      if (!seen.insert(row).second) ++out.repeated_inputs;
    }
    const torch::Tensor flat = std::get<0>(rows.min(1)).eq(std::get<0>(rows.max(1)));
    out.constant_inputs += flat.sum().item<int64_t>();
  }
}

}  // namespace

Result<FolderData> load_folder_data(const FolderDataConfig& c, const ModelSpec& spec) {
  if (!(c.eval_fraction > 0 && c.eval_fraction < 1)) {
    return Status::invalid_argument("the held-out fraction must be in (0, 1)");
  }
  if (c.min_samples < 2) return Status::invalid_argument("min_samples must be at least 2");
  if (c.max_samples < c.min_samples)
    return Status::invalid_argument("max_samples must be at least min_samples (" +
                                    std::to_string(c.min_samples) + ")");
  std::map<std::string, int64_t> labels;
  if (!c.labels_file.empty()) {
    auto read = read_labels_csv(c.labels_file, spec);
    if (!read.ok()) return labels_unusable(read.status());
    labels = std::move(read).value();
  }
  auto listed = list_folder(c.dir);
  if (!listed.ok()) return on_device_only(listed.status(), c.dir, "<data folder>");
  FolderListing& listing = *listed;
  FolderData out;
  out.files = static_cast<int64_t>(listing.items.size());
  out.skipped = listing.skipped;
  out.signature = signature_of(listing, c.labels_file);

  // Fisher-Yates with std::mt19937_64 (bit-exact everywhere), then the bounded sample.
  std::vector<FolderItem>& items = listing.items;
  std::mt19937_64 gen(c.seed);
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[gen() % i]);
  if (static_cast<int64_t>(items.size()) > c.max_samples) items.resize(c.max_samples);

  if (items.empty()) {
    if (out.skipped.count) spdlog::warn("data folder {}: {}", c.dir, out.skipped.summary());
    return Status::invalid_argument(
        "the data folder has no usable file (" + std::to_string(out.skipped.count) +
        " of another type; " + kReadTypes + ")" +
        (out.skipped.count ? ": " + out.skipped.anonymous_summary() : ""));
  }
  const size_t n = items.size();
  size_t held = std::clamp<size_t>(static_cast<size_t>(std::llround(c.eval_fraction * n)), 1,
                                   n > 1 ? n - 1 : 1);
  std::vector<FolderItem> heldout(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(held));
  std::vector<FolderItem> adaptation(items.begin() + static_cast<std::ptrdiff_t>(held),
                                     items.end());
  out.adaptation = decode(adaptation, c.dir, spec, out.skipped, nullptr);
  out.heldout = decode(heldout, c.dir, spec, out.skipped, nullptr);
  out.heldout_inputs = out.heldout.inputs;
  // Counted before the labels narrow the held-out part to its labeled files: a folder of
  // enough files with one held-out file labeled was refused as holding too few.
  const int64_t usable = out.adaptation.size() + out.heldout.size();
  count_uninformative({&out.adaptation, &out.heldout}, out);
  if (out.repeated_inputs > 0)
    spdlog::warn(
        "data folder {}: {} of the {} usable file(s) decode to the same input as another "
        "(copies?): Fine-Pruning's statistics weigh that input again for each",
        c.dir, out.repeated_inputs, usable);
  if (out.constant_inputs > 0)
    spdlog::warn(
        "data folder {}: {} of the {} usable file(s) decode to a constant input (a black or "
        "white picture, silence): they tell Fine-Pruning nothing of the individual",
        c.dir, out.constant_inputs, usable);
  if (!c.labels_file.empty()) {
    // Paths in the labels file are relative to the folder; an absolute one inside it is made so.
    std::map<std::string, int64_t> relative;
    const fs::path root = fs::absolute(c.dir).lexically_normal();
    for (const auto& [file, label] : labels) {
      const fs::path p(file);
      const std::string name = p.is_absolute() ? p.lexically_relative(root).string() : file;
      if (!relative.emplace(name, label).second) {
        return labels_unusable(
            Status::invalid_argument("labels file " + c.labels_file + " labels '" + name +
                                     "' twice (by its path and relative to the data folder)"));
      }
    }
    SkipLog again;  // already counted above
    Dataset labeled = decode(heldout, c.dir, spec, again, &relative);
    if (labeled.size() > 0) {
      out.heldout = labeled;
      spdlog::info("labels file {}: {} of the {} held-out file(s) labeled: accuracy on them{}",
                   c.labels_file, labeled.size(), heldout.size(),
                   labeled.size() < static_cast<int64_t>(heldout.size())
                       ? ", the label-free figures on all"
                       : "");
    } else {
      // Asked for an accuracy and getting none deserves a word: paths not as listed?
      spdlog::warn(
          "labels file {} labels {} file(s), none of the {} held-out one(s) (e.g. "
          "'{}'; paths are relative to {}): no accuracy is measured",
          c.labels_file, labels.size(), heldout.size(),
          heldout.empty() ? std::string() : escape_text(heldout.front().name(c.dir)), c.dir);
    }
  }
  if (out.skipped.count > 0) spdlog::warn("data folder {}: {}", c.dir, out.skipped.summary());
  for (const auto& note : out.skipped.recording_warnings())
    spdlog::warn("data folder {}: {}", c.dir, note);
  if (usable < c.min_samples || out.adaptation.size() == 0 || out.heldout.size() == 0) {
    return Status::invalid_argument(
        "the data folder has " + std::to_string(usable) + " usable file(s) for this " +
        (spec.input.kind.empty() ? "model" : spec.input.kind) + " model, at least " +
        std::to_string(c.min_samples) +
        " needed (--min-samples: the statistics of fewer describe those files, not the "
        "individual); " +
        out.skipped.anonymous_summary());
  }
  // Fine-Pruning reads at least half of --min-samples, what the default held-out half leaves
  // it: a larger held-out fraction (0.95) left it one file of ten, without a word.
  const int64_t least_read = c.min_samples / 2;
  if (out.adaptation.size() < least_read) {
    return Status::invalid_argument(fmt::format(
        "--eval-fraction {} holds out {} of the {} usable file(s), leaving Fine-Pruning {}; at "
        "least {} needed (half of --min-samples: the statistics of fewer describe those files, "
        "not the individual): hold out less, or add files",
        c.eval_fraction, usable - out.adaptation.size(), usable, out.adaptation.size(),
        least_read));
  }
  return out;
}

}  // namespace fp::agent
