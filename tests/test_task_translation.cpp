// The task -> config and result -> report translation an agent runs between the wire
// and the engine, with a distinct value in every field, so that a swapped or dropped
// field shows.
#include "agent/task_translation.h"
#include "models/model_factory.h"
#include "temp_dir.h"
#include "test_spec.h"
#include "util/text_memo.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

proto::TaskAssignment task_with_every_setting() {
  proto::TaskAssignment t;
  t.task_id = 41;
  t.campaign_id = 42;
  t.model_sha256 = std::string(64, 'a');
  t.model_size = 43;
  t.model_spec_json = ModelSpec{}.to_json();
  t.prune_config_json = R"({"criterion":"firing_rate","granularity":"weight","scope":"per_layer",
    "schedule":"iterative","target_sparsity":0.35,"iterative_steps":3,
    "prune_output_layer":false,"output_usage_threshold":0.07,"protected_layers":["conv1"],
    "min_units_per_layer":2,"batch_size":17,
    "select_sparsity":true,"selector":"neg_entropy","min_agreement":0.91,
    "confident_fraction":0.37,"heldout_fraction":0.23,"candidates":[0.15,0.45],
    "stop_after_ruled_out":3,"stop_after_beaten":4,"rule_out_parts":5,"adaptation_samples":77,"statistics_samples":78})";
  t.dataset = "fsdd";
  t.individual = "speaker=theo";
  t.baselines = {"svd"};
  t.sweep_targets = {0.2, 0.6};
  return t;
}

MethodResult method(const char* name, double accuracy, double sparsity, int64_t parameters,
                    int64_t macs, double wall, int64_t compute) {
  MethodResult m;
  m.method = name;
  m.accuracy = accuracy;
  m.sparsity = sparsity;
  m.parameters = parameters;
  m.macs_per_sample = macs;
  m.wall_seconds = wall;
  m.compute_macs = compute;
  return m;
}

// Every number different from every other, so no two fields can stand in for each other.
PersonalizeResult distinct_result() {
  PersonalizeResult r;
  r.general = method("general", 0.61, 0.0, 1001, 5003, 0.11, 7);
  r.sparsity.layers = {{"conv1", 8, 5, 72, 27}, {"fc_out", 10, 3, 320, 224}};
  r.sparsity.prunable_weights = 392;
  r.sparsity.zeroed_weights = 251;
  r.sparsity.parameters = 500;
  r.fine_prune = method("fine_prune", 0.72, r.sparsity.sparsity(), 141, 611, 1.25, 9001);
  r.finetune = method("finetune", 0.83, 0.0, 1002, 5004, 2.5, 12345);
  r.svd = method("svd", 0.44, 0.19, 139, 4321, 0.75, 0);
  r.selection.chosen = 0.45;
  r.selection.candidates = {0.15, 0.45};
  r.selection.scores = {-0.3, -0.2};
  r.sweep = {{0.2, 0.21, 0.66, 4001, 0.01}, {0.6, 0.62, 0.55, 2002, 0.02}};
  r.adaptation_samples = 123;
  r.evaluation_samples = 45;
  return r;
}

}  // namespace

TEST_CASE("a task assignment becomes exactly the personalization it asks for",
          "[agent][translation]") {
  agent::BaselineSettings baselines;
  baselines.finetune_epochs = 4;
  baselines.finetune_learning_rate = 0.03;
  baselines.finetune_last_layer_only = true;
  auto c = agent::personalize_config_for(task_with_every_setting(), baselines);
  REQUIRE(c.ok());
  CHECK(c->prune.criterion == Criterion::kFiringRate);
  CHECK(c->prune.granularity == Granularity::kWeight);
  CHECK(c->prune.scope == Scope::kPerLayer);
  CHECK(c->prune.schedule == Schedule::kIterative);
  CHECK(c->prune.target_sparsity == 0.35);
  CHECK(c->prune.iterative_steps == 3);
  CHECK(c->prune.prune_output_layer == false);
  CHECK(c->prune.output_usage_threshold == 0.07);
  CHECK(c->prune.protected_layers == std::vector<std::string>{"conv1"});
  CHECK(c->prune.min_units_per_layer == 2);
  CHECK(c->prune.batch_size == 17);
  CHECK(c->select_sparsity == true);
  CHECK(c->selector.score == SelectionScore::kNegEntropy);
  CHECK(c->selector.min_agreement == 0.91);
  CHECK(c->selector.confident_fraction == 0.37);
  CHECK(c->heldout_fraction == 0.23);
  CHECK(c->selector.candidates == std::vector<double>{0.15, 0.45});
  CHECK(c->selector.stop_after_ruled_out == 3);
  CHECK(c->selector.stop_after_beaten == 4);
  CHECK(c->selector.rule_out_parts == 5);
  CHECK(c->max_adaptation_samples == 77);
  CHECK(c->statistics_samples == 78);
  CHECK(c->sweep_targets == std::vector<double>{0.2, 0.6});
  CHECK(c->run_finetune == false);
  CHECK(c->run_svd == true);
  CHECK(c->finetune.train.epochs == 4);
  CHECK(c->finetune.train.learning_rate == 0.03);
  CHECK(c->finetune.last_layer_only == true);

  // The other way round for the booleans: fine-tuning asked for, SVD not, no selection.
  auto t = task_with_every_setting();
  t.baselines = {"finetune"};
  t.prune_config_json = R"({"target_sparsity":0.35,"select_sparsity":false})";
  auto d = agent::personalize_config_for(t, baselines);
  REQUIRE(d.ok());
  CHECK(d->run_finetune == true);
  CHECK(d->run_svd == false);
  CHECK(d->select_sparsity == false);

  // A setting this device does not know would be silently left at its default: refused.
  t.prune_config_json = R"({"statistics_samples":64,"stop_after_surprise":1})";
  auto unknown = agent::personalize_config_for(t, baselines);
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.status().message(),
             Catch::Contains("unknown personalization setting 'stop_after_surprise'"));
  // An integer setting given a fraction is refused, not cut (2.5 was taken as 2).
  for (const char* json : {R"({"statistics_samples":2.5})", R"({"batch_size":16.5})"}) {
    t.prune_config_json = json;
    auto fraction = agent::personalize_config_for(t, baselines);
    REQUIRE_FALSE(fraction.ok());
    CHECK_THAT(fraction.status().message(),
               Catch::Contains("type must be an integer, but is a number with a fraction"));
  }
  t.prune_config_json = R"({"statistics_samples":64.0,"batch_size":16})";
  CHECK_FALSE(agent::personalize_config_for(t, baselines).ok());  // 64.0 is written as a fraction
  t.prune_config_json = R"({"candidates":[0.3,0.1]})";
  CHECK_THAT(agent::personalize_config_for(t, baselines).status().message(),
             Catch::Contains("increasing, without repeats"));
  // The task's privacy settings travel in the same JSON and are read elsewhere.
  t.prune_config_json = R"({"privacy":{"mechanism":"laplace","epsilon":1.0}})";
  CHECK(agent::personalize_config_for(t, baselines).ok());

  t.prune_config_json = R"({"selector":"coin_flip"})";
  auto bad = agent::personalize_config_for(t, baselines);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("coin_flip"));
  t.prune_config_json = R"({"stop_after_ruled_out":-1})";
  bad = agent::personalize_config_for(t, baselines);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("stop_after_ruled_out"));
  t.prune_config_json = R"({"stop_after_beaten":-2})";
  bad = agent::personalize_config_for(t, baselines);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("stop_after_beaten"));
  t.prune_config_json = R"({"rule_out_parts":0})";
  bad = agent::personalize_config_for(t, baselines);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("rule_out_parts"));
}

TEST_CASE("a text memo parses a text once while it is among the last few, errors included",
          "[agent][translation]") {
  int calls = 0;
  auto length_or_error = [&calls](const std::string& text) -> Result<size_t> {
    ++calls;
    if (text == "bad") return Status::invalid_argument("bad text");
    return text.size();
  };
  TextMemo<Result<size_t>> memo(2);
  CHECK(*memo.get("abc", length_or_error) == 3);
  CHECK(*memo.get("abc", length_or_error) == 3);
  CHECK(calls == 1);
  CHECK(memo.get("bad", length_or_error).status().message() == "bad text");
  CHECK(memo.get("bad", length_or_error).status().message() == "bad text");
  CHECK(calls == 2);
  CHECK(memo.size() == 2);
  CHECK(*memo.get("abc", length_or_error) == 3);   // asked for again: now the most recent
  CHECK(*memo.get("abcd", length_or_error) == 4);  // the least recent ("bad") makes room
  CHECK(memo.size() == 2);
  CHECK(*memo.get("abc", length_or_error) == 3);
  CHECK(calls == 3);
  CHECK_FALSE(memo.get("bad", length_or_error).ok());
  CHECK(calls == 4);
}

TEST_CASE("tasks with other settings texts get their own settings, a bad one its error",
          "[agent][translation]") {
  // The settings are kept by their text (util/text_memo.h): a campaign's next text is not
  // given the last one's.
  proto::TaskAssignment a = task_with_every_setting();
  proto::TaskAssignment b = a;
  b.prune_config_json = R"({"target_sparsity":0.55})";
  proto::TaskAssignment bad = a;
  bad.prune_config_json = R"({"target_sparsity":"high"})";
  proto::TaskAssignment same_text = a;  // the task's own fields differ: not kept with the text
  same_text.sweep_targets = {0.9};
  same_text.baselines = {"finetune"};
  for (int round = 0; round < 2; ++round) {
    auto ca = agent::personalize_config_for(a, {});
    auto cb = agent::personalize_config_for(b, {});
    auto cbad = agent::personalize_config_for(bad, {});
    REQUIRE(ca.ok());
    REQUIRE(cb.ok());
    CHECK(ca->prune.target_sparsity == 0.35);
    CHECK(ca->prune.batch_size == 17);
    CHECK(cb->prune.target_sparsity == 0.55);
    CHECK(cb->prune.batch_size == PersonalizeConfig{}.prune.batch_size);
    auto csame = agent::personalize_config_for(same_text, {});
    REQUIRE(csame.ok());
    CHECK(csame->prune.target_sparsity == 0.35);
    CHECK(csame->sweep_targets == std::vector<double>{0.9});
    CHECK(csame->run_finetune);
    CHECK_FALSE(csame->run_svd);
    CHECK(ca->sweep_targets == a.sweep_targets);
    CHECK(ca->run_svd);
    CHECK_FALSE(ca->run_finetune);
    REQUIRE_FALSE(cbad.ok());
    CHECK_THAT(cbad.status().message(),
               Catch::Contains("task prune config") && Catch::Contains("target_sparsity"));
  }
}

TEST_CASE("a personalization result becomes reports that copy every field to its place",
          "[agent][translation]") {
  auto task = task_with_every_setting();
  task.baselines = {"finetune", "svd"};
  auto config = agent::personalize_config_for(task, {});
  REQUIRE(config.ok());
  const auto r = distinct_result();
  auto reports = agent::telemetry_reports(task, *config, r, 987654);
  REQUIRE(reports.size() == 3);

  const auto& fp = reports[0];
  CHECK(fp.method == "fine_prune");
  CHECK(fp.individual == "speaker=theo");
  CHECK(fp.evaluated);
  CHECK(fp.target_sparsity == 0.45);  // the selector's choice, not the config's 0.35
  CHECK(fp.sparsity == 251.0 / 392.0);
  CHECK(fp.overall_sparsity == 251.0 / 500.0);
  CHECK(fp.accuracy_before == 0.61);
  CHECK(fp.accuracy_after == 0.72);
  CHECK(fp.adaptation_samples == 123);
  CHECK(fp.eval_samples == 45);
  CHECK(fp.wall_seconds == 1.25);
  CHECK(fp.macs_dense == 5003);
  CHECK(fp.macs_effective == 611);
  CHECK(fp.peak_memory_bytes == 987654);
  CHECK(fp.compute_macs == 9001);
  REQUIRE(fp.layers.size() == 2);
  CHECK(fp.layers[0].name == "conv1");
  CHECK(fp.layers[0].units == 8);
  CHECK(fp.layers[0].active_units == 5);
  CHECK(fp.layers[0].weights == 72);
  CHECK(fp.layers[0].zeroed_weights == 27);
  CHECK(fp.layers[1].name == "fc_out");
  CHECK(fp.layers[1].units == 10);
  CHECK(fp.layers[1].active_units == 3);
  CHECK(fp.layers[1].weights == 320);
  CHECK(fp.layers[1].zeroed_weights == 224);
  REQUIRE(fp.curve.size() == 2);
  CHECK(fp.curve[0].target == 0.2);
  CHECK(fp.curve[0].sparsity == 0.21);
  CHECK(fp.curve[0].accuracy == 0.66);
  CHECK(fp.curve[0].macs == 4001);
  CHECK(fp.curve[1].target == 0.6);
  CHECK(fp.curve[1].sparsity == 0.62);
  CHECK(fp.curve[1].accuracy == 0.55);
  CHECK(fp.curve[1].macs == 2002);

  const auto& ft = reports[1];
  CHECK(ft.method == "finetune");
  CHECK(ft.individual == "speaker=theo");
  CHECK(ft.accuracy_before == 0.61);
  CHECK(ft.accuracy_after == 0.83);
  CHECK(ft.sparsity == 0.0);
  CHECK(ft.wall_seconds == 2.5);
  CHECK(ft.macs_dense == 5003);
  CHECK(ft.macs_effective == 5003);  // more than the dense cost is clamped to it
  CHECK(ft.compute_macs == 12345);
  CHECK(ft.adaptation_samples == 123);
  CHECK(ft.eval_samples == 45);
  CHECK(ft.peak_memory_bytes == 987654);
  CHECK(ft.layers.empty());
  CHECK(ft.curve.empty());

  const auto& svd = reports[2];
  CHECK(svd.method == "svd");
  CHECK(svd.accuracy_after == 0.44);
  CHECK(svd.sparsity == 0.19);
  CHECK(svd.target_sparsity == fp.sparsity);  // matched to the Fine-Pruned parameter count
  CHECK(svd.wall_seconds == 0.75);
  CHECK(svd.macs_effective == 4321);
  CHECK(svd.compute_macs == 0);

  // Without the selector, the target is the configured one.
  auto fixed = *config;
  fixed.select_sparsity = false;
  CHECK(agent::telemetry_reports(task, fixed, r, 1)[0].target_sparsity == 0.35);
}

TEST_CASE("an agent loads the task's model only if its spec is the task's", "[agent]") {
  fp::testing::TempDir dir("taskmodel");
  const ModelSpec spec = fp::testing::test_spec("cnn", 1, 28, 28, 10, 0.25);
  auto model = build_model(spec);
  REQUIRE(model.ok());
  const std::string path = dir.file("general.fpm");
  REQUIRE(save_model(**model, path).ok());

  proto::TaskAssignment task;
  task.model_spec_json = spec.to_json();
  ArtifactInfo info;
  auto loaded = agent::load_task_model(task, path, &info);
  REQUIRE(loaded.ok());
  CHECK((*loaded)->spec() == spec);
  CHECK(info.sha256.size() == 64);

  ModelSpec other = spec;
  other.width_mult = 0.5;
  task.model_spec_json = other.to_json();
  auto refused = agent::load_task_model(task, path, nullptr);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(refused.status().message(), Catch::Contains(path) && Catch::Contains("spec"));

  task.model_spec_json = "{not json";
  CHECK_FALSE(agent::load_task_model(task, path, nullptr).ok());
  CHECK_FALSE(agent::load_task_model(task, dir.file("missing.fpm"), nullptr).ok());

  // The same from bytes in memory (a simulated device's download): loaded, refused for
  // another spec, and damaged bytes refused naming the model.
  task.model_spec_json = spec.to_json();
  auto bytes = std::make_shared<const std::string>(serialize_model(**model));
  const agent::ModelSource in_memory("model abc (in memory)", bytes);
  ArtifactInfo from_memory;
  auto held = agent::load_task_model(task, in_memory, &from_memory);
  REQUIRE(held.ok());
  CHECK((*held)->spec() == spec);
  CHECK(from_memory.sha256 == info.sha256);
  task.model_spec_json = other.to_json();
  CHECK(agent::load_task_model(task, in_memory, nullptr).status().code() ==
        Status::Code::kInvalidArgument);
  task.model_spec_json = spec.to_json();
  std::string damaged = *bytes;
  damaged[damaged.size() / 2] ^= 0x10;
  auto refused_bytes = agent::load_task_model(
      task,
      agent::ModelSource("model abc (in memory)",
                         std::make_shared<const std::string>(std::move(damaged))),
      nullptr);
  REQUIRE_FALSE(refused_bytes.ok());
  CHECK(refused_bytes.status().code() == Status::Code::kCorruption);
  CHECK_THAT(refused_bytes.status().message(),
             Catch::Contains("model abc (in memory)") && Catch::Contains("SHA-256"));
}
