// The dashboard in a real browser: a real `fp-coordinator serve --http-port` over a
// database holding a finished campaign, pages loaded by headless Chromium (Debian's
// `chromium` package), and the rendered DOM checked for the stored numbers and the
// charts. Reported skipped where chromium is not installed (failed under CI=true).
#include <fmt/format.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "dashboard_fixture.h"
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

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::string pct(double v) { return fmt::format("{:.1f}%", 100 * v); }

// fp-coordinator serving a finished campaign with its dashboard on a free port.
struct Coordinator {
  TempDir dir{"dash_browser"};
  std::unique_ptr<ChildProcess> process;
  uint16_t port = 0;

  Coordinator() {
    {
      auto store = fp::store::Store::open(dir.file("fp.db"));
      REQUIRE(store.ok());
      seed_finished_campaign(**store);
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

TEST_CASE("Chromium shows the API error for a malformed campaign id", "[dashboard][browser]") {
  std::string chromium = find_chromium();
  if (chromium.empty()) return skip("chromium is not installed", kFromSetup);
  Coordinator coordinator;
  TempDir profile("chromium_profile");
  std::string dom = dump_dom(chromium, coordinator.url("/campaigns/abc"), profile.path.string());
  INFO(dom.substr(0, 4000));
  CHECK(dom.find("campaign id must be a positive integer, not 'abc'") != std::string::npos);
  CHECK(count_of(dom, "class=\"bar bar-") == 0);
}
