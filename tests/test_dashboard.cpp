// The dashboard over a campaign stored through the store API: the JSON API's numbers
// against the stored ones, its errors (404, 400, 405), the embedded pages, the HTTP
// server's life cycle, the campaign report (CSV, JSON, SVG figures) and progress/ETA.
#include <fmt/format.h>
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "count_of.h"
#include "dashboard/api.h"
#include "dashboard/dashboard.h"
#include "dashboard/http_server.h"
#include "dashboard/metrics.h"
#include "dashboard/routes.h"
#include "dashboard/web_assets.h"
#include "dashboard_fixture.h"
#include "file_size_limit.h"
#include "http_client.h"
#include "older_database.h"
#include "report/campaign_report.h"
#include "report/campaign_results.h"
#include "report/method_summary.h"
#include "report/results_json.h"
#include "report/svg_figures.h"

using namespace fp;
using namespace fp::testing;
using nlohmann::json;

namespace {

std::unique_ptr<store::Store> open_store(const std::string& path) {
  auto s = store::Store::open(path);
  REQUIRE(s.ok());
  return std::move(s).value();
}

std::unique_ptr<dash::Dashboard> start_dashboard(const std::string& db) {
  auto d = dash::Dashboard::start({db, "127.0.0.1", 0});
  REQUIRE(d.ok());
  REQUIRE((*d)->port() != 0);
  return std::move(d).value();
}

json get_json(uint16_t port, const std::string& target, int expect_status = 200) {
  HttpResult r = http_get(port, target);
  INFO(target << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == expect_status);
  REQUIRE(r.headers["content-type"] == "application/json");
  return json::parse(r.body);
}

// A dashboard over the seeded finished campaign (seed_finished_campaign).
struct FinishedCampaignDashboard {
  TempDir dir{"dash"};
  std::unique_ptr<store::Store> store = open_store(dir.file("fp.db"));
  int64_t id = seed_finished_campaign(*store);
  std::unique_ptr<dash::Dashboard> dashboard = start_dashboard(dir.file("fp.db"));
};

// A dashboard over a stored campaign of `n` individuals (seed_large_campaign).
struct LargeCampaignDashboard {
  TempDir dir{"dash"};
  std::unique_ptr<store::Store> store = open_store(dir.file("fp.db"));
  int64_t id;
  std::unique_ptr<dash::Dashboard> dashboard;
  std::string base;  // "/api/campaigns/<id>"

  explicit LargeCampaignDashboard(int n)
      : id(seed_large_campaign(*store, n)),
        dashboard(start_dashboard(dir.file("fp.db"))),
        base("/api/campaigns/" + std::to_string(id)) {}
  json get(const std::string& target, int expect_status = 200) const {
    return get_json(dashboard->port(), target, expect_status);
  }
};

}  // namespace

TEST_CASE_METHOD(FinishedCampaignDashboard,
                 "API campaign detail shows the stored accuracies and sparsities", "[dashboard]") {
  json c = get_json(dashboard->port(), "/api/campaigns/" + std::to_string(id));
  CHECK(c["id"] == id);
  CHECK(c["name"] == "fashion-mini");
  CHECK(c["status"] == "done");
  CHECK(c["progress"] == 1.0);
  CHECK(c["eta_seconds"] == 0.0);
  CHECK(c["tasks"]["done"] == 3);
  CHECK(c["tasks"]["total"] == 3);
  CHECK(c["baselines"] == json({"finetune", "svd"}));
  CHECK(c["sweep_targets"] == json({0.2, 0.5, 0.8}));
  CHECK(c["prune_config"]["criterion"] == "energy");
  const auto& expected = seeded_individuals();
  REQUIRE(c["individuals"].size() == expected.size());
  double sums[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& row = c["individuals"][i];
    const auto& e = expected[i];
    INFO(e.individual);
    CHECK(row["individual"] == e.individual);
    CHECK(row["agent_id"] == e.agent);
    CHECK(row["task_status"] == "done");
    CHECK(row["general"].get<double>() == e.general);
    CHECK(row["fine_prune"].get<double>() == e.fine_prune);
    CHECK(row["finetune"].get<double>() == e.finetune);
    CHECK(row["svd"].get<double>() == e.svd);
    CHECK(row["sparsity"].get<double>() == e.sparsity);
    CHECK(row["methods"]["svd"]["sparsity"].get<double>() == e.svd_sparsity);
    CHECK(row["methods"]["fine_prune"]["macs"] == static_cast<int64_t>(1117056 * (1 - e.sparsity)));
    CHECK(row["macs_dense"] == 1117056);
    CHECK(row["eval_samples"] == 300);
    sums[0] += e.general;
    sums[1] += e.fine_prune;
    sums[2] += e.finetune;
    sums[3] += e.svd;
  }
  CHECK(c["mean"]["general"].get<double>() == Approx(sums[0] / 3));
  CHECK(c["mean"]["fine_prune"].get<double>() == Approx(sums[1] / 3));
  CHECK(c["mean"]["finetune"].get<double>() == Approx(sums[2] / 3));
  CHECK(c["mean"]["svd"].get<double>() == Approx(sums[3] / 3));
}

TEST_CASE("Bootstrap interval of a mean: empty, one value, constant, and its width",
          "[dashboard]") {
  using report::bootstrap_mean_ci;
  auto none = bootstrap_mean_ci({});
  CHECK(none.n == 0);
  CHECK_FALSE(none.mean);
  CHECK_FALSE(none.ci_low);
  auto one = bootstrap_mean_ci({0.7});
  CHECK(one.n == 1);
  CHECK(*one.mean == 0.7);
  CHECK(*one.ci_low == 0.7);
  CHECK(*one.ci_high == 0.7);
  // An infinite value (a tampered database) leaves no end of the interval finite.
  auto infinite = bootstrap_mean_ci({0.5, 0.6, std::numeric_limits<double>::infinity(), 0.7});
  CHECK(std::isinf(*infinite.mean));
  CHECK(std::isinf(*infinite.ci_low));
  CHECK(std::isinf(*infinite.ci_high));
  auto constant = bootstrap_mean_ci(std::vector<double>(50, 0.25));
  CHECK(*constant.ci_low == Approx(0.25));
  CHECK(*constant.ci_high == Approx(0.25));

  // 400 values spread evenly over [0, 1): the mean's 95% interval is close to the
  // normal one, mean +- 1.96 sd / sqrt(n), and the same seed gives the same interval.
  std::vector<double> v;
  for (int i = 0; i < 400; ++i) v.push_back((i * 37 % 400) / 400.0);
  double mean = 0, var = 0;
  for (double x : v) mean += x / v.size();
  for (double x : v) var += (x - mean) * (x - mean) / v.size();
  double half = 1.96 * std::sqrt(var / v.size());
  auto ci = bootstrap_mean_ci(v);
  CHECK(ci.n == 400);
  CHECK(*ci.mean == Approx(mean));
  CHECK(*ci.ci_low < mean);
  CHECK(*ci.ci_high > mean);
  CHECK((*ci.ci_high - *ci.ci_low) / 2 == Approx(half).epsilon(0.15));
  CHECK((mean - *ci.ci_low) == Approx(*ci.ci_high - mean).epsilon(0.25));
  auto again = bootstrap_mean_ci(v);
  CHECK(*again.ci_low == *ci.ci_low);
  CHECK(*again.ci_high == *ci.ci_high);
  report::BootstrapOptions other;
  other.seed = 7;
  auto reseeded = bootstrap_mean_ci(v, other);
  CHECK(*reseeded.ci_low != *ci.ci_low);
  CHECK(*reseeded.ci_low == Approx(*ci.ci_low).margin(0.01));
  // A wider confidence gives a wider interval.
  report::BootstrapOptions wide;
  wide.confidence = 0.99;
  auto ci99 = bootstrap_mean_ci(v, wide);
  CHECK(*ci99.ci_low < *ci.ci_low);
  CHECK(*ci99.ci_high > *ci.ci_high);
}

TEST_CASE("API campaign detail at 1000 individuals: gains and each method mean and CI",
          "[dashboard]") {
  LargeCampaignDashboard d(1000);
  json c = d.get(d.base + "?limit=1000");

  const auto expected = large_individuals(1000);
  REQUIRE(c["individuals"].size() == 1000);
  CHECK(c["page"] == json({{"offset", 0}, {"limit", 1000}, {"matched", 1000}, {"total", 1000}}));
  std::map<std::string, std::vector<double>> values;
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& row = c["individuals"][i];
    const auto& e = expected[i];
    INFO(e.individual);
    REQUIRE(row["individual"] == e.individual);
    CHECK(row["task_status"] == e.status);
    if (auto g = e.gain()) {
      CHECK(row["gain"].get<double>() == *g);
      values["gain"].push_back(*g);
    } else {
      CHECK(row["gain"].is_null());
    }
    for (const auto& [key, v] : {std::pair{"general", e.general},
                                 {"fine_prune", e.fine_prune},
                                 {"finetune", e.finetune},
                                 {"svd", e.svd}}) {
      if (v) values[key].push_back(*v);
    }
  }
  CHECK(c["tasks"]["total"] == 1000);
  CHECK(c["tasks"]["failed"] == 11);                    // k % 97 == 13
  CHECK(c["tasks"]["pending"] == 12);                   // k % 89 == 5
  CHECK(values["gain"].size() == 1000 - 11 - 12 - 20);  // 20 had no labels
  CHECK(values["general"].size() == values["gain"].size());

  const json& summary = c["methods_summary"];
  CHECK(summary["interval"]["confidence"] == 0.95);
  CHECK(summary["interval"]["resamples"] == 2000);
  for (const char* method : {"general", "fine_prune", "finetune", "svd", "gain"}) {
    INFO(method);
    const json& m = summary[method];
    const auto& v = values[method];
    REQUIRE(m["n"] == v.size());
    double mean = 0;
    for (double x : v) mean += x;
    mean /= v.size();
    CHECK(m["mean"].get<double>() == Approx(mean));
    if (std::string(method) != "gain") CHECK(m["mean"] == c["mean"][method]);
    auto ci = report::bootstrap_mean_ci(v);
    CHECK(m["ci_low"].get<double>() == Approx(*ci.ci_low));
    CHECK(m["ci_high"].get<double>() == Approx(*ci.ci_high));
    CHECK(m["ci_low"].get<double>() < mean);
    CHECK(m["ci_high"].get<double>() > mean);
    CHECK(m["ci_high"].get<double>() - m["ci_low"].get<double>() < 0.05);
  }
  // Seeded: the next poll shows the same interval, on any page of the rows.
  json again = d.get(d.base + "?offset=500");
  CHECK(again["methods_summary"] == summary);
}

TEST_CASE("API pages a campaign's individuals on the server: offset, limit, search, status, sort",
          "[dashboard]") {
  LargeCampaignDashboard d(1000);
  const std::string& base = d.base;
  const auto all = large_individuals(1000);
  auto names = [](const json& body) {
    std::vector<std::string> out;
    for (const auto& row : body["individuals"]) out.push_back(row["individual"]);
    return out;
  };
  auto expected_names = [&](auto keep, size_t first, size_t count) {
    std::vector<std::string> out;
    for (const auto& e : all) {
      if (keep(e)) out.push_back(e.individual);
    }
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(std::min(first, out.size())));
    if (out.size() > count) out.resize(count);
    return out;
  };
  auto any = [](const LargeIndividual&) { return true; };

  // No parameters: the first 100 rows, and how many there are.
  json first = d.get(base);
  CHECK(names(first) == expected_names(any, 0, 100));
  CHECK(first["page"] == json({{"offset", 0}, {"limit", 100}, {"matched", 1000}, {"total", 1000}}));
  CHECK(first["methods_summary"]["gain"]["n"] == 957);  // the summary is over all rows

  json slice = d.get(base + "?offset=990&limit=50");
  CHECK(names(slice) == expected_names(any, 990, 50));
  CHECK(slice["individuals"].size() == 10);
  CHECK(d.get(base + "?offset=5000")["individuals"].empty());
  CHECK(d.get(base + "?limit=0")["page"]["matched"] == 1000);

  // Search: name, agent or status, any case, %-escapes and '+' decoded.
  auto agent7 = [](const LargeIndividual& e) { return e.agent == "agent-007"; };
  json by_agent = d.get(base + "?q=AGENT%2D007&limit=1000");
  CHECK(names(by_agent) == expected_names(agent7, 0, 1000));
  CHECK(by_agent["page"]["matched"] == expected_names(agent7, 0, 1000).size());
  CHECK(by_agent["page"]["total"] == 1000);
  auto failed = [](const LargeIndividual& e) { return e.status == "failed"; };
  CHECK(names(d.get(base + "?q=fail&limit=1000")) == expected_names(failed, 0, 1000));
  CHECK(d.get(base + "?q=no+such+person")["page"]["matched"] == 0);

  // Status filter; "started" is everything but pending, and -task lists the latest first.
  CHECK(names(d.get(base + "?status=failed&limit=1000")) == expected_names(failed, 0, 1000));
  auto started = [](const LargeIndividual& e) { return e.status != "pending"; };
  json latest = d.get(base + "?status=started&sort=-task&limit=30");
  auto expected_latest = expected_names(started, 0, 1000);
  CHECK(latest["page"]["matched"] == expected_latest.size());
  std::reverse(expected_latest.begin(), expected_latest.end());
  expected_latest.resize(30);
  CHECK(names(latest) == expected_latest);

  // Sorted by gain, largest first; rows without a gain last in task order.
  std::vector<const LargeIndividual*> order;
  for (const auto& e : all) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    if (!a->gain() || !b->gain()) return a->gain().has_value() && !b->gain().has_value();
    return *a->gain() > *b->gain();
  });
  std::vector<std::string> by_gain;
  for (const auto* e : order) by_gain.push_back(e->individual);
  CHECK(names(d.get(base + "?sort=-gain&limit=1000")) == by_gain);

  // Bad parameters are a 400 naming what was wrong.
  for (const auto& [query, says] : std::vector<std::pair<std::string, std::string>>{
           {"?limit=10001", "'limit' must be an integer from 0 to 10000"},
           {"?limit=-1", "'limit' must be an integer"},
           {"?offset=ten", "'offset' must be an integer"},
           {"?sort=name", "'sort' must be one of task, -task, gain, -gain"},
           {"?status=lost", "'status' must be one of"},
           {"?limit=1&limit=2", "'limit' is given twice"},
           {"?q=%zz", "bad %-escape"},
           {"?page=2", "unknown query parameter 'page'"}}) {
    INFO(query);
    std::string error = d.get(base + query, 400)["error"];
    CHECK(error.find(says) != std::string::npos);
  }
}

TEST_CASE("API distribution columns hold every individual with a gain, at the stored values",
          "[dashboard]") {
  LargeCampaignDashboard dash(300);
  json d = dash.get(dash.base + "/distribution");
  size_t k = 0;
  for (const auto& e : large_individuals(300)) {
    if (!e.gain()) continue;
    INFO(e.individual);
    REQUIRE(k < d["individual"].size());
    CHECK(d["individual"][k] == e.individual);
    CHECK(d["general"][k].get<double>() == *e.general);
    CHECK(d["fine_prune"][k].get<double>() == *e.fine_prune);
    CHECK(d["gain"][k].get<double>() == *e.fine_prune - *e.general);
    ++k;
  }
  CHECK(k > 250);
  CHECK(d["individual"].size() == k);
  CHECK(d["gain"].size() == k);
  CHECK(dash.get(dash.base + "/distribution?limit=5", 400)["error"].get<std::string>().find(
            "this endpoint takes none") != std::string::npos);
}

namespace {

// Reports Fine-Pruning for the campaign's `skip`-th pending individual (0: the first) of
// the `n` seeded; returns its name.
std::string report_a_pending_individual(store::Store& store, int64_t campaign, int n, double at,
                                        int skip = 0) {
  const auto all = large_individuals(n);
  auto pending = std::find_if(all.begin(), all.end(),
                              [&](auto& e) { return e.status == "pending" && skip-- == 0; });
  REQUIRE(pending != all.end());
  auto tasks = store.tasks(campaign);
  REQUIRE(tasks.ok());
  int64_t task = 0;
  for (const auto& t : *tasks) {
    if (t.individual == pending->individual) task = t.id;
  }
  REQUIRE(store.assign_task(task, "agent-001", at).ok());
  REQUIRE(store
              .insert_telemetry(
                  {seeded_row(task, campaign, "agent-001", pending->individual,
                              pending->individual + "/fp", "fine_prune", 0.5, 0.9, 0.4, at + 1)})
              .ok());
  return pending->individual;
}

// The interval fields that say when they were computed, removed: the rest must agree.
json without_timing(json summary) {
  summary["interval"].erase("computed_at");
  summary["interval"].erase("current");
  return summary;
}

}  // namespace

TEST_CASE("API reads only new telemetry rows and keeps a finished campaign's intervals",
          "[dashboard]") {
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  int64_t id = seed_large_campaign(*store, 200);
  auto reader = open_store(dir.file("fp.db"));
  dash::Api api(*reader);
  const std::string path = "/api/campaigns/" + std::to_string(id);
  auto rows = store->telemetry_count(id);
  REQUIRE(rows.ok());
  dash::ApiReply first = api.handle(path, "", 1700009999);
  REQUIRE(first.status == 200);
  CHECK(api.bootstraps() == 1);
  CHECK(api.telemetry_rows_read() == *rows);
  CHECK(first.body["methods_summary"]["interval"]["current"] == true);
  dash::ApiReply again = api.handle(path, "offset=50&q=agent", 1700009999);
  CHECK(api.bootstraps() == 1);               // same values: the same intervals, not recomputed
  CHECK(api.telemetry_rows_read() == *rows);  // and no row read twice
  CHECK(again.body["methods_summary"] == first.body["methods_summary"]);

  // A pending individual reports: one more row is read, and the intervals are redone at
  // once (the campaign is finished: no interval is left stale).
  const std::string name = report_a_pending_individual(*store, id, 200, 1700009000);
  dash::ApiReply changed = api.handle(path, "q=" + name, 1700009999);
  CHECK(api.telemetry_rows_read() == *rows + 1);
  CHECK(api.bootstraps() == 2);
  CHECK(changed.body["methods_summary"]["gain"]["n"] ==
        first.body["methods_summary"]["gain"]["n"].get<int>() + 1);
  REQUIRE(changed.body["individuals"].size() == 1);
  CHECK(changed.body["individuals"][0]["fine_prune"] == 0.9);
  // What it shows is what reading the store from scratch says.
  auto results = report::load_campaign_results(*reader, id, 1700009999);
  REQUIRE(results.ok());
  CHECK(without_timing(changed.body["methods_summary"]) ==
        report::methods_summary_json(report::summarize_methods(*results)));
  json fresh_rows = json::array();
  for (const auto& i : results->individuals) fresh_rows.push_back(report::individual_json(i));
  json all_rows = api.handle(path, "limit=1000", 1700009999).body["individuals"];
  CHECK(all_rows == fresh_rows);
}

TEST_CASE("ResultsCache reads the store again when rows it read are gone", "[dashboard]") {
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  int64_t id = seed_large_campaign(*store, 100);
  report::ResultsCache cache;
  auto before = cache.load(*store, id, 1700009999);
  REQUIRE(before.ok());
  const std::string victim = "person-0000";
  REQUIRE(before->individuals[0].individual == victim);
  REQUIRE(before->individuals[0].method("svd") != nullptr);
  // Another writer deletes a row (a repaired or replaced database): the count no longer
  // matches what was read, so the cache starts over instead of showing a lost row.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.file("fp.db").c_str(), &db) == SQLITE_OK);
  const std::string sql =
      "DELETE FROM telemetry WHERE individual = '" + victim + "' AND method = 'svd'";
  CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto after = cache.load(*store, id, 1700009999);
  REQUIRE(after.ok());
  CHECK(after->individuals[0].method("svd") == nullptr);
  CHECK(after->individuals[0].method("fine_prune") != nullptr);
  CHECK(cache.rows_read() > 2 * static_cast<int64_t>(before->individuals.size()));
}

namespace {

// A running campaign of 200 individuals (its pending tasks still to do), its writer's store
// and the API over another connection.
struct RunningCampaign {
  TempDir dir{"dash"};
  std::unique_ptr<store::Store> store = open_store(dir.file("fp.db"));
  int64_t id = seed_large_campaign(*store, 200);
  bool running = store->set_campaign_status(id, "running").ok();
  std::unique_ptr<store::Store> reader = open_store(dir.file("fp.db"));
  dash::Api api{*reader};
  std::string path = "/api/campaigns/" + std::to_string(id);
};

}  // namespace

TEST_CASE("API redoes a running campaign's intervals at most every few seconds", "[dashboard]") {
  RunningCampaign c;
  REQUIRE(c.running);
  auto& [dir, store, id, running, reader, api, path] = c;
  const double t = 1700009999;
  json first = api.handle(path, "", t).body["methods_summary"];
  CHECK(api.bootstraps() == 1);

  report_a_pending_individual(*store, id, 200, t);
  // One second later: the last intervals, said to be not current.
  json soon = api.handle(path, "", t + 1).body["methods_summary"];
  CHECK(api.bootstraps() == 1);
  CHECK(soon["interval"]["current"] == false);
  CHECK(soon["interval"]["computed_at"] == t);
  CHECK(without_timing(soon) == without_timing(first));
  // Five seconds after the last computation: redone in the background, the request
  // answered at once with the last intervals.
  json later = api.handle(path, "", t + 5).body["methods_summary"];
  CHECK(api.bootstraps() == 2);
  CHECK(later["interval"]["current"] == false);
  CHECK(later["interval"]["computed_at"] == t);
  CHECK(without_timing(later) == without_timing(first));
  // Once done, the next request shows them: the values of t + 5, with the new individual.
  api.wait_for_refreshes();
  json redone = api.handle(path, "", t + 6).body["methods_summary"];
  CHECK(api.bootstraps() == 2);
  CHECK(redone["interval"]["current"] == true);
  CHECK(redone["interval"]["computed_at"] == t + 5);
  CHECK(redone["gain"]["n"] == first["gain"]["n"].get<int>() + 1);

  // Another result, and the refresh it starts is overtaken by a last result and the
  // campaign's end: the finished campaign's intervals are computed in the request, exact,
  // and stay (whether the refresh had finished by then or not).
  report_a_pending_individual(*store, id, 200, t, /*skip=*/1);
  CHECK(api.handle(path, "", t + 11).body["methods_summary"]["interval"]["current"] == false);
  CHECK(api.bootstraps() == 3);
  report_a_pending_individual(*store, id, 200, t, /*skip=*/2);
  REQUIRE(store->set_campaign_status(id, "done").ok());
  json final_answer = api.handle(path, "", t + 12).body["methods_summary"];
  CHECK(api.bootstraps() == 4);
  CHECK(final_answer["interval"]["current"] == true);
  CHECK(final_answer["gain"]["n"] == first["gain"]["n"].get<int>() + 3);
  auto results = report::load_campaign_results(*reader, id, t + 12);
  REQUIRE(results.ok());
  CHECK(without_timing(final_answer) ==
        report::methods_summary_json(report::summarize_methods(*results)));
  json kept = api.handle(path, "", t + 13).body["methods_summary"];
  CHECK(api.bootstraps() == 4);
  CHECK(without_timing(kept) == without_timing(final_answer));
}

// The coordinator's clock stepped back an hour (NTP correcting it): the intervals were not
// redone until the clock passed their old stamp again, an hour of "as of" a stale time (a
// clock audit, 7 Dec).
TEST_CASE("API redoes a running campaign's intervals after the clock stepped back", "[dashboard]") {
  RunningCampaign c;
  REQUIRE(c.running);
  auto& [dir, store, id, running, reader, api, path] = c;
  const double t = 1700009999;
  REQUIRE(api.handle(path, "", t).status == 200);
  CHECK(api.bootstraps() == 1);
  report_a_pending_individual(*store, id, 200, t);
  json stepped = api.handle(path, "", t - 3600).body["methods_summary"];
  CHECK(api.bootstraps() == 2);  // redone in the background
  CHECK(stepped["interval"]["current"] == false);
  api.wait_for_refreshes();
  json redone = api.handle(path, "", t - 3599).body["methods_summary"];
  CHECK(redone["interval"]["current"] == true);
  CHECK(redone["interval"]["computed_at"] == t - 3600);
}

TEST_CASE("a campaign that ends during a refresh of its final values keeps that refresh",
          "[dashboard]") {
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  int64_t id = seed_large_campaign(*store, 200);
  REQUIRE(store->set_campaign_status(id, "running").ok());
  auto reader = open_store(dir.file("fp.db"));
  dash::Api api(*reader);
  const std::string path = "/api/campaigns/" + std::to_string(id);
  const double t = 1700009999;
  json first = api.handle(path, "", t).body["methods_summary"];
  report_a_pending_individual(*store, id, 200, t);
  CHECK(api.handle(path, "", t + 5).body["methods_summary"]["interval"]["current"] == false);
  CHECK(api.bootstraps() == 2);  // the refresh, of what will be the final values
  REQUIRE(store->set_campaign_status(id, "done").ok());
  json final_answer = api.handle(path, "", t + 6).body["methods_summary"];
  CHECK(api.bootstraps() == 2);  // finished or not, the refresh's answer is taken
  CHECK(final_answer["interval"]["current"] == true);
  CHECK(final_answer["interval"]["computed_at"] == t + 5);
  CHECK(final_answer["gain"]["n"] == first["gain"]["n"].get<int>() + 1);
}

TEST_CASE_METHOD(FinishedCampaignDashboard,
                 "API curve returns each individual sweep and the mean per target", "[dashboard]") {
  json curve = get_json(dashboard->port(), "/api/campaigns/" + std::to_string(id) + "/curve");
  CHECK(curve["campaign_id"] == id);
  const auto& expected = seeded_individuals();
  REQUIRE(curve["individuals"].size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& c = curve["individuals"][i];
    CHECK(c["individual"] == expected[i].individual);
    CHECK(c["general"].get<double>() == expected[i].general);
    CHECK(c["chosen"]["sparsity"].get<double>() == expected[i].sparsity);
    CHECK(c["chosen"]["accuracy"].get<double>() == expected[i].fine_prune);
    REQUIRE(c["points"].size() == 3);
    for (size_t k = 0; k < 3; ++k) {
      CHECK(c["points"][k]["target"].get<double>() == Approx(seeded_targets()[k]));
      CHECK(c["points"][k]["sparsity"].get<double>() == Approx(expected[i].curve_sparsity[k]));
      CHECK(c["points"][k]["accuracy"].get<double>() == Approx(expected[i].curve_accuracy[k]));
    }
  }
  REQUIRE(curve["mean"].size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    double acc = 0, sp = 0;
    for (const auto& e : expected) {
      acc += e.curve_accuracy[k];
      sp += e.curve_sparsity[k];
    }
    CHECK(curve["mean"][k]["count"] == 3);
    CHECK(curve["mean"][k]["accuracy"].get<double>() == Approx(acc / 3));
    CHECK(curve["mean"][k]["sparsity"].get<double>() == Approx(sp / 3));
  }
  double general = 0;
  for (const auto& e : expected) general += e.general / 3;
  CHECK(curve["mean_general"].get<double>() == Approx(general));

  // A page of the curves; the mean is still over all of them.
  json page = get_json(dashboard->port(),
                       "/api/campaigns/" + std::to_string(id) + "/curve?offset=1&limit=1");
  REQUIRE(page["individuals"].size() == 1);
  CHECK(page["individuals"][0]["individual"] == expected[1].individual);
  CHECK(page["mean"] == curve["mean"]);
  CHECK(page["mean_general"] == curve["mean_general"]);
  CHECK(page["page"] == json({{"offset", 1}, {"limit", 1}, {"matched", 3}, {"total", 3}}));
}

TEST_CASE("API summary and agents and campaigns count agents by state and tasks", "[dashboard]") {
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  seed_finished_campaign(*store);
  // A second, running campaign: one agent working, one idle, one whose only task failed.
  store::CampaignRecord c;
  c.name = "running";
  c.model_sha256 = std::string(64, 'a');
  c.dataset = "fashion-mnist";
  c.prune_config_json = "{}";
  c.created_at = 1700000100;
  auto id = store->create_campaign(c);
  REQUIRE(id.ok());
  for (const char* agent : {"busy", "idle", "broken"}) {
    store::AgentRecord a;
    a.agent_id = agent;
    a.first_seen = a.last_seen = 1700000100;
    REQUIRE(store->upsert_agent(a).ok());
  }
  auto t1 = store->add_task(*id, "i1");
  auto t2 = store->add_task(*id, "i2");
  auto t3 = store->add_task(*id, "i3");
  REQUIRE((t1.ok() && t2.ok() && t3.ok()));
  REQUIRE(store->assign_task(*t1, "busy", 1700000101).ok());
  REQUIRE(store->assign_task(*t2, "broken", 1700000101).ok());
  REQUIRE(store->finish_task(*t2, false, "out of memory", 1700000102).ok());
  REQUIRE(store->set_agent_status("broken", "offline", 1700000103).ok());
  auto dashboard = start_dashboard(dir.file("fp.db"));
  uint16_t port = dashboard->port();

  json s = get_json(port, "/api/summary");
  CHECK(s["agents"]["total"] == 6);
  CHECK(s["agents"]["connected"] == 2);
  CHECK(s["agents"]["working"] == 1);
  CHECK(s["agents"]["idle"] == 1);
  CHECK(s["agents"]["done"] == 3);
  CHECK(s["agents"]["failed"] == 1);
  CHECK(s["agents"]["offline"] == 0);
  CHECK(s["campaigns"]["total"] == 2);
  CHECK(s["campaigns"]["running"] == 1);
  CHECK(s["tasks"]["done"] == 3);
  CHECK(s["tasks"]["failed"] == 1);
  CHECK(s["tasks"]["assigned"] == 1);
  CHECK(s["tasks"]["pending"] == 1);
  CHECK(s["telemetry_rows"] == 9);
  REQUIRE(s["events"].size() == 2);
  CHECK(s["events"][1]["kind"] == "leave");

  json agents = get_json(port, "/api/agents")["agents"];
  // Busy and broken agents first on request, each state in id order; a page of them.
  json by_state = get_json(port, "/api/agents?sort=state&limit=4");
  std::vector<std::string> order;
  for (const auto& a : by_state["agents"]) order.push_back(a["agent_id"]);
  CHECK(order == std::vector<std::string>{"busy", "broken", "idle", "dev-0+9"});
  CHECK(by_state["page"] == json({{"offset", 0}, {"limit", 4}, {"matched", 6}, {"total", 6}}));
  CHECK(get_json(port, "/api/agents?sort=name", 400)["error"] ==
        "query parameter 'sort' must be one of id, state, not 'name'");
  json found = get_json(port, "/api/agents?q=IDL");  // by id or state, any case
  REQUIRE(found["agents"].size() == 1);
  CHECK(found["agents"][0]["agent_id"] == "idle");
  std::map<std::string, json> by_id;
  for (const auto& a : agents) by_id[a["agent_id"]] = a;
  REQUIRE(by_id.size() == 6);
  CHECK(by_id["busy"]["state"] == "working");
  CHECK(by_id["busy"]["task"]["individual"] == "i1");
  CHECK(by_id["busy"]["task"]["task_id"] == *t1);
  CHECK(by_id["idle"]["state"] == "idle");
  CHECK(by_id["idle"]["task"].is_null());
  CHECK(by_id["broken"]["state"] == "failed");
  CHECK(by_id["broken"]["tasks_failed"] == 1);
  CHECK(by_id["dev-1+7"]["state"] == "done");
  CHECK(by_id["dev-1+7"]["tasks_done"] == 1);
  CHECK(by_id["dev-1+7"]["datasets"] == json({"fashion-mnist"}));
  CHECK(by_id["dev-1+7"]["memory_mb"] == 2048);

  json campaigns = get_json(port, "/api/campaigns")["campaigns"];
  REQUIRE(campaigns.size() == 2);
  CHECK(campaigns[1]["name"] == "running");
  CHECK(campaigns[1]["tasks"]["total"] == 3);
  CHECK(campaigns[1]["progress"].get<double>() == Approx(1.0 / 3));
  CHECK(campaigns[1]["eta_seconds"].is_number());
  CHECK(campaigns[0]["progress"] == 1.0);

  // The failed task's individual shows with its status and no results.
  json running = get_json(port, "/api/campaigns/" + std::to_string(*id));
  REQUIRE(running["individuals"].size() == 3);
  CHECK(running["individuals"][1]["task_status"] == "failed");
  CHECK(running["individuals"][1]["error"] == "out of memory");
  CHECK(running["individuals"][1]["fine_prune"].is_null());
  CHECK(running["mean"]["fine_prune"].is_null());

  // The same figures for Prometheus, one sample a line.
  HttpResult m = http_get(port, "/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
  std::map<std::string, std::string> sample;  // "name{labels}" -> value
  std::istringstream lines(m.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    sample[line.substr(0, space)] = line.substr(space + 1);
  }
  CHECK(sample["fineprune_agents{state=\"connected\"}"] == "2");
  CHECK(sample["fineprune_agents{state=\"failed\"}"] == "1");
  CHECK(sample["fineprune_agents_known"] == "6");
  CHECK(sample["fineprune_campaigns{status=\"running\"}"] == "1");
  CHECK(sample["fineprune_tasks{status=\"pending\"}"] == "1");
  CHECK(sample["fineprune_tasks{status=\"done\"}"] == "3");
  CHECK(sample["fineprune_campaign_tasks{campaign=\"running\",status=\"failed\"}"] == "1");
  CHECK(sample["fineprune_campaign_tasks{campaign=\"running\",status=\"assigned\"}"] == "1");
  CHECK(std::stod(sample["fineprune_campaign_progress{campaign=\"running\"}"]) == Approx(1.0 / 3));
  CHECK(std::stod(sample["fineprune_campaign_eta_seconds{campaign=\"running\"}"]) ==
        Approx(campaigns[1]["eta_seconds"].get<double>()).margin(60));
  // A finished campaign's is 0; one with no finish yet has none: no sample, not a made-up one.
  CHECK(sample["fineprune_campaign_eta_seconds{campaign=\"" +
               campaigns[0]["name"].get<std::string>() + "\"}"] == "0");
  CHECK(sample["fineprune_telemetry_rows"] == "9");
  // Every family says its type before its samples.
  CHECK(m.body.find("# TYPE fineprune_campaign_tasks gauge\nfineprune_campaign_tasks{") !=
        std::string::npos);
}

TEST_CASE("Prometheus samples quote campaign names safely and skip an ETA not estimated",
          "[dashboard]") {
  CHECK(dash::prometheus_label("plain name") == "plain name");
  CHECK(dash::prometheus_label("a \"quoted\" \\ path\nnext") ==
        "a \\\"quoted\\\" \\\\ path\\nnext");
  // Bytes that are no UTF-8 (a stored name may hold any): Prometheus refused the whole scrape.
  CHECK(dash::prometheus_label("caf\xff"
                               "e") ==
        "caf\xEF\xBF\xBD"
        "e");
  const json tasks = {{"pending", 4}, {"assigned", 0}, {"done", 0}, {"failed", 0}};
  const json summary = {{"agents",
                         {{"total", 0},
                          {"connected", 0},
                          {"working", 0},
                          {"idle", 0},
                          {"done", 0},
                          {"failed", 0},
                          {"offline", 0}}},
                        {"campaigns", {{"running", 1}, {"superseded", 0}, {"done", 0}}},
                        {"tasks", tasks},
                        {"telemetry_rows", 0}};
  const json campaigns = {
      {"campaigns",
       {{{"name", "new \"one\""}, {"tasks", tasks}, {"progress", 0.0}, {"eta_seconds", nullptr}}}}};
  const std::string text = dash::prometheus_text(summary, campaigns);
  CHECK(
      text.find("fineprune_campaign_tasks{campaign=\"new \\\"one\\\"\",status=\"pending\"} 4\n") !=
      std::string::npos);
  CHECK(text.find("fineprune_campaign_progress{campaign=\"new \\\"one\\\"\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("fineprune_campaign_eta_seconds{") == std::string::npos);  // not estimated
}

TEST_CASE_METHOD(FinishedCampaignDashboard,
                 "A database the dashboard cannot read is a 500 that keeps its SQL in the log",
                 "[dashboard]") {
  REQUIRE(store->db().exec("DROP TABLE events").ok());  // another connection, as a damage
  for (const char* path : {"/api/summary", "/metrics"}) {
    INFO(path);
    const std::string said = get_json(dashboard->port(), path, 500)["error"].get<std::string>();
    CHECK(said.find("internal error: the dashboard could not read the database") == 0);
    CHECK(said.find("SELECT") == std::string::npos);  // it sent the failing SQL
    CHECK(said.find("events") == std::string::npos);
  }
  get_json(dashboard->port(), "/api/campaigns/1");  // what does not need the table still answers
}

TEST_CASE_METHOD(FinishedCampaignDashboard,
                 "Unknown paths are 404 and malformed ids 400 and writes 405", "[dashboard]") {
  uint16_t port = dashboard->port();

  for (const char* path : {"/api/nothing", "/api", "/api/campaigns/1/other", "/api/agents/x",
                           "/nope", "/static/missing.js", "/static/index.html", "/campaigns/",
                           "/campaigns/1/x", "/favicon.ico"}) {
    INFO(path);
    json e = get_json(port, path, 404);
    CHECK(e["error"].get<std::string>().find("not found") != std::string::npos);
  }
  CHECK(get_json(port, "/api/campaigns/99", 404)["error"].get<std::string>().find(
            "no campaign with id 99") != std::string::npos);
  CHECK(get_json(port, "/api/campaigns/99/curve", 404).contains("error"));
  for (const char* id : {"abc", "0", "-1", "1.5", "1e3", "99999999999999999999", "%31"}) {
    INFO(id);
    json e = get_json(port, std::string("/api/campaigns/") + id, 400);
    CHECK(e["error"].get<std::string>().find("positive integer") != std::string::npos);
    CHECK(get_json(port, std::string("/api/campaigns/") + id + "/curve", 400).contains("error"));
  }
  // Bytes that are not UTF-8 come back escaped, not as a crash or a broken body.
  json bad = get_json(port, "/api/campaigns/\xff\xfe", 400);
  CHECK(bad["error"].is_string());

  for (const char* method : {"POST", "PUT", "DELETE"}) {
    HttpResult r = http_request(port, method, "/api/summary");
    CHECK(r.status == 405);
    CHECK(r.headers["allow"] == "GET, HEAD");
  }
  // A query string does not change the route, but a parameter the endpoint does not
  // take is named (a typo does not silently fall back to the default); HEAD gets
  // headers only.
  CHECK(get_json(port, "/api/agents?limit=2")["agents"].size() == 2);
  CHECK(get_json(port, "/api/summary?t=123", 400)["error"] ==
        "unknown query parameter 't': this endpoint takes none");
  HttpResult head = http_request(port, "HEAD", "/api/summary");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(std::stoul(head.headers["content-length"]) > 0);
  // Bound to loopback, it answers only to this machine's names (no DNS rebinding).
  auto with_host = [&](const std::string& host) {
    return http_raw(port,
                    "GET /api/summary HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  };
  CHECK(with_host("localhost:8080").status == 200);
  CHECK(with_host("LOCALHOST").status == 200);
  CHECK(with_host("127.0.0.1").status == 200);
  CHECK(with_host("[::1]:80").status == 200);
  HttpResult rebound = with_host("attacker.example:" + std::to_string(port));
  CHECK(rebound.status == 403);
  CHECK(rebound.body.find("is not allowed") != std::string::npos);
  CHECK(with_host("127.0.0.1.attacker.example").status == 403);
  CHECK(http_raw(port, "GET /api/summary HTTP/1.0\r\n\r\n").status == 403);  // no Host
  // Bound as "localhost" (127.0.0.1), it is loopback too: the check was off, and the start
  // warned it was open to the network.
  {
    auto by_name = dash::Dashboard::start({dir.file("fp.db"), "localhost", 0});
    REQUIRE(by_name.ok());
    const uint16_t named = (*by_name)->port();
    CHECK(http_raw(named,
                   "GET /api/summary HTTP/1.1\r\nHost: attacker.example\r\n"
                   "Connection: close\r\n\r\n")
              .status == 403);
    CHECK(http_raw(named,
                   "GET /api/summary HTTP/1.1\r\nHost: localhost\r\n"
                   "Connection: close\r\n\r\n")
              .status == 200);
  }
  CHECK(dash::is_loopback_address("localhost"));
  CHECK_FALSE(dash::is_loopback_address("0.0.0.0"));
  // Garbage instead of a request: that connection is dropped, the server goes on.
  CHECK(http_raw(port, "\x01\x02 garbage\r\n\r\n").status != 200);
  CHECK(get_json(port, "/api/agents")["agents"].size() == 3);
}

TEST_CASE("Pages and their scripts are embedded and load nothing from elsewhere", "[dashboard]") {
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  auto dashboard = start_dashboard(dir.file("fp.db"));
  uint16_t port = dashboard->port();

  HttpResult index = http_get(port, "/");
  REQUIRE(index.status == 200);
  CHECK(index.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(index.headers["content-security-policy"].find("default-src 'self'") != std::string::npos);
  CHECK(index.body.find("id=\"agents-table\"") != std::string::npos);
  CHECK(index.body.find("/static/app.js") != std::string::npos);
  HttpResult campaign = http_get(port, "/campaigns/1");
  REQUIRE(campaign.status == 200);
  CHECK(campaign.body.find("id=\"curve-chart\"") != std::string::npos);
  for (const char* name : {"app.js", "charts.js", "style.css"}) {
    HttpResult r = http_get(port, std::string("/static/") + name);
    INFO(name);
    CHECK(r.status == 200);
    const dash::WebAsset* asset = dash::find_web_asset(name);
    REQUIRE(asset != nullptr);
    CHECK(r.body == std::string(asset->body()));
    CHECK(r.headers["content-type"] == dash::content_type_for(name));
  }
  // No CDN: the only absolute URL in any page or script is the SVG namespace name.
  for (const char* name : {"index.html", "campaign.html", "app.js", "charts.js", "style.css"}) {
    std::string body(dash::find_web_asset(name)->body());
    std::regex url(R"(https?://[^\s"'`]+)");
    for (std::sregex_iterator it(body.begin(), body.end(), url), end; it != end; ++it) {
      INFO(name);
      CHECK(it->str() == "http://www.w3.org/2000/svg");
    }
  }
  // Every asset the pages reference exists.
  std::regex ref(R"re((?:src|href)="/static/([^"]+)")re");
  for (const std::string& page : {index.body, campaign.body}) {
    for (std::sregex_iterator it(page.begin(), page.end(), ref), end; it != end; ++it) {
      CHECK(dash::find_web_asset((*it)[1].str()) != nullptr);
    }
  }
}

TEST_CASE("The dashboard sees rows the coordinator commits while it runs", "[dashboard]") {
  TempDir dir("dash");
  auto writer = open_store(dir.file("fp.db"));
  auto dashboard = start_dashboard(dir.file("fp.db"));
  CHECK(get_json(dashboard->port(), "/api/summary")["telemetry_rows"] == 0);
  seed_finished_campaign(*writer);
  CHECK(get_json(dashboard->port(), "/api/summary")["telemetry_rows"] == 9);
  CHECK(get_json(dashboard->port(), "/api/campaigns")["campaigns"].size() == 1);
}

TEST_CASE("The dashboard reads an older fineprune's database without changing the file",
          "[dashboard]") {
  // Schema 1 with one agent: the dashboard alone (fp-coordinator dashboard) migrated the file
  // under the program that wrote it; it shows a migrated copy instead.
  TempDir dir("dash");
  const std::string path = dir.file("old.db");
  write_schema1_database(path);
  const std::string before = read_file(path);
  auto dashboard = start_dashboard(path);
  CHECK(get_json(dashboard->port(), "/api/summary")["agents"]["total"] == 1);
  dashboard.reset();
  CHECK(read_file(path) == before);
  auto db = sql::Database::open(path, sql::Database::Access::kReadOnly);
  REQUIRE(db.ok());
  CHECK(*(*db)->query_int("PRAGMA user_version") == 1);
}

TEST_CASE("The dashboard follows a database file replaced under it, as a restore does",
          "[dashboard]") {
  TempDir dir("dash");
  {
    auto live = open_store(dir.file("fp.db"));
    seed_finished_campaign(*live);
    auto backup = open_store(dir.file("backup.db"));
    seed_large_campaign(*backup, 5, "from-the-backup");
  }
  auto dashboard = start_dashboard(dir.file("fp.db"));
  auto names = [&] {
    std::vector<std::string> out;
    const json listed = get_json(dashboard->port(), "/api/campaigns");
    for (const auto& c : listed["campaigns"]) out.push_back(c["name"]);
    return out;
  };
  CHECK(names() == std::vector<std::string>{"fashion-mini"});
  // What fp-coordinator restore does: the live file aside, the backup's copy in its place.
  std::filesystem::rename(dir.file("fp.db"), dir.file("fp.db.before-restore"));
  std::filesystem::copy_file(dir.file("backup.db"), dir.file("fp.db"));
  CHECK(names() == std::vector<std::string>{"from-the-backup"});  // it showed the set-aside one
  // Gone for a moment (between the two steps): the file it has open is still shown.
  std::filesystem::rename(dir.file("fp.db"), dir.file("fp.db.moved"));
  CHECK(names() == std::vector<std::string>{"from-the-backup"});
}

TEST_CASE("HTTP server stops promptly with idle keep-alive connections open", "[dashboard]") {
  int calls = 0;
  auto server = dash::HttpServer::start({"127.0.0.1", 0}, [&](const dash::HttpRequest& r) {
    ++calls;
    return dash::HttpReply{200, "text/plain", r.method + " " + r.target, {}};
  });
  REQUIRE(server.ok());
  uint16_t port = (*server)->port();
  HttpResult r = http_get(port, "/x?y=1");
  CHECK(r.status == 200);
  CHECK(r.body == "GET /x?y=1");
  int idle = connect_loopback(port);  // connected, never sends
  REQUIRE(idle >= 0);
  auto t0 = std::chrono::steady_clock::now();
  (*server)->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // Closed by the server: an orderly close once accepted, a reset if it was still queued.
  char byte;
  ssize_t n = ::recv(idle, &byte, 1, 0);
  CHECK((n == 0 || (n < 0 && errno == ECONNRESET)));
  ::close(idle);
  CHECK(http_get(port, "/x").status == 0);  // nothing listens any more
  (*server)->stop();                        // idempotent
  CHECK(calls == 1);

  // A handler that throws answers 500 and the server keeps serving.
  auto throwing = dash::HttpServer::start({"127.0.0.1", 0}, [](const dash::HttpRequest& r) {
    if (r.target == "/boom") throw std::runtime_error("boom");
    return dash::HttpReply{200, "text/plain", "ok", {}};
  });
  REQUIRE(throwing.ok());
  CHECK(http_get((*throwing)->port(), "/boom").status == 500);
  CHECK(http_get((*throwing)->port(), "/").body == "ok");
}

TEST_CASE("HTTP server reports a port in use and a bad address", "[dashboard]") {
  auto first = dash::HttpServer::start({"127.0.0.1", 0}, {});
  REQUIRE(first.ok());
  auto second = dash::HttpServer::start({"127.0.0.1", (*first)->port()}, {});
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("cannot bind 127.0.0.1:" +
                                       std::to_string((*first)->port())) != std::string::npos);
  auto bad = dash::HttpServer::start({"localhost:80", 0}, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("not an IP address") != std::string::npos);
  // "localhost" itself is the loopback (it was refused as not an IP address).
  auto local = dash::HttpServer::start({"localhost", 0}, {});
  REQUIRE(local.ok());
  CHECK((*local)->port() > 0);
}

TEST_CASE("Campaign progress and ETA follow the tasks", "[dashboard]") {
  store::CampaignRecord c;
  std::vector<store::TaskRecord> tasks(4);
  for (auto& t : tasks) t.status = "pending";
  auto p = report::campaign_progress(c, tasks, 1000);
  CHECK(p.fraction == 0);
  CHECK_FALSE(p.eta_seconds.has_value());  // nothing finished: no pace yet
  tasks[0].status = "done";
  tasks[0].assigned_at = 900;
  tasks[1].status = "assigned";
  tasks[1].assigned_at = 950;
  p = report::campaign_progress(c, tasks, 1000);
  CHECK(p.counts.done == 1);
  CHECK(p.counts.assigned == 1);
  CHECK(p.counts.pending == 2);
  CHECK(p.fraction == 0.25);
  REQUIRE(p.eta_seconds.has_value());
  CHECK(*p.eta_seconds == Approx(300));  // 100 s per task so far, 3 left
  for (auto& t : tasks) t.status = "done";
  tasks[3].status = "failed";
  p = report::campaign_progress(c, tasks, 1000);
  CHECK(p.fraction == 1.0);
  CHECK(*p.eta_seconds == 0);
}

TEST_CASE("a campaign's ETA takes the pace of its latest finishes, not of a pause", "[dashboard]") {
  // 100 tasks: 30 finished one every 10 s, then a pause of nearly three hours (a run
  // interrupted and resumed), then 25 more, one every 10 s.
  store::CampaignRecord c;
  c.status = "running";
  std::vector<store::TaskRecord> tasks(100);
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto& t = tasks[i];
    const double at =
        i < 30 ? 10.0 * static_cast<double>(i + 1) : 10'000 + 10.0 * static_cast<double>(i - 29);
    if (i < 55) {
      t.status = i % 7 ? "done" : "failed";
      t.assigned_at = at - 5;
      t.finished_at = at;
    } else {
      t.status = i < 60 ? "assigned" : "pending";
      t.assigned_at = i < 60 ? 10'240 : 0;
    }
  }
  auto p = report::campaign_progress(c, tasks, 10'250);
  REQUIRE(p.eta_seconds.has_value());
  // The latest 20 finishes came in the 200 s since the one before them: 10 s a task, 45 left.
  // (Since the first assignment it was 10,250 s / 55 a task: 8,386 s.)
  CHECK(*p.eta_seconds == Approx(450));
  // Stalled from then on, it grows.
  p = report::campaign_progress(c, tasks, 12'000);
  CHECK(*p.eta_seconds == Approx(1950.0 / 20 * 45));
  // With 20 finishes or fewer, the pace is that since the first assignment (at 5 s).
  for (size_t i = 20; i < 55; ++i) tasks[i].status = "pending";
  p = report::campaign_progress(c, tasks, 400);
  CHECK(*p.eta_seconds == Approx(395.0 / 20 * 80));
}

TEST_CASE("SVG figures draw one bar per stored accuracy and the sweep curves", "[dashboard]") {
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  seed_finished_campaign(*store);
  auto results = report::load_campaign_results(*store, "fashion-mini", 0);
  REQUIRE(results.ok());

  std::string bars = report::accuracy_figure_svg(*results);
  CHECK(bars.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(count_of(bars, "<rect class=\"bar\"") == 12);  // 3 individuals x 4 methods
  for (const auto& e : seeded_individuals()) {
    for (auto [method, value] : {std::pair{"General", e.general},
                                 {"Fine-Pruning", e.fine_prune},
                                 {"Backprop fine-tuning", e.finetune},
                                 {"SVD", e.svd}}) {
      std::string title = fmt::format("{} - {}: {:.1f}%", e.individual, method, 100 * value);
      INFO(title);
      CHECK(bars.find(title) != std::string::npos);
    }
  }
  std::string curve = report::curve_figure_svg(*results);
  // 3 individuals + mean, each from the general model at sparsity 0 through 3 sweep
  // points, and a marker per individual at its label-free choice.
  CHECK(count_of(curve, "<polyline class=\"line\"") == 4);
  CHECK(count_of(curve, "<circle class=\"point\"") == 4 * 4 + 3);
  double mean_general = 0;
  for (const auto& e : seeded_individuals()) mean_general += e.general / 3;
  CHECK(curve.find(fmt::format("mean: sparsity 0.0%, accuracy {:.1f}%", 100 * mean_general)) !=
        std::string::npos);
  CHECK(curve.find(fmt::format("label-free choice: sparsity {:.1f}%, accuracy {:.1f}%",
                               100 * 0.7021, 100 * 0.9967)) != std::string::npos);
  CHECK(curve.find(fmt::format("classes=1+7: sparsity {:.1f}%, accuracy {:.1f}%", 100 * 0.5027,
                               100 * 0.9833)) != std::string::npos);

  // Names are escaped; a baseline nobody ran gets neither bars nor a legend entry.
  results->individuals[0].individual = "a<b&\"c\"";
  for (auto& i : results->individuals) i.methods.erase("svd");
  std::string escaped = report::accuracy_figure_svg(*results);
  CHECK(escaped.find("a&lt;b&amp;&quot;c&quot;") != std::string::npos);
  CHECK(escaped.find("a<b") == std::string::npos);
  CHECK(count_of(escaped, "<rect class=\"bar\"") == 9);
  CHECK(escaped.find(">SVD<") == std::string::npos);
}

TEST_CASE("A report written over an earlier one is all of one or all of the other", "[dashboard]") {
  // A disk that filled half way (the kernel's file size limit here: the small files fit, the
  // largest does not) left some files of the new report beside the rest of the old.
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  seed_finished_campaign(*store);
  seed_large_campaign(*store, 200, "larger");
  auto small = report::load_campaign_results(*store, "fashion-mini", 0);
  auto large = report::load_campaign_results(*store, "larger", 0);
  REQUIRE(small.ok());
  REQUIRE(large.ok());
  REQUIRE(report::write_report(*large, dir.file("sizes")).ok());
  uintmax_t smallest = UINTMAX_MAX, largest = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("sizes"))) {
    smallest = std::min(smallest, e.file_size());
    largest = std::max(largest, e.file_size());
  }
  REQUIRE(smallest < largest);
  const std::string out = dir.file("out");
  REQUIRE(report::write_report(*small, out).ok());
  std::map<std::string, std::string> before;
  for (const auto& e : std::filesystem::directory_iterator(out))
    before[e.path().filename().string()] = read_file(e.path().string());
  auto over = with_file_size_limit(largest - 1, [&] { return report::write_report(*large, out); });
  REQUIRE_FALSE(over.ok());
  CHECK_THAT(over.status().message(), Catch::Contains("report file " + out + "/"));
  std::map<std::string, std::string> after;
  for (const auto& e : std::filesystem::directory_iterator(out))
    after[e.path().filename().string()] = read_file(e.path().string());
  CHECK(after == before);  // the earlier report whole, no scratch file left
  REQUIRE(report::write_report(*large, out).ok());  // with room: the new one whole
  CHECK(read_file(out + "/results.json") == read_file(dir.file("sizes/results.json")));
}

TEST_CASE("Report writes per-individual CSV and JSON and both figures", "[dashboard]") {
  TempDir dir("dash");
  auto store = open_store(dir.file("fp.db"));
  seed_finished_campaign(*store);
  auto results = report::load_campaign_results(*store, "fashion-mini", 0);
  REQUIRE(results.ok());
  auto written = report::write_report(*results, dir.file("out/fashion-mini"));
  REQUIRE(written.ok());
  REQUIRE(written->size() == 4);

  std::istringstream csv(read_file(dir.file("out/fashion-mini/results.csv")));
  std::string line;
  std::getline(csv, line);
  CHECK(line.rfind("campaign,individual,task_status,agent_id,general_accuracy,", 0) == 0);
  for (const auto& e : seeded_individuals()) {
    REQUIRE(std::getline(csv, line));
    CHECK(line.rfind(fmt::format("fashion-mini,{},done,{},{},{},{},{},{},", e.individual, e.agent,
                                 e.general, e.fine_prune, e.finetune, e.svd, e.sparsity),
                     0) == 0);
  }
  CHECK_FALSE(std::getline(csv, line));
  // A device without labels: its label-free agreement instead of accuracies.
  auto unlabeled = *results;
  unlabeled.individuals[0].evaluated = false;
  unlabeled.individuals[0].agreement = 0.875;
  const std::string text = report::results_csv(unlabeled);
  CHECK_THAT(text.substr(0, text.find('\n')), Catch::EndsWith(",evaluated,agreement,error"));
  std::istringstream rows(text);
  std::getline(rows, line);
  std::getline(rows, line);
  CHECK_THAT(line, Catch::EndsWith(",0,0.875,"));
  std::getline(rows, line);
  CHECK_THAT(line, Catch::EndsWith(",1,,"));
  // A failed task, nothing measured: its error, and no "evaluated" (it said 1, as if labels
  // had been there); the JSON had the error, the CSV had not.
  auto failed = *results;
  failed.individuals[0].methods.clear();
  failed.individuals[0].task_status = "failed";
  failed.individuals[0].error = "prune: out of memory, \"again\"";
  const std::string failed_text = report::results_csv(failed);
  std::istringstream failed_rows(failed_text);
  std::getline(failed_rows, line);
  std::getline(failed_rows, line);
  CHECK_THAT(line, Catch::EndsWith(",,,\"prune: out of memory, \"\"again\"\"\""));
  CHECK(report::individual_json(failed.individuals[0])["evaluated"].is_null());
  CHECK(report::individual_json(results->individuals[1])["evaluated"] == true);

  json j = json::parse(read_file(dir.file("out/fashion-mini/results.json")));
  CHECK(j["individuals"][2]["svd"].get<double>() == seeded_individuals()[2].svd);
  CHECK(j["curve"]["mean"].size() == 3);
  CHECK(read_file(dir.file("out/fashion-mini/accuracy.svg")) ==
        report::accuracy_figure_svg(*results));
  CHECK(read_file(dir.file("out/fashion-mini/curve.svg")) == report::curve_figure_svg(*results));

  CHECK(report::file_safe_name("fsdd demo/1") == "fsdd_demo_1");
  CHECK(report::file_safe_name("..") == "campaign");
  // Names making one folder name each get their id (one report was written over the other).
  CHECK(report::report_folder_names({{1, "\xe5\xae\x9e\xe9\xaa\x8c\xe4\xb8\x80"},
                                     {2, "\xe5\xae\x9e\xe9\xaa\x8c\xe4\xba\x8c"},
                                     {3, "a/b"},
                                     {4, "a_b"},
                                     {5, "plain"}}) ==
        std::vector<std::string>{"_________-1", "_________-2", "a_b-3", "a_b-4", "plain"});
  auto missing = report::load_campaign_results(*store, "nope", 0);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
}
