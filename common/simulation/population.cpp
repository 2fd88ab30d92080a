#include "simulation/population.h"

#include <fmt/format.h>

#include <set>

#include "data/fashion_mnist.h"
#include "data/fsdd.h"

namespace fp::sim {

Result<Population> load_population(const Scenario& s) {
  Population p;
  p.dataset = s.data.dataset;
  if (s.data.dataset == "fashion-mnist") {
    std::string dir = s.data.dir.empty() ? kDefaultFashionMnistDir : s.data.dir;
    FP_ASSIGN_OR_RETURN(p.pool, load_fashion_mnist(dir, Split::kTest));
  } else {
    std::string dir = s.data.dir.empty() ? default_fsdd_dir() : s.data.dir;
    if (dir.empty()) {
      return Status::not_found(s.source +
                               ": data.dir is empty and no FSDD directory was found (looked "
                               "for ../shared/data/fsdd and $FP_FSDD_DIR)");
    }
    FP_ASSIGN_OR_RETURN(p.pool, load_fsdd(dir));
  }
  std::vector<int64_t> groups;
  if (p.pool.has_groups()) groups = p.pool.group_vector();
  if (s.partition.method == PartitionMethod::kNatural && groups.empty()) {
    return Status::invalid_argument(s.source +
                                    ": partition.method = \"natural\" needs a data set "
                                    "with groups (fsdd: speakers); " +
                                    s.data.dataset + " has none");
  }
  auto individuals = partition(p.pool.label_vector(), groups, s.partition, p.pool.group_names);
  if (!individuals.ok()) {
    return Status::invalid_argument(s.source + ": [partition]: " + individuals.status().message());
  }
  p.individuals = std::move(individuals).value();
  return p;
}

Result<Dataset> general_training_data(const Scenario& s, const Population& p, int64_t left_out) {
  if (s.data.dataset == "fashion-mnist") {
    std::string dir = s.data.dir.empty() ? kDefaultFashionMnistDir : s.data.dir;
    return load_fashion_mnist(dir, Split::kTrain, s.data.general_samples);
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

Status save_private_data(const PrivateData& data, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    archive.write("adaptation_inputs", data.adaptation.inputs);
    archive.write("adaptation_labels", data.adaptation.labels);
    archive.write("evaluation_inputs", data.evaluation.inputs);
    archive.write("evaluation_labels", data.evaluation.labels);
    archive.save_to(path);
  } catch (const std::exception& e) {
    return Status::io_error("writing private data " + path + ": " + e.what());
  }
  return Status::ok_status();
}

Result<PrivateData> load_private_data(const std::string& path) {
  PrivateData d;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    archive.read("adaptation_inputs", d.adaptation.inputs);
    archive.read("adaptation_labels", d.adaptation.labels);
    archive.read("evaluation_inputs", d.evaluation.inputs);
    archive.read("evaluation_labels", d.evaluation.labels);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));  // c10 errors append a stack trace
    return Status::corruption("private data " + path + " cannot be read: " + what);
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
