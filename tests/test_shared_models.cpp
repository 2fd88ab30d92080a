// A simulation host's general models, parsed once for all its agents' tasks
// (simulation/shared_models.h): shared only where the download vouched for the bytes.
#include <thread>
#include <vector>

#include "models/model_factory.h"
#include "simulation/shared_models.h"
#include "test_spec.h"
#include "util/sha256.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

struct Artifact {
  ModelSpec spec;
  std::shared_ptr<const std::string> bytes;
  std::string sha;
};

Artifact artifact_of(double width) {
  const ModelSpec spec = fp::testing::test_spec("cnn", 1, 28, 28, 10, width);
  auto model = build_model(spec);
  REQUIRE(model.ok());
  auto bytes = std::make_shared<const std::string>(serialize_model(**model));
  return {spec, bytes, sha256_hex(*bytes)};
}

proto::TaskAssignment task_for(const ModelSpec& spec) {
  proto::TaskAssignment t;
  t.model_spec_json = spec.to_json();
  return t;
}

agent::ModelSource verified(const Artifact& a) {
  return agent::ModelSource("model " + a.sha.substr(0, 12) + " (in memory)", a.bytes, a.sha);
}

}  // namespace

TEST_CASE("a host parses a verified general model once for all its agents' tasks", "[sim]") {
  const Artifact a = artifact_of(0.25);
  sim::SharedModels models;
  auto first = models.get(task_for(a.spec), verified(a));
  REQUIRE(first.ok());
  CHECK(first->info.sha256.size() == 64);
  CHECK(first->model->spec() == a.spec);
  // Eight tasks on four threads at once: the same parsed model, never parsed again.
  std::vector<std::thread> threads;
  std::vector<const PrunableNet*> seen(8, nullptr);
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] {
      auto got = models.get(task_for(a.spec), verified(a));
      if (got.ok()) seen[i] = got->model.get();
    });
  }
  for (auto& t : threads) t.join();
  for (const PrunableNet* p : seen) CHECK(p == first->model.get());
  CHECK(models.parses() == 1);

  // Each task's spec is still checked against the shared model.
  ModelSpec other = a.spec;
  other.width_mult = 0.5;
  auto refused = models.get(task_for(other), verified(a));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(refused.status().message(), Catch::Contains("spec"));

  // Bytes nobody verified are parsed for their task alone, every time.
  const agent::ModelSource unverified("model (in memory)", a.bytes);
  auto own = models.get(task_for(a.spec), unverified);
  REQUIRE(own.ok());
  CHECK(own->model.get() != first->model.get());
  REQUIRE(models.get(task_for(a.spec), unverified).ok());
  CHECK(models.parses() == 3);
}

TEST_CASE("a host keeps the general models it used last, up to its capacity", "[sim]") {
  const Artifact a = artifact_of(0.25), b = artifact_of(0.5);
  sim::SharedModels models(1);
  for (int round = 0; round < 2; ++round) {
    REQUIRE(models.get(task_for(a.spec), verified(a)).ok());
    REQUIRE(models.get(task_for(a.spec), verified(a)).ok());
    REQUIRE(models.get(task_for(b.spec), verified(b)).ok());
  }
  CHECK(models.parses() == 4);  // a, b, a again (b pushed it out), b again
  sim::SharedModels two(2);
  for (int round = 0; round < 3; ++round) {
    REQUIRE(two.get(task_for(a.spec), verified(a)).ok());
    REQUIRE(two.get(task_for(b.spec), verified(b)).ok());
  }
  CHECK(two.parses() == 2);
  sim::SharedModels none(0);
  REQUIRE(none.get(task_for(a.spec), verified(a)).ok());
  REQUIRE(none.get(task_for(a.spec), verified(a)).ok());
  CHECK(none.parses() == 2);
}
