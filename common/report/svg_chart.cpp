#include "report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace fp::report {
namespace {

constexpr double kLeft = 64, kRight = 24, kTop = 56, kHeight = 380;
constexpr const char* kFont = "font-family=\"sans-serif\"";

std::string percent(double v) { return fmt::format("{:.1f}%", 100 * v); }

// Opening tag, background, title and a one-row legend.
std::string header(double width, double height, const std::string& title,
                   const std::vector<std::pair<std::string, std::string>>& legend) {
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" {2} font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
      "<text x=\"{3}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{4}</text>\n",
      width, height, kFont, kLeft, xml_escape(title));
  double x = kLeft;
  for (const auto& [name, color] : legend) {
    out += fmt::format(
        "<rect x=\"{}\" y=\"32\" width=\"12\" height=\"12\" fill=\"{}\"/>"
        "<text x=\"{}\" y=\"42\">{}</text>\n",
        x, color, x + 16, xml_escape(name));
    x += 28 + 7.0 * static_cast<double>(name.size());
  }
  return out;
}

// Horizontal grid lines and labels for y in [y_min, 1] on the plot area.
std::string y_axis(double y_min, double plot_left, double plot_right, double plot_top,
                   double plot_bottom, const std::string& label) {
  std::string out;
  double step = (1.0 - y_min) > 0.5 ? 0.2 : 0.1;
  for (double v = y_min; v <= 1.0 + 1e-9; v += step) {
    double y = plot_bottom - (v - y_min) / (1.0 - y_min) * (plot_bottom - plot_top);
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#dddddd\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:.0f}%</text>\n",
        plot_left, y, plot_right, plot_left - 6, y + 4, 100 * v);
  }
  out += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333333\"/>\n"
      "<text transform=\"translate(16 {3:.1f}) rotate(-90)\" text-anchor=\"middle\">{4}</text>\n",
      plot_left, plot_top, plot_bottom, (plot_top + plot_bottom) / 2, xml_escape(label));
  return out;
}

// About six round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten).
std::vector<double> ticks(double lo, double hi) {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  // Counted, not stepped: over a range of a few ulps (0.3 against 0.1 + 0.2) the step is
  // below the values' resolution, and `v += step` would leave v where it is, for ever.
  const double first = std::ceil(lo / step - 1e-9) * step;
  const double last = std::floor((hi - first) / step + 1e-9);
  for (int k = 0; k <= last && k <= 10; ++k) {
    const double v = first + k * step;
    const double tick = std::abs(v) < 1e-12 * step ? 0.0 : v;
    if (out.empty() || tick != out.back()) out.push_back(tick);
  }
  return out;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_bar_chart(const BarChart& chart) {
  const double n_groups = std::max<double>(1, chart.groups.size());
  const double n_series = std::max<double>(1, chart.series.size());
  const double group_width = std::max(48.0, 14.0 * n_series + 20);
  const double plot_width = std::max(480.0, group_width * n_groups);
  const double width = kLeft + plot_width + kRight;
  size_t longest = 0;
  for (const auto& g : chart.groups) longest = std::max(longest, g.size());
  const double label_room = std::min(160.0, 12 + 5.5 * static_cast<double>(longest));
  const double height = kHeight + label_room;
  const double plot_top = kTop + 10, plot_bottom = kHeight - 10;
  const double plot_left = kLeft, plot_right = kLeft + plot_width;
  const double gw = plot_width / n_groups, bw = gw * 0.8 / n_series;

  std::vector<std::pair<std::string, std::string>> legend;
  for (const auto& s : chart.series) legend.emplace_back(s.name, s.color);
  std::string out = header(width, height, chart.title, legend);
  out += y_axis(0.0, plot_left, plot_right, plot_top, plot_bottom, chart.y_label);
  for (size_t g = 0; g < chart.groups.size(); ++g) {
    double gx = plot_left + gw * static_cast<double>(g);
    for (size_t s = 0; s < chart.series.size(); ++s) {
      const auto& series = chart.series[s];
      if (g >= series.values.size() || !series.values[g]) continue;
      double v = std::clamp(*series.values[g], 0.0, 1.0);
      double h = v * (plot_bottom - plot_top);
      out += fmt::format(
          "<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
          "fill=\"{}\"><title>{} - {}: {}</title></rect>\n",
          gx + gw * 0.1 + bw * static_cast<double>(s), plot_bottom - h, bw, h, series.color,
          xml_escape(chart.groups[g]), xml_escape(series.name), percent(v));
    }
    double cx = gx + gw / 2;
    out += fmt::format(
        "<text transform=\"translate({:.1f} {:.1f}) rotate(-35)\" text-anchor=\"end\">{}</text>\n",
        cx + 4, plot_bottom + 16, xml_escape(chart.groups[g]));
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333333\"/>\n",
                     plot_left, plot_bottom, plot_right);
  return out + "</svg>\n";
}

std::string render_line_chart(const LineChart& chart) {
  const double width = 720, height = kHeight + 40;
  const double plot_top = kTop + 10, plot_bottom = kHeight - 10;
  const double plot_left = kLeft, plot_right = width - kRight;
  // By default the y axis starts at the lowest tenth below the data, so small gaps
  // stay visible.
  double y_low = 1.0;
  for (const auto& s : chart.series) {
    for (const auto& p : s.points) y_low = std::min(y_low, p.second);
  }
  const auto [x0, x1] = chart.x_range.value_or(std::make_pair(0.0, 1.0));
  const auto [y0, y1] = chart.y_range.value_or(
      std::make_pair(std::clamp(std::floor(y_low * 10 - 1e-9) / 10, 0.0, 0.9), 1.0));
  auto px = [&, x0 = x0, x1 = x1](double x) {
    return plot_left + std::clamp((x - x0) / (x1 - x0), 0.0, 1.0) * (plot_right - plot_left);
  };
  auto py = [&, y0 = y0, y1 = y1](double y) {
    return plot_bottom - std::clamp((y - y0) / (y1 - y0), 0.0, 1.0) * (plot_bottom - plot_top);
  };
  auto label = [](double v, bool as_percent) {
    return as_percent ? fmt::format("{:.0f}%", 100 * v) : fmt::format("{:g}", v);
  };

  std::vector<std::pair<std::string, std::string>> legend;
  for (const auto& s : chart.series) {
    if (s.in_legend) legend.emplace_back(s.name, s.color);
  }
  std::string out = header(width, height, chart.title, legend);
  if (chart.y_range || !chart.y_percent) {
    for (double v : ticks(y0, y1)) {
      out += fmt::format(
          "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#dddddd\"/>"
          "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
          plot_left, py(v), plot_right, plot_left - 6, py(v) + 4, label(v, chart.y_percent));
    }
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333333\"/>\n"
        "<text transform=\"translate(16 {3:.1f}) rotate(-90)\" text-anchor=\"middle\">{4}"
        "</text>\n",
        plot_left, plot_top, plot_bottom, (plot_top + plot_bottom) / 2, xml_escape(chart.y_label));
  } else {
    out += y_axis(y0, plot_left, plot_right, plot_top, plot_bottom, chart.y_label);
  }
  for (double v : ticks(x0, x1)) {
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#333333\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        px(v), plot_bottom, plot_bottom + 5, plot_bottom + 19, label(v, chart.x_percent));
  }
  out += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333333\"/>\n"
      "<text x=\"{3:.1f}\" y=\"{4}\" text-anchor=\"middle\">{5}</text>\n",
      plot_left, plot_bottom, plot_right, (plot_left + plot_right) / 2, plot_bottom + 38,
      xml_escape(chart.x_label));
  if (y0 < 0 && y1 > 0) {  // the zero line of a signed quantity (e.g. a gain)
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#333333\" "
        "stroke-dasharray=\"4 3\"/>\n",
        plot_left, py(0), plot_right);
  }
  auto value = [](double v, bool as_percent) {
    return as_percent ? percent(v) : fmt::format("{:g}", v);
  };
  for (const auto& s : chart.series) {
    if (s.points.empty()) continue;
    if (s.draw_line) {
      std::string points;
      for (const auto& [x, y] : s.points) points += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
      points.pop_back();
      out += fmt::format(
          "<polyline class=\"line\" points=\"{}\" fill=\"none\" stroke=\"{}\" "
          "stroke-width=\"{}\"/>\n",
          points, s.color, s.stroke_width);
    }
    for (const auto& [x, y] : s.points) {
      out += fmt::format(
          "<circle class=\"point\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\">"
          "<title>{}: {} {}, {} {}</title></circle>\n",
          px(x), py(y), s.stroke_width + 1.5, s.color, xml_escape(s.name), xml_escape(chart.x_name),
          value(x, chart.x_percent), xml_escape(chart.y_name), value(y, chart.y_percent));
    }
  }
  return out + "</svg>\n";
}

}  // namespace fp::report
