#include "model_commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string_view>
#include <vector>

#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "models/pruned_state.h"
#include "models/torch_export.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "util/compute_threads.h"
#include "util/file_io.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fp::agent_cli {
namespace {

struct Row : Footprint {
  double sparsity = 0, ms_b1 = 0, ms_b64 = 0;
};

Row measure(PrunableNet& m, uint64_t bytes) {
  const auto& s = m.spec();
  Row r;
  static_cast<Footprint&>(r) = footprint(m, bytes);
  r.sparsity = measure_sparsity(m).sparsity();
  torch::manual_seed(0);
  r.ms_b1 = 1e3 * median_latency(m, torch::randn({1, s.in_channels, s.height, s.width}));
  r.ms_b64 = 1e3 * median_latency(m, torch::randn({64, s.in_channels, s.height, s.width}), 1, 5);
  return r;
}

}  // namespace

Footprint footprint(PrunableNet& model, uint64_t bytes) {
  return {count_parameters(model), count_macs(model).dense, bytes};  // MACs it executes
}

bool out_is_input(const std::string& model_path, const std::string& out_path,
                  const std::string& written) {
  std::error_code ec;
  if (!std::filesystem::equivalent(model_path, out_path, ec)) return false;
  spdlog::error("--out {} is the model it reads ({}): {} would replace it; give another --out",
                out_path, model_path, written);
  return true;
}

bool out_model_refused(const std::string& model_path, const std::string& out_path,
                       const std::string& written) {
  if (out_is_input(model_path, out_path, written)) return true;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(out_path, ec)) return false;
  auto refuse = [&](const std::string& what) {
    spdlog::error("--out {} is {}: {} would replace it; give another --out", out_path, what,
                  written);
    return true;
  };
  char head[8] = {};
  std::ifstream(out_path, std::ios::binary).read(head, sizeof head);
  if (std::string_view(head, sizeof head) != std::string_view("FPMODEL\0", 8)) {
    const Status other = check_output_target(out_path, "--out");  // a database, a key
    if (!other.ok()) spdlog::error("{}", other.message());
    return !other.ok();
  }
  auto there = load_model(out_path);
  if (!there.ok())
    return refuse("a model file that cannot be read (" + there.status().message() + ")");
  bool pruned = (*there)->spec().is_compact();
  for (const auto& l : measure_sparsity(**there).layers)
    pruned = pruned || l.active_units < l.units;
  return pruned ? false : refuse("an unpruned model (a general model)");
}

int compact_command(const std::string& model_path, const std::string& out_path, int threads) {
  if (out_model_refused(model_path, out_path, "the compact model")) return 2;
  set_compute_threads(threads);
  ArtifactInfo in_info;
  auto model = load_model(model_path, &in_info);
  if (!model.ok()) {
    spdlog::error("{}", model.status().to_string());
    return 1;
  }
  auto c = compact(**model);
  if (!c.ok()) {
    spdlog::error("{}: {}", model_path, c.status().to_string());
    return 1;
  }
  ArtifactInfo out_info;
  Status s = make_parent_folder(out_path, "model artifact");
  if (s.ok()) s = save_model(*c->model, out_path, in_info.meta, &out_info);
  // The file's SHA-256 (sha256sum's), as info, personalize and the coordinator name models
  // (out_info.sha256 is the artifact's own check, of all but its last 32 bytes).
  auto out_sha = s.ok() ? sha256_file_hex(out_path) : Result<std::string>(s);
  if (!out_sha.ok()) {
    spdlog::error("{}", out_sha.status().to_string());
    return 1;
  }
  const Row before = measure(**model, in_info.size_bytes);
  const Row after = measure(*c->model, out_info.size_bytes);
  fmt::print("{} ({}) -> {} (compact, sha256 {})\n", model_path, (*model)->spec().arch, out_path,
             out_sha->substr(0, 16));
  fmt::print("{:<10} {:>9} {:>12} {:>14} {:>12} {:>10} {:>11}\n", "", "sparsity", "parameters",
             "MACs/sample", "bytes", "ms (b=1)", "ms (b=64)");
  for (const auto& [name, r] : {std::pair<const char*, Row>{"before", before}, {"after", after}})
    fmt::print("{:<10} {:>8.1f}% {:>12} {:>14} {:>12} {:>10.3f} {:>11.2f}\n", name,
               100 * r.sparsity, r.parameters, r.macs, r.bytes, r.ms_b1, r.ms_b64);
  fmt::print("MACs x{:.2f}, bytes x{:.2f}, latency x{:.2f} (b=1) x{:.2f} (b=64); {} thread(s)\n",
             static_cast<double>(after.macs) / before.macs,
             static_cast<double>(after.bytes) / before.bytes, after.ms_b1 / before.ms_b1,
             after.ms_b64 / before.ms_b64, threads);
  return 0;
}

namespace {

// The classes the model can still answer (a compact classifier maps its outputs to them; a
// masked one zeroes the others' units).
std::vector<int64_t> answerable_classes(const PrunableNet& m) {
  const auto& last = m.layers().back();
  const torch::Tensor ids = last->class_ids().defined()
                                ? last->class_ids()
                                : torch::arange(m.spec().num_classes, torch::kLong);
  const torch::Tensor live = ids.index({last->unit_mask().reshape({-1}) != 0});
  return std::vector<int64_t>(live.data_ptr<int64_t>(), live.data_ptr<int64_t>() + live.numel());
}

std::string class_label(const ModelSpec& spec, int64_t id) {
  const auto i = static_cast<size_t>(id);
  return i < spec.class_names.size() && !spec.class_names[i].empty()
             ? fmt::format("{} ({})", id, spec.class_names[i])
             : std::to_string(id);
}

}  // namespace

int info_command(const std::string& model_path) {
  ArtifactInfo info;
  auto loaded = load_model(model_path, &info);
  auto sha = loaded.ok() ? sha256_file_hex(model_path) : loaded.status();
  if (!sha.ok()) {
    spdlog::error("{}", sha.status().to_string());
    return 1;
  }
  PrunableNet& model = **loaded;
  const ModelSpec& spec = model.spec();
  // The architecture it was pruned from: the same spec without the compact widths.
  ModelSpec published = spec;
  published.widths.clear();
  auto general = build_model_to_overwrite(published);
  if (!general.ok()) {
    spdlog::error("{}: {}", model_path, general.status().to_string());
    return 1;
  }
  const SparsityReport sparsity = measure_sparsity(model);
  const SparsityReport full = measure_sparsity(**general);
  const ModelCost cost = measure_cost(model);
  // Unpruned, the architecture's compact model is itself: no compaction to run.
  const Footprint full_size = footprint(**general, 0);
  // What register and personalize go by: a unit or a single weight masked makes it masked.
  const PrunedState state = measure_pruned_state(model);
  const std::string form = state.compact ? "compact (pruned units removed)"
                           : !state.masked.empty()
                               ? fmt::format("masked ({}; zeroed, not removed)", state.masked)
                               : "dense";
  fmt::print("{}: {} at width {:g}, {}, input {}x{}x{}{}\n", model_path, spec.arch, spec.width_mult,
             form, spec.in_channels, spec.height, spec.width,
             spec.input.kind.empty() ? "" : " (" + spec.input.kind + ")");
  fmt::print("sha256 {} (of the file, as sha256sum says), {} bytes\n", *sha, info.size_bytes);
  // The file's own text escaped, as predict prints it: a newline or a terminal escape in a
  // model's meta or class names forged lines and recoloured the terminal.
  for (const auto& [key, value] : info.meta)
    if (value.size() <= 120)  // curves are long
      fmt::print("meta {}: {}\n", escape_text(key), escape_text(value));
  const std::vector<int64_t> classes = answerable_classes(model);
  std::vector<std::string> labels;
  for (int64_t c : classes) labels.push_back(escape_text(class_label(spec, c)));
  fmt::print("classes answered: {} of {}: {}\n", classes.size(), spec.num_classes,
             fmt::join(labels, ", "));
  fmt::print("{:<22} {:>14} {:>14} {:>9}\n", "", "this model", "architecture", "share");
  auto row = [](const char* name, int64_t value, int64_t of) {
    fmt::print("{:<22} {:>14} {:>14} {:>8.1f}%\n", name, value, of, of ? 100.0 * value / of : 0.0);
  };
  row("parameters (stored)", count_parameters(model), full_size.parameters);
  row("parameters (compact)", cost.compact_parameters, full_size.parameters);
  row("MACs/sample (executed)", cost.macs.dense, full_size.macs);
  row("MACs/sample (compact)", cost.macs.compact, full_size.macs);
  fmt::print("{:<22} {:>14} {:>14}\n", "layer", "live units", "architecture");
  for (size_t i = 0; i < sparsity.layers.size() && i < full.layers.size(); ++i)
    fmt::print("{:<22} {:>14} {:>14}\n", sparsity.layers[i].name, sparsity.layers[i].active_units,
               full.layers[i].units);
  return 0;
}

namespace {

// The folder holding fineprune_ref.py, the module that loads an export: installed beside
// this program (<prefix>/share/fineprune/python), or the source tree's when run from a build.
std::string python_module_folder() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share/fineprune/python");
#ifdef FP_SOURCE_PYTHON_DIR
  candidates.emplace_back(FP_SOURCE_PYTHON_DIR);
#endif
  for (const auto& folder : candidates)
    if (fs::exists(folder / "fineprune_ref.py", ec)) return folder.lexically_normal().string();
  return "scripts/python";
}

}  // namespace

int export_command(const std::string& model_path, const std::string& out_prefix) {
  // The files are <prefix>.pt and <prefix>.json: a folder would get ".pt" and ".json".
  if (out_prefix.empty() || out_prefix.back() == '/' || std::filesystem::is_directory(out_prefix)) {
    const std::string folder =
        out_prefix.empty() || out_prefix.back() == '/' ? out_prefix : out_prefix + "/";
    spdlog::error(
        "--out {} names a folder: give the files' prefix (e.g. {}model writes {}model.pt and "
        "{}model.json)",
        out_prefix, folder, folder, folder);
    return 2;
  }
  if (out_is_input(model_path, out_prefix + ".pt", "the exported weights") ||
      out_is_input(model_path, out_prefix + ".json", "the exported spec"))
    return 2;
  // Both checked before either is written: a folder where the .json goes left a new .pt
  // beside an old (or no) .json, a pair that does not belong together.
  for (const char* ext : {".pt", ".json"}) {
    std::error_code ec;
    if (std::filesystem::is_directory(out_prefix + ext, ec)) {
      spdlog::error("--out {}: {}{} is a folder; the export writes a file there", out_prefix,
                    out_prefix, ext);
      return 2;
    }
  }
  auto model = load_model(model_path);
  if (!model.ok()) {
    spdlog::error("{}", model.status().to_string());
    return 1;
  }
  TorchExportInfo info;
  Status s = make_parent_folder(out_prefix, "exported weights");
  if (s.ok()) s = export_torch(**model, out_prefix, &info);
  if (!s.ok()) {
    spdlog::error("{}", s.to_string());
    return 1;
  }
  // Paths as Python strings: a quote or a backslash in one made the line name another path.
  fmt::print(
      "wrote {} ({} bytes, {} parameters) and {}\n"
      "in Python: sys.path.insert(0, {}); import fineprune_ref; "
      "net = fineprune_ref.load({})\n",
      info.state_dict_path, info.state_dict_bytes, info.parameters, info.spec_path,
      quoted_string(python_module_folder(), '\''), quoted_string(out_prefix, '\''));
  return 0;
}

}  // namespace fp::agent_cli
