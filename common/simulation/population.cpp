#include "simulation/population.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <string_view>

#include "config/toml_reader.h"
#include "data/fashion_mnist.h"
#include "data/file_decoder.h"
#include "data/fsdd.h"
#include "data/image_folder.h"
#include "util/file_io.h"

namespace fp::sim {

std::string fashion_mnist_dir(const Scenario& s) {
  return s.data.dir.empty() ? kDefaultFashionMnistDir : s.data.dir;
}

namespace {

// Below this many unlabeled samples an individual's unit statistics are noise: a scenario
// with eval_fraction = 0.999 fine-pruned each individual on one sample, without a word.
constexpr size_t kFewAdaptationSamples = 10;

void warn_few_adaptation_samples(const Scenario& s, const std::vector<Individual>& individuals) {
  size_t few = 0, least = SIZE_MAX;
  for (const auto& ind : individuals) {
    few += ind.adaptation.size() < kFewAdaptationSamples;
    least = std::min(least, ind.adaptation.size());
  }
  if (few == 0) return;
  spdlog::warn(
      "{}: {} of {} individual(s) hold fewer than {} unlabeled adaptation samples (the fewest: "
      "{}; [partition] samples = {}, eval_fraction = {}): their Fine-Pruning statistics come "
      "from those alone",
      s.source, few, individuals.size(), kFewAdaptationSamples, least,
      s.partition.samples_per_individual, s.partition.eval_fraction);
}

}  // namespace

Result<Population> load_population(const Scenario& s) {
  if (s.best_classes > 0 && s.partition.classes.empty()) {
    return Status::invalid_argument(
        s.source +
        ": partition.best_classes is picked by `fp-sim run` once its general model is trained; "
        "read the run folder's scenario.toml, which records the pick as partition.classes");
  }
  Population p;
  p.dataset = s.data.dataset;
  if (s.data.dataset == "fashion-mnist") {
    FP_ASSIGN_OR_RETURN(p.pool, load_fashion_mnist(fashion_mnist_dir(s), Split::kTest));
  } else if (s.data.dataset == "image-folder") {
    int64_t skipped = 0;
    auto pool =
        load_image_folder(s.data.dir, {s.data.channels, s.data.height, s.data.width}, &skipped);
    if (!pool.ok()) return pool.status().with_context(s.source + ": [data] dir: ");
    p.pool = std::move(pool).value();
    if (skipped > 0) spdlog::warn("{}: {}", s.source, skipped_files_note(s.data.dir, skipped));
  } else {
    std::string dir = s.data.dir.empty() ? default_fsdd_dir() : s.data.dir;
    if (dir.empty()) {
      return Status::not_found(s.source +
                               ": data.dir is empty and no FSDD directory was found (looked "
                               "for $FP_FSDD_DIR and ../shared/data/fsdd)");
    }
    FP_ASSIGN_OR_RETURN(p.pool, load_fsdd(dir));
  }
  std::vector<int64_t> groups;
  if (p.pool.has_groups()) groups = p.pool.group_vector();
  if (s.partition.method == PartitionMethod::kNatural && groups.empty()) {
    return Status::invalid_argument(s.source +
                                    ": partition.method = \"natural\" needs a data set "
                                    "with groups (fsdd: speakers; an image folder: every "
                                    "picture in a subfolder of its class, <class>/<person>/); " +
                                    s.data.dataset + " has none");
  }
  auto individuals = partition(p.pool.label_vector(), groups, s.partition, p.pool.group_names);
  if (!individuals.ok()) {
    return Status::invalid_argument(s.source + ": [partition]: " + individuals.status().message());
  }
  p.individuals = std::move(individuals).value();
  warn_few_adaptation_samples(s, p.individuals);
  return p;
}

Result<Dataset> general_training_data(const Scenario& s, const Population& p, int64_t left_out) {
  if (s.data.dataset == "fashion-mnist") {
    return load_fashion_mnist(fashion_mnist_dir(s), Split::kTrain, s.data.general_samples);
  }
  // FSDD: what the individuals leave over, minus the left-out speaker entirely.
  std::vector<bool> taken(static_cast<size_t>(p.pool.size()), false);
  for (const auto& ind : p.individuals) {
    for (int64_t i : ind.adaptation) taken[i] = true;
    for (int64_t i : ind.evaluation) taken[i] = true;
  }
  std::set<int64_t> excluded_groups;
  if (left_out >= 0) {
    if (left_out >= static_cast<int64_t>(p.individuals.size())) {
      return Status::invalid_argument("no individual " + std::to_string(left_out));
    }
    auto groups = p.pool.group_vector();
    const auto& ind = p.individuals[left_out];
    for (int64_t i : ind.adaptation) excluded_groups.insert(groups[i]);
    for (int64_t i : ind.evaluation) excluded_groups.insert(groups[i]);
    // With leave-one-out, the other individuals' samples are fair game for training.
    std::fill(taken.begin(), taken.end(), false);
  }
  std::vector<int64_t> keep;
  auto groups = p.pool.has_groups() ? p.pool.group_vector() : std::vector<int64_t>{};
  for (int64_t i = 0; i < p.pool.size(); ++i) {
    if (taken[i]) continue;
    if (!groups.empty() && excluded_groups.count(groups[i])) continue;
    keep.push_back(i);
  }
  if (s.data.general_samples > 0 && static_cast<int64_t>(keep.size()) > s.data.general_samples) {
    keep.resize(s.data.general_samples);
  }
  if (keep.empty() && left_out >= 0) {  // leave-one-out is on: suggesting it said nothing
    return Status::invalid_argument(
        s.source + ": no samples are left to train the general model without individual " +
        p.individuals[left_out].name +
        ": every sample is that individual's (leave-one-out needs data of other people: a "
        "data set with more than one group)");
  }
  if (keep.empty()) {
    return Status::invalid_argument(
        s.source +
        ": no samples are left to train the general model (lower partition.samples "
        "or set general.leave_individual_out = true)");
  }
  return p.pool.select(keep);
}

Dataset general_heldout_data(const Scenario& s, const Population& p) {
  if (s.data.dataset == "fashion-mnist") return p.pool;
  std::set<int64_t> owned;
  for (const auto& ind : p.individuals) {
    owned.insert(ind.adaptation.begin(), ind.adaptation.end());
    owned.insert(ind.evaluation.begin(), ind.evaluation.end());
  }
  return p.pool.select(std::vector<int64_t>(owned.begin(), owned.end()));
}

PrivateData private_data(const Population& p, size_t i) {
  const Individual& ind = p.individuals.at(i);
  return {p.pool.select(ind.adaptation), p.pool.select(ind.evaluation)};
}

namespace {

// The private data file: "FPPRIV1\0", then four tensors (adaptation inputs and labels,
// evaluation inputs and labels), each as u8 dtype (0 float32, 1 int64) | u8 rank |
// u64 sizes[rank] | its bytes, little-endian. Raw rather than torch::save: every
// virtual agent writes and reads one, and the zip archive cost more than the data.
constexpr char kPrivateMagic[8] = {'F', 'P', 'P', 'R', 'I', 'V', '1', '\0'};

void append_tensor(std::string& out, const torch::Tensor& t) {
  const torch::Tensor c = (t.scalar_type() == torch::kLong ? t : t.to(torch::kFloat)).contiguous();
  out.push_back(static_cast<char>(c.scalar_type() == torch::kLong ? 1 : 0));
  out.push_back(static_cast<char>(c.dim()));
  for (int64_t d = 0; d < c.dim(); ++d) {
    const uint64_t size = static_cast<uint64_t>(c.size(d));
    out.append(reinterpret_cast<const char*>(&size), sizeof size);
  }
  out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

// Reads one tensor at `at`, advancing it; an error names what is wrong.
Result<torch::Tensor> read_tensor(std::string_view bytes, size_t& at) {
  if (bytes.size() - at < 2) return Status::corruption("ends inside a tensor header");
  const uint8_t dtype = static_cast<uint8_t>(bytes[at]), rank = static_cast<uint8_t>(bytes[at + 1]);
  at += 2;
  if (dtype > 1 || rank > 8) return Status::corruption("has a tensor of unknown type or rank");
  if (bytes.size() - at < rank * sizeof(uint64_t)) return Status::corruption("ends inside a shape");
  std::vector<int64_t> shape(rank);
  uint64_t numel = 1;
  for (auto& d : shape) {
    uint64_t size = 0;
    std::memcpy(&size, bytes.data() + at, sizeof size);
    at += sizeof size;
    if (size > (uint64_t{1} << 32) || (size && numel > (uint64_t{1} << 40) / size)) {
      return Status::corruption("has an implausible tensor size");
    }
    d = static_cast<int64_t>(size);
    numel *= size;
  }
  const uint64_t nbytes = numel * (dtype == 1 ? 8 : 4);
  if (bytes.size() - at < nbytes) return Status::corruption("ends inside a tensor's data");
  torch::Tensor t = torch::empty(shape, dtype == 1 ? torch::kLong : torch::kFloat);
  std::memcpy(t.data_ptr(), bytes.data() + at, nbytes);
  at += nbytes;
  return t;
}

}  // namespace

Status save_private_data(const PrivateData& data, const std::string& path) {
  const std::initializer_list<const torch::Tensor*> tensors = {
      &data.adaptation.inputs, &data.adaptation.labels, &data.evaluation.inputs,
      &data.evaluation.labels};
  // Sized once: a host writes one of these per agent, and growing the string by appends
  // copied it several times over.
  size_t size = sizeof kPrivateMagic;
  for (const auto* t : tensors)  // as append_tensor writes them: labels int64, inputs float
    size += 2 + 8 * t->dim() + t->numel() * (t->scalar_type() == torch::kLong ? 8 : 4);
  std::string bytes;
  bytes.reserve(size);
  bytes.append(kPrivateMagic, sizeof kPrivateMagic);
  for (const auto* t : tensors) append_tensor(bytes, *t);
  return write_file(path, bytes, "private data");
}

Result<PrivateData> load_private_data(const std::string& path) {
  FP_ASSIGN_OR_RETURN(const std::string bytes, read_file(path, "private data"));
  if (bytes.size() < sizeof kPrivateMagic ||
      std::memcmp(bytes.data(), kPrivateMagic, sizeof kPrivateMagic) != 0) {
    return Status::corruption("private data " + path + " cannot be read: not a private data file");
  }
  PrivateData d;
  size_t at = sizeof kPrivateMagic;
  for (auto* t :
       {&d.adaptation.inputs, &d.adaptation.labels, &d.evaluation.inputs, &d.evaluation.labels}) {
    auto read = read_tensor(bytes, at);
    if (!read.ok()) {
      return Status::corruption("private data " + path + " cannot be read: it " +
                                read.status().message());
    }
    *t = std::move(read).value();
  }
  if (at != bytes.size()) {
    return Status::corruption("private data " + path + " cannot be read: bytes after its tensors");
  }
  auto rows_match = [](const Dataset& x) {
    return x.inputs.defined() && x.labels.defined() && x.inputs.dim() >= 2 && x.labels.dim() == 1 &&
           x.inputs.size(0) == x.labels.size(0) && x.labels.scalar_type() == torch::kLong &&
           x.inputs.scalar_type() == torch::kFloat;
  };
  if (!rows_match(d.adaptation) || !rows_match(d.evaluation)) {
    return Status::corruption("private data " + path +
                              " holds tensors of unexpected shapes or types");
  }
  return d;
}

std::string agent_id(const Scenario& s, size_t individual) {
  return fmt::format("{}-a{:05d}", s.name, individual);
}

std::string holding(const Population& p, size_t individual) {
  return p.dataset + "/" + p.individuals.at(individual).name;
}

}  // namespace fp::sim
