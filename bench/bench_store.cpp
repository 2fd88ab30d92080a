#include "bench_store.h"

#include <filesystem>
#include <stdexcept>

#include "bench_util.h"

namespace fp::bench {

BenchCampaign fresh_campaign(const std::string& db, const std::string& models_dir,
                             const std::string& name, const std::string& model_bytes,
                             int64_t tasks) {
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
  c.dataset = "toy";
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
