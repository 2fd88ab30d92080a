#include "simulation/compute_totals.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "simulation/sim_runner.h"

namespace fp::sim {
namespace {

// Each figure once, with its key in the host stats file.
constexpr std::pair<const char*, int64_t ComputeTotals::*> kCounts[] = {
    {"tasks", &ComputeTotals::tasks}, {"failures", &ComputeTotals::failures}};
constexpr std::pair<const char*, double ComputeTotals::*> kSeconds[] = {
    {"compute_seconds", &ComputeTotals::compute_wall},
    {"compute_cpu_seconds", &ComputeTotals::compute_cpu},
    {"job_cpu_seconds", &ComputeTotals::job_cpu},
    {"load_seconds", &ComputeTotals::load_wall},
    {"wait_seconds", &ComputeTotals::wait_wall}};

double seconds(const std::atomic<int64_t>& us) { return 1e-6 * static_cast<double>(us.load()); }

}  // namespace

ComputeTotals ComputeTotals::of(const ComputeMeter& m) {
  ComputeTotals t;
  t.tasks = m.tasks.load();
  t.failures = m.failures.load();
  t.compute_wall = seconds(m.compute_wall_us);
  t.compute_cpu = seconds(m.compute_cpu_us);
  t.job_cpu = seconds(m.job_cpu_us);
  t.load_wall = seconds(m.load_wall_us);
  t.wait_wall = seconds(m.wait_wall_us);
  return t;
}

ComputeTotals& ComputeTotals::operator+=(const ComputeTotals& o) {
  for (const auto& [key, field] : kCounts) this->*field += o.*field;
  for (const auto& [key, field] : kSeconds) this->*field += o.*field;
  return *this;
}

void ComputeTotals::write_to(nlohmann::json& j) const {
  for (const auto& [key, field] : kCounts) j[key] = this->*field;
  for (const auto& [key, field] : kSeconds) j[key] = this->*field;
}

ComputeTotals ComputeTotals::read_from(const nlohmann::json& j) {
  ComputeTotals t;
  for (const auto& [key, field] : kCounts) t.*field = j.value(key, int64_t{0});
  for (const auto& [key, field] : kSeconds) t.*field = j.value(key, 0.0);
  return t;
}

}  // namespace fp::sim
