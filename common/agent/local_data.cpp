#include "agent/local_data.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "data/fashion_mnist.h"
#include "data/fsdd.h"
#include "data/image_folder.h"

namespace fp::agent {
namespace {

// Fisher-Yates with std::mt19937_64, which the standard specifies bit-exactly, so
// coordinator and agents on any platform agree on the split.
void shuffle(std::vector<int64_t>& v, uint64_t seed) {
  std::mt19937_64 gen(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen() % i]);
}

Result<Dataset> load_pool(const LocalDataConfig& c, bool general) {
  if (c.dataset == "fsdd") {
    std::string dir = c.data_dir.empty() ? default_fsdd_dir() : c.data_dir;
    if (dir.empty()) return Status::not_found("no FSDD directory: pass one or set FP_FSDD_DIR");
    return load_fsdd(dir);
  }
  if (c.dataset == "fashion-mnist") {
    std::string dir = c.data_dir.empty() ? kDefaultFashionMnistDir : c.data_dir;
    return load_fashion_mnist(dir, general ? Split::kTrain : Split::kTest);
  }
  if (c.dataset == "image-folder") {
    // All of it trains the general model; a device holds its own pictures (--data).
    if (!general) {
      return Status::invalid_argument(
          "image-folder devices personalize on their own pictures: give --data, not "
          "--individual");
    }
    if (c.data_dir.empty()) return Status::invalid_argument("image-folder needs its folder");
    int64_t skipped = 0;
    FP_ASSIGN_OR_RETURN(Dataset pool,
                        load_image_folder(c.data_dir, {c.channels, c.height, c.width}, &skipped));
    if (skipped > 0) spdlog::warn("{}", skipped_files_note(c.data_dir, skipped));
    return pool;
  }
  return Status::invalid_argument("unknown data set '" + c.dataset +
                                  "' (known: fsdd, fashion-mnist, image-folder)");
}

// The partition fp-sim would draw with the same settings.
Result<PartitionConfig> partition_config(const Dataset& pool, const LocalDataConfig& c) {
  PartitionConfig p;
  p.eval_fraction = c.eval_fraction;
  p.seed = c.split_seed;
  if (c.dataset == "fsdd") {
    p.method = PartitionMethod::kNatural;
    p.samples_per_individual = c.samples;
    if (c.samples == 0) {
      if (!(c.general_fraction >= 0 && c.general_fraction < 1)) {
        return Status::invalid_argument("general_fraction must be in [0, 1)");
      }
      std::map<int64_t, int64_t> per_group;
      for (int64_t g : pool.group_vector()) ++per_group[g];
      int64_t smallest = std::numeric_limits<int64_t>::max();
      for (const auto& [g, n] : per_group) smallest = std::min(smallest, n);
      p.samples_per_individual = std::max<int64_t>(
          2, std::llround((1.0 - c.general_fraction) * static_cast<double>(smallest)));
    }
  } else {
    p.method = PartitionMethod::kKClasses;
    p.num_individuals = c.individuals;
    p.k = c.k;
    p.samples_per_individual = c.samples > 0 ? c.samples : 600;
  }
  return p;
}

// FSDD: what no individual of the partition took.
Result<std::vector<int64_t>> fsdd_general(const Dataset& pool, const LocalDataConfig& c) {
  FP_ASSIGN_OR_RETURN(PartitionConfig p, partition_config(pool, c));
  FP_ASSIGN_OR_RETURN(auto individuals,
                      partition(pool.label_vector(), pool.group_vector(), p, pool.group_names));
  std::vector<bool> taken(static_cast<size_t>(pool.size()), false);
  for (const auto& ind : individuals) {
    for (int64_t i : ind.adaptation) taken[static_cast<size_t>(i)] = true;
    for (int64_t i : ind.evaluation) taken[static_cast<size_t>(i)] = true;
  }
  std::vector<int64_t> out;
  for (int64_t i = 0; i < pool.size(); ++i)
    if (!taken[static_cast<size_t>(i)]) out.push_back(i);
  return out;
}

// Fashion-MNIST without a partition: every test sample of a class set, shuffled, sharded.
Result<std::vector<int64_t>> class_set_indices(const Dataset& pool, const LocalDataConfig& c,
                                               const std::string& individual) {
  const std::string value = individual.substr(individual.find('=') + 1);
  std::string classes_text = value;
  int64_t shard = 0;
  if (auto hash = value.find('#'); hash != std::string::npos) {
    try {
      shard = std::stoll(value.substr(hash + 1));
    } catch (const std::exception&) {
      return Status::invalid_argument("bad shard in '" + individual + "'");
    }
    classes_text = value.substr(0, hash);
  }
  std::set<int64_t> classes;
  std::stringstream in(classes_text);
  for (std::string part; std::getline(in, part, '+');) {
    try {
      size_t used = 0;
      int64_t k = std::stoll(part, &used);
      if (used != part.size() || k < 0 || k >= pool.num_classes()) throw std::out_of_range(part);
      // "classes=0+0" is a typo, not the class set {0}: name it rather than guess.
      if (!classes.insert(k).second) {
        return Status::invalid_argument("class '" + part + "' named twice in '" + individual + "'");
      }
    } catch (const std::exception&) {
      return Status::invalid_argument("bad class '" + part + "' in '" + individual + "'");
    }
  }
  std::vector<int64_t> idx;
  auto labels = pool.label_vector();
  for (int64_t i = 0; i < static_cast<int64_t>(labels.size()); ++i) {
    if (classes.count(labels[i])) idx.push_back(i);
  }
  shuffle(idx, c.split_seed);
  int64_t per = c.samples > 0 ? c.samples : 600;
  int64_t begin = shard * per;
  if (shard < 0 || begin >= static_cast<int64_t>(idx.size())) {
    return Status::invalid_argument("shard " + std::to_string(shard) + " of '" + individual +
                                    "' is past the " + std::to_string(idx.size()) + " samples");
  }
  int64_t end = std::min<int64_t>(begin + per, idx.size());
  return std::vector<int64_t>(idx.begin() + begin, idx.begin() + end);
}

}  // namespace

Result<Individual> individual_indices(const Dataset& pool, const LocalDataConfig& c,
                                      const std::string& individual) {
  if (!(c.eval_fraction > 0 && c.eval_fraction < 1)) {
    return Status::invalid_argument("eval_fraction must be in (0, 1)");
  }
  const std::string key = individual.substr(0, individual.find('='));
  if (c.dataset == "fsdd" && key != "speaker" && key != "group") {
    return Status::invalid_argument("FSDD individuals are speaker=<name>, got '" + individual +
                                    "'");
  }
  if (c.dataset != "fsdd" && (key != "classes" || individual.find('=') == std::string::npos)) {
    return Status::invalid_argument("Fashion-MNIST individuals are classes=<a>+<b>[#i], got '" +
                                    individual + "'");
  }
  if (c.dataset != "fsdd" && c.individuals == 0) {
    FP_ASSIGN_OR_RETURN(auto idx, class_set_indices(pool, c, individual));
    shuffle(idx, c.split_seed ^ 0x9e3779b97f4a7c15ULL);
    if (idx.size() < 2) {
      return Status::invalid_argument("individual '" + individual + "' has fewer than 2 samples");
    }
    size_t n_eval = std::max<size_t>(1, static_cast<size_t>(c.eval_fraction * idx.size() + 0.5));
    n_eval = std::min(n_eval, idx.size() - 1);
    Individual out;
    out.name = individual;
    out.evaluation.assign(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_eval));
    out.adaptation.assign(idx.begin() + static_cast<std::ptrdiff_t>(n_eval), idx.end());
    return out;
  }
  // fp-sim's names: "group=<speaker>" (natural), "classes=<a>+<b>#<i>" (k_classes).
  const std::string wanted =
      key == "speaker" ? "group=" + individual.substr(individual.find('=') + 1) : individual;
  FP_ASSIGN_OR_RETURN(PartitionConfig p, partition_config(pool, c));
  std::vector<int64_t> groups;
  if (pool.has_groups()) groups = pool.group_vector();
  FP_ASSIGN_OR_RETURN(auto individuals,
                      partition(pool.label_vector(), groups, p, pool.group_names));
  std::string known;
  for (auto& ind : individuals) {
    if (ind.name == wanted) return std::move(ind);
    if (known.size() < 200) known += (known.empty() ? "" : ", ") + ind.name;
  }
  return Status::not_found("no individual '" + individual + "' in the " + c.dataset +
                           " partition (seed " + std::to_string(c.split_seed) +
                           "; known: " + known + ")");
}

Result<Dataset> load_general_data(const LocalDataConfig& c, int64_t limit) {
  FP_ASSIGN_OR_RETURN(Dataset pool, load_pool(c, true));
  if (c.dataset == "fsdd") {
    FP_ASSIGN_OR_RETURN(auto general, fsdd_general(pool, c));
    pool = pool.select(general);
  }
  if (limit > 0 && limit < pool.size()) {
    std::vector<int64_t> idx(pool.size());
    for (int64_t i = 0; i < pool.size(); ++i) idx[i] = i;
    shuffle(idx, c.split_seed);
    idx.resize(limit);
    std::sort(idx.begin(), idx.end());
    pool = pool.select(idx);
  }
  return pool;
}

Status check_individuals(const LocalDataConfig& c, const std::vector<std::string>& individuals) {
  auto pool = load_pool(c, false);
  if (!pool.ok()) {  // the folder, not an individual: say which option sets it
    return pool.status().with_context(
        "the " + c.dataset + " data (--data-dir" +
        (c.data_dir.empty() ? " not given: its usual place" : " " + c.data_dir) + "): ");
  }
  for (const auto& individual : individuals) {  // each error names the individual
    auto found = individual_indices(*pool, c, individual);
    if (!found.ok()) return found.status().with_context("--individual: ");
    const auto held = static_cast<int64_t>(found->adaptation.size() + found->evaluation.size());
    if (c.samples > held) {
      spdlog::warn("--samples asks for {} samples, but {} holds {}: its tasks use those", c.samples,
                   individual, held);
    }
  }
  return Status::ok_status();
}

Result<IndividualData> load_individual(const LocalDataConfig& c, const std::string& individual) {
  FP_ASSIGN_OR_RETURN(Dataset pool, load_pool(c, false));
  FP_ASSIGN_OR_RETURN(Individual ind, individual_indices(pool, c, individual));
  return IndividualData{pool.select(ind.adaptation), pool.select(ind.evaluation)};
}

}  // namespace fp::agent
