#include "dashboard/svg_figures.h"

#include "dashboard/svg_chart.h"

namespace fp::dash {

std::string method_label(const std::string& method) {
  if (method == "general") return "General";
  if (method == "fine_prune") return "Fine-Pruning";
  if (method == "finetune") return "Backprop fine-tuning";
  if (method == "svd") return "SVD";
  return method;
}

std::string method_color(const std::string& method) {
  if (method == "general") return "#8c8c8c";
  if (method == "fine_prune") return "#1f77b4";
  if (method == "finetune") return "#ff7f0e";
  if (method == "svd") return "#2ca02c";
  return "#9467bd";
}

std::string accuracy_figure_svg(const CampaignResults& results) {
  BarChart chart;
  chart.title = "Accuracy per individual - " + results.campaign.name;
  chart.y_label = "accuracy";
  std::vector<std::string> methods = {"general"};
  for (const auto& m : result_methods()) methods.push_back(m);
  for (const auto& i : results.individuals) chart.groups.push_back(i.individual);
  for (const auto& m : methods) {
    BarSeries s{method_label(m), method_color(m), {}};
    bool any = false;
    for (const auto& i : results.individuals) {
      s.values.push_back(accuracy_of(i, m));
      any |= s.values.back().has_value();
    }
    if (any) chart.series.push_back(std::move(s));  // a baseline not run gets no legend entry
  }
  return render_bar_chart(chart);
}

std::string curve_figure_svg(const CampaignResults& results) {
  static const char* kPalette[] = {"#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
                                   "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"};
  LineChart chart;
  chart.title = "Accuracy vs sparsity (Fine-Pruning) - " + results.campaign.name;
  chart.x_label = "sparsity (pruned share of prunable weights)";
  chart.y_label = "accuracy";
  size_t with_curve = 0;
  for (const auto& i : results.individuals) with_curve += !i.curve.empty();
  size_t k = 0;
  for (const auto& i : results.individuals) {
    if (i.curve.empty()) continue;
    LineSeries s{i.individual, kPalette[k++ % 10], {}, 1.2, with_curve <= 6};
    for (const auto& p : i.curve) s.points.emplace_back(p.sparsity, p.accuracy);
    chart.series.push_back(std::move(s));
  }
  LineSeries mean{"mean", "#000000", {}, 2.5, true};
  for (const auto& p : mean_curve(results)) mean.points.emplace_back(p.sparsity, p.accuracy);
  chart.series.push_back(std::move(mean));
  return render_line_chart(chart);
}

}  // namespace fp::dash
