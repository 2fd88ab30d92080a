// A host's compute meters as its stats file carries them to `fp-sim run`
// (simulation/compute_totals.h): what a host writes reads back the same, sums add up, and a
// file from a host that wrote fewer figures reads the missing ones as zero.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "simulation/compute_totals.h"
#include "simulation/sim_runner.h"

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
  CHECK(back.tasks == t.tasks);
  CHECK(back.failures == t.failures);
  CHECK(back.compute_wall == t.compute_wall);
  CHECK(back.compute_cpu == t.compute_cpu);
  CHECK(back.job_cpu == t.job_cpu);
  CHECK(back.load_wall == t.load_wall);
  CHECK(back.wait_wall == t.wait_wall);

  auto sum = back;
  sum += t;
  CHECK(sum.tasks == 14);
  CHECK(sum.failures == 4);
  CHECK(sum.compute_wall == Approx(3.0));
  CHECK(sum.compute_cpu == Approx(2.5));
  CHECK(sum.job_cpu == Approx(2.8));
  CHECK(sum.load_wall == Approx(0.06));
  CHECK(sum.wait_wall == Approx(8.0));
}

TEST_CASE("a stats file without some figures reads them as zero; a wrong type is refused",
          "[compute_totals]") {
  const auto t =
      fp::sim::ComputeTotals::read_from(nlohmann::json{{"tasks", 5}, {"compute_seconds", 2.5}});
  CHECK(t.tasks == 5);
  CHECK(t.compute_wall == Approx(2.5));
  CHECK(t.failures == 0);
  CHECK(t.compute_cpu == 0);
  CHECK(t.job_cpu == 0);
  CHECK(t.load_wall == 0);
  CHECK(t.wait_wall == 0);
  CHECK_THROWS_AS(fp::sim::ComputeTotals::read_from(nlohmann::json{{"tasks", "many"}}),
                  nlohmann::json::type_error);
}
