// A small SVG writer for the two chart kinds the reports need: grouped bars (one
// group per individual, one bar per method) and lines over a shared x axis. Values
// are fractions shown as percentages. Output is a standalone SVG document with
// plain presentation attributes, readable by browsers and vector editors.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fp::report {

struct BarSeries {
  std::string name, color;
  std::vector<std::optional<double>> values;  // one per group; none draws no bar
};

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> groups;
  std::vector<BarSeries> series;
};

struct LineSeries {
  std::string name, color;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the order given
  double stroke_width = 1.5;
  bool in_legend = true;
  bool draw_line = true;  // false: markers only
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  // Axis ranges in data units. None: x is a fraction over [0, 1] shown in percent, y a
  // fraction from the lowest tenth below the data to 1 (accuracy vs sparsity).
  std::optional<std::pair<double, double>> x_range, y_range;
  bool x_percent = true, y_percent = true;  // tick labels: fraction as %, else plain numbers
  std::string x_name = "sparsity", y_name = "accuracy";  // in each point's tooltip
};

std::string render_bar_chart(const BarChart& chart);
std::string render_line_chart(const LineChart& chart);

// Text with &, <, >, " and ' escaped for XML.
std::string xml_escape(const std::string& text);

}  // namespace fp::report
