// The reports' SVG charts (report/svg_chart.h): axis ticks over explicit ranges.
#include <catch2/catch.hpp>
#include <string>

#include "report/svg_chart.h"

using fp::report::LineChart;
using fp::report::LineSeries;

namespace {

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

LineChart chart_over(double y0, double y1) {
  LineChart c;
  c.title = "t";
  c.series.push_back(LineSeries{"s", "#000000", {{0.0, y0}, {1.0, y1}}});
  c.y_range = std::make_pair(y0, y1);
  c.y_percent = false;
  return c;
}

}  // namespace

TEST_CASE("a chart's ticks are round values across its range, also across a few ulps") {
  // A plain range: 0, 0.2, ..., 1 on the y axis (grey tick lines), and 0 %, 20 % ... on x.
  const std::string plain = fp::report::render_line_chart(chart_over(0.0, 1.0));
  for (const char* label : {">0<", ">0.2<", ">0.4<", ">0.6<", ">0.8<", ">1<"})
    CHECK(count_of(plain, label) == 1);
  CHECK(count_of(plain, "stroke=\"#dddddd\"") == 6);

  // Two means that are equal but for rounding (0.1 + 0.2 is 0.30000000000000004): the step
  // is below the values' resolution; the ticks stepped on it never ended.
  const double a = 0.3, b = 0.1 + 0.2;
  REQUIRE(b > a);
  const std::string tight = fp::report::render_line_chart(chart_over(a, b));
  CHECK(count_of(tight, ">0.3<") >= 1);
  CHECK(count_of(tight, "stroke=\"#dddddd\"") <= 2);
}
