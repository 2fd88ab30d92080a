// A host's compute meters as its stats file carries them to `fp-sim run`
// (simulation/compute_totals.h): what a host writes reads back the same, sums add up, and a
// file from a host that wrote fewer figures reads the missing ones as zero.
#include <array>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "simulation/compute_totals.h"
#include "simulation/sim_runner.h"

namespace {

// Every figure, in one order, to compare totals whole.
std::array<double, 7> figures(const fp::sim::ComputeTotals& t) {
  return {static_cast<double>(t.tasks),
          static_cast<double>(t.failures),
          t.compute_wall,
          t.compute_cpu,
          t.job_cpu,
          t.load_wall,
          t.wait_wall};
}

}  // namespace

TEST_CASE("a host's compute meters survive its stats file and add up", "[compute_totals]") {
  fp::sim::ComputeMeter m;
  m.tasks = 7;
  m.failures = 2;
  m.compute_wall_us = 1'500'000;
  m.compute_cpu_us = 1'250'000;
  m.job_cpu_us = 1'400'000;
  m.load_wall_us = 30'000;
  m.wait_wall_us = 4'000'000;
  const auto t = fp::sim::ComputeTotals::of(m);
  CHECK(t.tasks == 7);
  CHECK(t.failures == 2);
  CHECK(t.compute_wall == Approx(1.5));
  CHECK(t.compute_cpu == Approx(1.25));
  CHECK(t.job_cpu == Approx(1.4));
  CHECK(t.load_wall == Approx(0.03));
  CHECK(t.wait_wall == Approx(4.0));

  nlohmann::json stats = {{"host_index", 3}};
  t.write_to(stats);
  CHECK(stats["host_index"] == 3);  // the other figures are left as they were
  CHECK(stats["compute_cpu_seconds"].get<double>() == Approx(1.25));
  CHECK(stats["wait_seconds"].get<double>() == Approx(4.0));
  // Through text, as a child host's file goes.
  const auto back = fp::sim::ComputeTotals::read_from(nlohmann::json::parse(stats.dump()));
  CHECK(figures(back) == figures(t));

  auto sum = back;
  sum += t;
  const auto once = figures(t), twice = figures(sum);
  for (size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == Approx(2 * once[i]));
}

TEST_CASE("a stats file without some figures reads them as zero; a wrong type is refused",
          "[compute_totals]") {
  const auto t =
      fp::sim::ComputeTotals::read_from(nlohmann::json{{"tasks", 5}, {"compute_seconds", 2.5}});
  CHECK(figures(t) == std::array<double, 7>{5, 0, 2.5, 0, 0, 0, 0});
  CHECK_THROWS_AS(fp::sim::ComputeTotals::read_from(nlohmann::json{{"tasks", "many"}}),
                  nlohmann::json::type_error);
}
