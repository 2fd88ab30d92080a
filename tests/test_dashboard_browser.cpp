// The dashboard in a real browser: a real `fp-coordinator serve --http-port` over a
// database holding a finished campaign, pages loaded by headless Chromium (Debian's
// `chromium` package), and the rendered DOM checked for the stored numbers and the
// charts. Reported skipped where chromium is not installed (failed under CI=true).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "count_of.h"
#include "dashboard_fixture.h"
#include "free_port.h"
#include "http_client.h"
#include "integration/child_process.h"
#include "skip.h"
#include "test_paths.h"

using namespace fp::testing;

namespace {

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    std::string cmd = std::string("command -v ") + name + " 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
    std::array<char, 512> buf{};
    if (pipe && std::fgets(buf.data(), buf.size(), pipe.get())) {
      std::string path(buf.data());
      while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
      if (!path.empty()) return path;
    }
  }
  return "";
}

// The DOM after the page's scripts ran (Chromium's --dump-dom).
std::string dump_dom(const std::string& chromium, const std::string& url,
                     const std::string& profile) {
  std::string cmd = "timeout 120 " + chromium +
                    " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
                    " --disable-quic --no-first-run --disable-background-networking"
                    " --disable-component-update --disable-sync --user-data-dir=" +
                    profile + " --virtual-time-budget=5000 --dump-dom '" + url + "' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  REQUIRE(pipe);
  std::string out;
  std::array<char, 65536> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  return out;
}

std::string pct(double v) { return fmt::format("{:.1f}%", 100 * v); }

// fp-coordinator serving a finished campaign with its dashboard on a free port.
struct Coordinator {
  TempDir dir{"dash_browser"};
  std::unique_ptr<ChildProcess> process;
  uint16_t port = 0;

  explicit Coordinator(const std::function<void(fp::store::Store&)>& seed =
                           [](fp::store::Store& s) { seed_finished_campaign(s); }) {
    {
      auto store = fp::store::Store::open(dir.file("fp.db"));
      REQUIRE(store.ok());
      seed(**store);
    }
    // The port was free a moment ago; if another process took it since, try another.
    for (int attempt = 0; attempt < 3 && port == 0; ++attempt) {
      uint16_t candidate = free_loopback_port();
      process = std::make_unique<ChildProcess>(
          std::vector<std::string>{FP_BINARY_DIR "/coordinator/fp-coordinator", "serve", "--db",
                                   dir.file("fp.db"), "--models-dir", dir.file("models"),
                                   "--endpoint", "tcp://127.0.0.1:*", "--plain", "--http-port",
                                   std::to_string(candidate)},
          dir.file("coordinator.log"));
      REQUIRE(process->started());
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (std::chrono::steady_clock::now() < until && process->running()) {
        if (http_get(candidate, "/api/summary").status == 200) {
          port = candidate;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    REQUIRE(port != 0);
  }
  ~Coordinator() {
    process->signal(SIGTERM);
    process->wait(std::chrono::seconds(10));
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

}  // namespace

TEST_CASE("Chromium renders the overview with agents and progress and live results",
          "[dashboard][browser]") {
  std::string chromium = find_chromium();
  if (chromium.empty()) return skip("chromium is not installed", kFromSetup);
  Coordinator coordinator;
  TempDir profile("chromium_profile");
  std::string dom = dump_dom(chromium, coordinator.url("/"), profile.path.string());
  INFO(dom.substr(0, 4000));
  REQUIRE(dom.find("id=\"agents-table\"") != std::string::npos);

  CHECK(dom.find("id=\"agents-connected\">0<") != std::string::npos);
  CHECK(dom.find("id=\"agents-done\">3<") != std::string::npos);
  CHECK(dom.find("id=\"agents-failed\">0<") != std::string::npos);
  CHECK(dom.find("id=\"tasks-done\">3 / 3<") != std::string::npos);
  CHECK(dom.find("id=\"telemetry-rows\">9<") != std::string::npos);
  CHECK(count_of(dom, "<span class=\"badge state-done\">done</span>") == 3);
  for (const auto& e : seeded_individuals()) {
    INFO(e.individual);
    CHECK(dom.find("<td>" + e.agent + "</td>") != std::string::npos);
    CHECK(dom.find("<td>" + e.individual + "</td>") != std::string::npos);
    for (double v : {e.general, e.fine_prune, e.finetune, e.svd, e.sparsity}) {
      CHECK(dom.find(">" + pct(v) + "</td>") != std::string::npos);
    }
  }
  CHECK(dom.find("<a href=\"/campaigns/1\">fashion-mini</a>") != std::string::npos);
  CHECK(dom.find("class=\"progress-fill complete\"") != std::string::npos);
  CHECK(dom.find("<td>done</td>") != std::string::npos);  // ETA of a finished campaign
  // The live bar chart: one bar per individual and method, carrying the stored value.
  CHECK(dom.find("<svg viewBox=") != std::string::npos);
  CHECK(dom.find("class=\"bar-chart\"") != std::string::npos);
  CHECK(count_of(dom, "class=\"bar bar-") == 12);
  CHECK(dom.find("data-group=\"classes=3+8\" data-value=\"" +
                 fmt::format("{}", seeded_individuals()[2].svd) + "\"") != std::string::npos);
  CHECK(dom.find("<td>leave</td>") != std::string::npos);
  CHECK(dom.find("id=\"error\" class=\"error\" hidden") != std::string::npos);
}

TEST_CASE("Chromium renders a campaign page with results table and bar chart and curve",
          "[dashboard][browser]") {
  std::string chromium = find_chromium();
  if (chromium.empty()) return skip("chromium is not installed", kFromSetup);
  Coordinator coordinator;
  TempDir profile("chromium_profile");
  std::string dom = dump_dom(chromium, coordinator.url("/campaigns/1"), profile.path.string());
  INFO(dom.substr(0, 4000));
  REQUIRE(dom.find("id=\"results-table\"") != std::string::npos);

  CHECK(dom.find("id=\"campaign-name\">fashion-mini<") != std::string::npos);
  CHECK(dom.find("class=\"badge status-done\">done<") != std::string::npos);
  const auto& all = seeded_individuals();
  double mean[4] = {0, 0, 0, 0};
  for (const auto& e : all) {
    INFO(e.individual);
    CHECK(dom.find("<td>" + e.individual + "</td>") != std::string::npos);
    for (double v : {e.general, e.fine_prune, e.finetune, e.svd, e.sparsity}) {
      CHECK(dom.find(">" + pct(v) + "</td>") != std::string::npos);
    }
    mean[0] += e.general / 3;
    mean[1] += e.fine_prune / 3;
    mean[2] += e.finetune / 3;
    mean[3] += e.svd / 3;
  }
  CHECK(dom.find("id=\"mean-general\">" + pct(mean[0]) + "<") != std::string::npos);
  CHECK(dom.find("id=\"mean-fine_prune\">" + pct(mean[1]) + "<") != std::string::npos);
  CHECK(dom.find("id=\"mean-finetune\">" + pct(mean[2]) + "<") != std::string::npos);
  CHECK(dom.find("id=\"mean-svd\">" + pct(mean[3]) + "<") != std::string::npos);
  // Figure 2 style bars and Figure 3a style curves: 3 individuals + the mean, each from the
  // general model through 3 sweep points, and a marker per individual's label-free choice.
  CHECK(count_of(dom, "class=\"bar bar-") == 12);
  CHECK(count_of(dom, "class=\"bar bar-fine_prune\"") == 3);
  CHECK(dom.find("class=\"line-chart\"") != std::string::npos);
  CHECK(count_of(dom, "<polyline class=\"line\"") == 4);
  CHECK(count_of(dom, "<circle class=\"point\"") == 4 * 4 + 3);
  CHECK(dom.find("data-series=\"label-free choice\" data-sparsity=\"" +
                 fmt::format("{}", all[2].sparsity) + "\" data-accuracy=\"" +
                 fmt::format("{}", all[2].fine_prune) + "\"") != std::string::npos);
  CHECK(dom.find("data-series=\"classes=1+7\" data-sparsity=\"" +
                 fmt::format("{}", all[1].curve_sparsity[1]) + "\" data-accuracy=\"" +
                 fmt::format("{}", all[1].curve_accuracy[1]) + "\"") != std::string::npos);
  CHECK(dom.find("id=\"curve-empty\" hidden") != std::string::npos);
}

TEST_CASE("Chromium draws a campaign whose stored time is no finite number",
          "[dashboard][browser]") {
  std::string chromium = find_chromium();
  if (chromium.empty()) return skip("chromium is not installed", kFromSetup);
  // An infinite wall time reaches the page as null: its cell threw, the table stayed empty,
  // and the next poll, taking the same data as drawn, hid the error.
  Coordinator coordinator([](fp::store::Store& s) {
    seed_finished_campaign(s);
    REQUIRE(s.db().exec("UPDATE telemetry SET wall_seconds = 9e999").ok());
  });
  TempDir profile("chromium_profile");
  std::string dom = dump_dom(chromium, coordinator.url("/campaigns/1"), profile.path.string());
  INFO(dom.substr(0, 4000));
  for (const auto& e : seeded_individuals()) {
    INFO(e.individual);
    CHECK(dom.find("<td>" + e.individual + "</td>") != std::string::npos);
  }
}

TEST_CASE("Chromium shows the API error for a malformed campaign id", "[dashboard][browser]") {
  std::string chromium = find_chromium();
  if (chromium.empty()) return skip("chromium is not installed", kFromSetup);
  Coordinator coordinator;
  TempDir profile("chromium_profile");
  std::string dom = dump_dom(chromium, coordinator.url("/campaigns/abc"), profile.path.string());
  INFO(dom.substr(0, 4000));
  CHECK(dom.find("campaign id must be a positive integer, not 'abc'") != std::string::npos);
  CHECK(count_of(dom, "class=\"bar bar-") == 0);
  // Not decoded: a malformed escape stopped the page at "loading"; an encoded path was
  // decoded into another API request.
  for (const std::string id : {"%E0", "..%2F..%2Fapi%2Fsummary%3F"}) {
    INFO(id);
    dom = dump_dom(chromium, coordinator.url("/campaigns/" + id), profile.path.string());
    CHECK(dom.find("campaign id must be a positive integer, not '" + id + "'") !=
          std::string::npos);
  }
}

namespace {

// The rows of the per-individual table's body, as the page rendered them.
std::vector<std::string> table_rows(const std::string& dom) {
  size_t table = dom.find("id=\"results-table\"");
  REQUIRE(table != std::string::npos);
  size_t body = dom.find("<tbody>", table), end = dom.find("</tbody>", table);
  REQUIRE(body != std::string::npos);
  std::string rows = dom.substr(body, end - body);
  std::vector<std::string> out;
  std::regex first_cell("<tr><td>([^<]*)</td>");
  for (std::sregex_iterator it(rows.begin(), rows.end(), first_cell), e; it != e; ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

std::string text_of(const std::string& dom, const std::string& id) {
  std::smatch m;
  REQUIRE(std::regex_search(dom, m, std::regex("id=\"" + id + "\"[^>]*>([^<]*)<")));
  return m[1].str();
}

}  // namespace

TEST_CASE("Chromium renders a 1000-individual campaign: distributions, CIs, paged table, search",
          "[dashboard][browser]") {
  std::string chromium = find_chromium();
  if (chromium.empty()) return skip("chromium is not installed", kFromSetup);
  Coordinator coordinator([](fp::store::Store& s) { seed_large_campaign(s, 1000); });
  TempDir profile("chromium_profile");
  const auto all = large_individuals(1000);
  std::vector<double> gains;
  std::map<std::string, const LargeIndividual*> by_name;
  for (const auto& e : all) {
    by_name[e.individual] = &e;
    if (auto g = e.gain()) gains.push_back(*g);
  }
  REQUIRE(gains.size() == 957);
  // FP_DASHBOARD_SCREENSHOT=page.png also saves the rendered page (docs/DASHBOARD.md).
  if (const char* shot = std::getenv("FP_DASHBOARD_SCREENSHOT")) {
    std::string cmd = "timeout 120 " + chromium +
                      " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
                      " --hide-scrollbars --window-size=1280,4200 --user-data-dir=" +
                      profile.path.string() + " --virtual-time-budget=5000 --screenshot=" + shot +
                      " '" + coordinator.url("/campaigns/1") + "' >/dev/null 2>&1";
    CHECK(std::system(cmd.c_str()) == 0);
  }

  std::string dom = dump_dom(chromium, coordinator.url("/campaigns/1"), profile.path.string());
  INFO(dom.substr(0, 3000));
  REQUIRE(dom.find("id=\"results-table\"") != std::string::npos);
  CHECK(dom.find("id=\"error\" class=\"error\" hidden") != std::string::npos);

  // Sorted gains: one vertex per individual with a gain.
  std::smatch m;
  REQUIRE(
      std::regex_search(dom, m, std::regex(R"re(<polyline class="gain-line" points="([^"]*)")re")));
  CHECK(count_of(m[1].str(), ",") == gains.size());
  CHECK(dom.find("data-count=\"957\"") != std::string::npos);

  // Histogram: the bars' counts sum to the individuals with a gain, and each bar holds
  // exactly the stored gains in [lo, hi) (the last bar closed).
  std::regex bar(
      R"re(class="hist-bar"[^>]*data-lo="([^"]+)" data-hi="([^"]+)" data-count="(\d+)")re");
  std::vector<std::array<double, 3>> bins;
  for (std::sregex_iterator it(dom.begin(), dom.end(), bar), e; it != e; ++it) {
    bins.push_back({std::stod((*it)[1]), std::stod((*it)[2]), std::stod((*it)[3])});
  }
  REQUIRE(bins.size() >= 10);
  CHECK(bins.size() <= 31);
  double sum = 0;
  for (size_t b = 0; b < bins.size(); ++b) {
    sum += bins[b][2];
    bool last = b + 1 == bins.size();
    int expected = 0;
    for (double g : gains)
      expected += g >= bins[b][0] && (g < bins[b][1] || (last && g <= bins[b][1]));
    INFO("bin " << bins[b][0] << " to " << bins[b][1]);
    CHECK(bins[b][2] == expected);
  }
  CHECK(sum == gains.size());

  // Scatter: one point per individual with both accuracies, at the stored values.
  std::regex point(
      R"re(class="scatter-point"[^>]*data-individual="([^"]+)" data-general="([^"]+)" data-personalized="([^"]+)")re");
  size_t points = 0;
  for (std::sregex_iterator it(dom.begin(), dom.end(), point), e; it != e; ++it, ++points) {
    const LargeIndividual* r = by_name.at((*it)[1].str());
    REQUIRE(r->general);
    CHECK(std::stod((*it)[2]) == Approx(*r->general).margin(1e-12));
    CHECK(std::stod((*it)[3]) == Approx(*r->fine_prune).margin(1e-12));
  }
  CHECK(points == 957);
  CHECK(dom.find("class=\"diagonal\"") != std::string::npos);

  // Means and CIs: the numbers shown are the API's.
  HttpResult api = http_get(coordinator.port, "/api/campaigns/1");
  REQUIRE(api.status == 200);
  auto summary = nlohmann::json::parse(api.body)["methods_summary"];
  for (const char* method : {"general", "fine_prune", "finetune", "svd"}) {
    INFO(method);
    const auto& s = summary[method];
    CHECK(text_of(dom, std::string("mean-") + method) == pct(s["mean"].get<double>()));
    CHECK(text_of(dom, std::string("ci-") + method) ==
          pct(s["ci_low"].get<double>()) + " to " + pct(s["ci_high"].get<double>()));
    CHECK(text_of(dom, std::string("n-") + method) == fmt::format("{}", s["n"].get<int>()));
    std::regex row(
        "data-method=\"" + std::string(method) +
        R"re(" data-n="(\d+)" data-mean="([^"]+)" data-ci-low="([^"]+)" data-ci-high="([^"]+)")re");
    REQUIRE(std::regex_search(dom, m, row));
    CHECK(std::stod(m[2]) == s["mean"].get<double>());
    CHECK(std::stod(m[3]) == s["ci_low"].get<double>());
    CHECK(std::stod(m[4]) == s["ci_high"].get<double>());
  }
  CHECK(text_of(dom, "n-gain") == "957");

  // The configuration as a key/value table.
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"criterion", "energy"},
                                                        {"max_sparsity", "0.9"},
                                                        {"layers.conv", "false"},
                                                        {"layers.linear", "true"},
                                                        {"skip", "fc_out"},
                                                        {"methods", "finetune, svd"},
                                                        {"targets", "20%, 50%, 80%"}}) {
    CHECK(dom.find("<td class=\"key\">" + k + "</td><td class=\"value\">" + v + "</td>") !=
          std::string::npos);
  }
  CHECK(dom.find("{\"criterion\"") == std::string::npos);  // no raw JSON

  // The table: 50 rows of 1000 on page 1 of 20, in task order; the bars are that page's.
  auto rows = table_rows(dom);
  REQUIRE(rows.size() == 50);
  CHECK(rows.front() == "person-0000");
  CHECK(rows.back() == "person-0049");
  CHECK(text_of(dom, "results-page") == "page 1 of 20");
  CHECK(text_of(dom, "results-count") == "rows 1-50 of 1000 individuals");
  size_t fine_prune_on_page = 0;
  for (int k = 0; k < 50; ++k) fine_prune_on_page += all[k].fine_prune.has_value();
  CHECK(count_of(dom, "class=\"bar bar-fine_prune\"") == fine_prune_on_page);

  {  // the last page
    dom = dump_dom(chromium, coordinator.url("/campaigns/1?page=20"), profile.path.string());
    rows = table_rows(dom);
    REQUIRE(rows.size() == 50);
    CHECK(rows.front() == "person-0950");
    CHECK(text_of(dom, "results-page") == "page 20 of 20");
  }
  {  // a search by agent narrows the table to that agent's rows
    dom = dump_dom(chromium, coordinator.url("/campaigns/1?q=agent-007"), profile.path.string());
    std::vector<std::string> expected;
    for (const auto& e : all) {
      if (e.agent == "agent-007") expected.push_back(e.individual);
    }
    REQUIRE(expected.size() > 10);
    CHECK(table_rows(dom) == expected);
    CHECK(text_of(dom, "results-page") == "page 1 of 1");
    CHECK(text_of(dom, "results-count") ==
          fmt::format("rows 1-{0} of {0} matching \"agent-007\" (1000 individuals)",
                      expected.size()));
  }
  {  // a search by status, and one over two pages
    dom = dump_dom(chromium, coordinator.url("/campaigns/1?q=failed"), profile.path.string());
    std::vector<std::string> failed;
    for (const auto& e : all) {
      if (e.status == "failed") failed.push_back(e.individual);
    }
    CHECK(table_rows(dom) == failed);
    CHECK(count_of(dom, "class=\"badge status-failed\"") == failed.size());
    dom = dump_dom(chromium, coordinator.url("/campaigns/1?q=person-01&page=2"),
                   profile.path.string());
    rows = table_rows(dom);
    REQUIRE(rows.size() == 50);
    CHECK(rows.front() == "person-0150");
    CHECK(text_of(dom, "results-page") == "page 2 of 2");
  }
  {  // sorted by gain, largest loss first (rows without a gain last), and with a search
    std::vector<const LargeIndividual*> order;
    for (const auto& e : all) {
      if (e.gain()) order.push_back(&e);
    }
    std::stable_sort(order.begin(), order.end(),
                     [](auto* a, auto* b) { return *a->gain() < *b->gain(); });
    dom = dump_dom(chromium, coordinator.url("/campaigns/1?sort=gain"), profile.path.string());
    rows = table_rows(dom);
    REQUIRE(rows.size() == 50);
    for (size_t k = 0; k < 50; ++k) CHECK(rows[k] == order[k]->individual);
    CHECK(text_of(dom, "results-page") == "page 1 of 20");
    dom = dump_dom(chromium, coordinator.url("/campaigns/1?sort=-gain&q=agent-003"),
                   profile.path.string());
    std::stable_sort(order.begin(), order.end(),
                     [](auto* a, auto* b) { return *a->gain() > *b->gain(); });
    std::vector<std::string> expected;
    for (const auto* e : order) {
      if (e->agent == "agent-003") expected.push_back(e->individual);
    }
    for (const auto& e : all) {
      if (e.agent == "agent-003" && !e.gain()) expected.push_back(e.individual);
    }
    CHECK(table_rows(dom) == expected);
  }
}
