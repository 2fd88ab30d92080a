#include "bench_store.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "bench_util.h"
#include "store/store_to_read.h"

namespace fp::bench {

namespace fs = std::filesystem;

namespace {

constexpr const char* kScratchMark = ".fp-bench-scratch";
constexpr const char* kBenchDataset = "toy";  // every benchmark campaign's, and none other's

// Throws unless `db` is absent or a database whose campaigns are all the benchmarks' own.
void check_bench_database(const std::string& db) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(db, ec))) return;
  if (!fs::is_regular_file(db, ec))
    throw std::runtime_error("--db " + db +
                             " is not a file: give a new path for the "
                             "benchmark's database (it is replaced at each run)");
  auto read = store::open_to_read(db, "fp-bench-db");
  auto campaigns = read.ok() ? read->store->campaigns()
                             : Result<std::vector<store::CampaignRecord>>(read.status());
  const bool ours = campaigns.ok() && std::all_of(campaigns->begin(), campaigns->end(),
                                                  [](const store::CampaignRecord& c) {
                                                    return c.dataset == kBenchDataset;
                                                  });
  if (!ours)
    throw std::runtime_error("--db " + db + " is no benchmark's database (" +
                             (campaigns.ok() ? std::string("it holds campaigns of real data sets")
                                             : campaigns.status().message()) +
                             "): it would be replaced; give a new path, nothing was deleted");
}

// Throws unless `dir` is absent or holds model files (<sha256>.fpm) alone.
void check_bench_models_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return;
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error(dir +
                             " (the benchmark's models) is not a folder: nothing was deleted");
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (!e.is_regular_file(ec) || e.path().extension() != ".fpm")
      throw std::runtime_error(dir + " (the benchmark's models) holds " +
                               e.path().filename().string() +
                               ", no model file: nothing was deleted");
}

}  // namespace

void claim_scratch_folder(const std::string& dir, const std::string& option) {
  std::error_code ec;
  const fs::path mark = fs::path(dir) / kScratchMark;
  if (fs::exists(fs::symlink_status(dir, ec))) {
    if (!fs::is_directory(dir, ec))
      throw std::runtime_error(option + " " + dir +
                               " is a file, not a folder: nothing was deleted");
    if (!fs::is_empty(dir, ec) && !fs::exists(mark, ec))
      throw std::runtime_error(option + " " + dir +
                               " holds files of its own (no fp-bench scratch folder): it would "
                               "be deleted; give a new or empty folder, nothing was deleted");
    fs::remove_all(dir, ec);
  }
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(option + " " + dir + " cannot be made: " + ec.message());
  std::ofstream(mark) << "made by fp-bench: deleted and made again at each run\n";
}

BenchCampaign fresh_campaign(const std::string& db, const std::string& models_dir,
                             const std::string& name, const std::string& model_bytes,
                             int64_t tasks) {
  check_bench_database(db);
  check_bench_models_folder(models_dir);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
  std::filesystem::remove_all(models_dir);
  BenchCampaign b;
  auto store = store::Store::open(db);
  require_ok(store.status(), "the benchmark's database " + db);
  b.store = std::move(*store);
  b.registry = std::make_unique<coord::ModelRegistry>(models_dir, *b.store);
  auto model = b.registry->add(model_bytes, "{}", "{}", 0);
  require_ok(model.status(), "the benchmark's model");
  b.model_sha256 = model->sha256;
  store::CampaignRecord c;
  c.name = name;
  c.model_sha256 = b.model_sha256;
  c.dataset = kBenchDataset;
  c.prune_config_json = "{}";
  c.open_enrollment = tasks == 0;
  auto campaign = b.store->create_campaign(c);
  require_ok(campaign.status(), "the benchmark's campaign");
  b.campaign_id = *campaign;
  for (int64_t i = 0; i < tasks; ++i)
    require_ok(b.store->add_task(b.campaign_id, "ind" + std::to_string(i)).status(),
               "the benchmark's tasks");
  return b;
}

}  // namespace fp::bench
