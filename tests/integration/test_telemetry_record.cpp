// The coordinator's telemetry row: the report's per-layer sparsity and curve become JSON
// arrays that any JSON reader reads back exactly, whatever the layer names hold.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/telemetry_record.h"

using fp::coord::to_record;
using fp::proto::TelemetryReport;

TEST_CASE("a report's layers and curve become JSON that reads back exactly", "[telemetry]") {
  TelemetryReport m;
  m.idempotency_key = "k-1";
  m.task_id = 7;
  m.method = "fine_prune";
  m.individual = "classes=0+9#1";
  m.evaluated = true;
  m.accuracy_before = 0.5;
  m.accuracy_after = 0.875;
  m.layers = {{"conv1", 16, 8, 432, 216},
              {std::string("q\"uote\\back\nline\x01") + "\xc3\xa9", 10, 2, 100, 80}};
  m.curve = {{0.1, 0.125, 0.9, 123456789012ull}, {0.7, 0.6999999999999999, 1.0 / 3.0, 0}};

  auto r = to_record(m, "dev-1", 3, 1.5);
  CHECK(r.task_id == 7);
  CHECK(r.campaign_id == 3);
  CHECK(r.agent_id == "dev-1");
  REQUIRE(r.accuracy_after.has_value());
  CHECK(*r.accuracy_after == 0.875);

  auto layers = nlohmann::json::parse(r.layer_sparsity_json);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0]["name"] == "conv1");
  CHECK(layers[0]["units"] == 16);
  CHECK(layers[0]["active_units"] == 8);
  CHECK(layers[0]["weights"] == 432);
  CHECK(layers[0]["zeroed_weights"] == 216);
  CHECK(layers[1]["name"] == m.layers[1].name);  // quotes, backslash, controls, UTF-8 intact
  CHECK(layers[1]["zeroed_weights"] == 80);

  auto curve = nlohmann::json::parse(r.curve_json);
  REQUIRE(curve.size() == 2);
  CHECK(curve[0]["target"].get<double>() == 0.1);
  CHECK(curve[0]["macs"].get<uint64_t>() == 123456789012ull);
  // Doubles are written in their shortest exact form: they read back bit for bit.
  CHECK(curve[1]["sparsity"].get<double>() == 0.6999999999999999);
  CHECK(curve[1]["accuracy"].get<double>() == 1.0 / 3.0);

  m.layers.clear();
  m.curve.clear();
  auto empty = to_record(m, "dev-1", 3, 1.5);
  CHECK(empty.layer_sparsity_json == "[]");
  CHECK(empty.curve_json == "[]");
}
