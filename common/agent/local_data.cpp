#include "agent/local_data.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "data/fashion_mnist.h"
#include "data/fsdd.h"

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
  return Status::invalid_argument("unknown data set '" + c.dataset +
                                  "' (known: fsdd, fashion-mnist)");
}

// FSDD: per speaker, the first general_fraction of a seeded permutation is general.
std::vector<int64_t> fsdd_part(const Dataset& pool, const LocalDataConfig& c, bool general,
                               int64_t speaker = -1) {
  std::map<int64_t, std::vector<int64_t>> by_speaker;
  auto groups = pool.group_vector();
  for (int64_t i = 0; i < static_cast<int64_t>(groups.size()); ++i)
    by_speaker[groups[i]].push_back(i);
  std::vector<int64_t> out;
  for (auto& [g, idx] : by_speaker) {
    if (speaker >= 0 && g != speaker) continue;
    shuffle(idx, c.split_seed + static_cast<uint64_t>(g));
    size_t cut = static_cast<size_t>(c.general_fraction * static_cast<double>(idx.size()) + 0.5);
    if (general) {
      out.insert(out.end(), idx.begin(), idx.begin() + cut);
    } else {
      out.insert(out.end(), idx.begin() + cut, idx.end());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<int64_t>> individual_indices(const Dataset& pool, const LocalDataConfig& c,
                                                const std::string& individual) {
  auto eq = individual.find('=');
  std::string key = individual.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : individual.substr(eq + 1);
  if (c.dataset == "fsdd") {
    if (key != "speaker") {
      return Status::invalid_argument("FSDD individuals are speaker=<name>, got '" + individual +
                                      "'");
    }
    for (size_t g = 0; g < pool.group_names.size(); ++g) {
      if (pool.group_names[g] == value) return fsdd_part(pool, c, false, static_cast<int64_t>(g));
    }
    std::string known;
    for (const auto& n : pool.group_names) known += (known.empty() ? "" : ", ") + n;
    return Status::not_found("no speaker '" + value + "' in FSDD (known: " + known + ")");
  }
  // fashion-mnist: classes=a+b[#shard]
  if (key != "classes" || value.empty()) {
    return Status::invalid_argument("Fashion-MNIST individuals are classes=<a>+<b>[#i], got '" +
                                    individual + "'");
  }
  int64_t shard = 0;
  if (auto hash = value.find('#'); hash != std::string::npos) {
    try {
      shard = std::stoll(value.substr(hash + 1));
    } catch (const std::exception&) {
      return Status::invalid_argument("bad shard in '" + individual + "'");
    }
    value = value.substr(0, hash);
  }
  std::set<int64_t> classes;
  std::stringstream in(value);
  for (std::string part; std::getline(in, part, '+');) {
    try {
      size_t used = 0;
      int64_t k = std::stoll(part, &used);
      if (used != part.size() || k < 0 || k >= pool.num_classes()) throw std::out_of_range(part);
      classes.insert(k);
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

Result<Dataset> load_general_data(const LocalDataConfig& c, int64_t limit) {
  FP_ASSIGN_OR_RETURN(Dataset pool, load_pool(c, true));
  if (c.dataset == "fsdd") pool = pool.select(fsdd_part(pool, c, true));
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

Result<IndividualData> load_individual(const LocalDataConfig& c, const std::string& individual) {
  if (!(c.eval_fraction > 0 && c.eval_fraction < 1)) {
    return Status::invalid_argument("eval_fraction must be in (0, 1)");
  }
  FP_ASSIGN_OR_RETURN(Dataset pool, load_pool(c, false));
  FP_ASSIGN_OR_RETURN(auto idx, individual_indices(pool, c, individual));
  shuffle(idx, c.split_seed ^ 0x9e3779b97f4a7c15ULL);
  if (c.dataset == "fsdd" && c.samples > 0 && c.samples < static_cast<int64_t>(idx.size())) {
    idx.resize(c.samples);
  }
  if (idx.size() < 2) {
    return Status::invalid_argument("individual '" + individual + "' has fewer than 2 samples");
  }
  size_t n_eval = std::max<size_t>(1, static_cast<size_t>(c.eval_fraction * idx.size() + 0.5));
  n_eval = std::min(n_eval, idx.size() - 1);
  std::vector<int64_t> eval(idx.begin(), idx.begin() + n_eval);
  std::vector<int64_t> adapt(idx.begin() + n_eval, idx.end());
  return IndividualData{pool.select(adapt), pool.select(eval)};
}

}  // namespace fp::agent
