#include "report/svg_figures.h"

#include "experiment/methods.h"
#include "report/svg_chart.h"

namespace fp::report {

std::string method_label(const std::string& method) {
  if (method == kGeneralMethod) return "General";
  if (method == kFinePruneMethod) return "Fine-Pruning";
  if (method == "finetune") return "Backprop fine-tuning";
  if (method == "svd") return "SVD";
  return method;
}

std::string method_color(const std::string& method) {
  if (method == kGeneralMethod) return "#8c8c8c";
  if (method == kFinePruneMethod) return "#1f77b4";
  if (method == "finetune") return "#ff7f0e";
  if (method == "svd") return "#2ca02c";
  return "#9467bd";
}

std::string accuracy_figure_svg(const CampaignResults& results) {
  BarChart chart;
  chart.title = "Accuracy per individual - " + results.campaign.name;
  chart.y_label = "accuracy";
  std::vector<std::string> methods = {kGeneralMethod};
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
  // Each curve starts at the general model (sparsity 0), as in the paper's figure.
  size_t k = 0;
  double general_sum = 0;
  int general_count = 0;
  LineSeries chosen{"label-free choice", "#d62728", {}, 2.5, true, false};
  for (const auto& i : results.individuals) {
    if (i.curve.empty()) continue;
    LineSeries s{i.individual, kPalette[k++ % 10], {}, 1.2, with_curve <= 6};
    if (i.general_accuracy) {
      s.points.emplace_back(0.0, *i.general_accuracy);
      general_sum += *i.general_accuracy;
      ++general_count;
    }
    for (const auto& p : i.curve) s.points.emplace_back(p.sparsity, p.accuracy);
    chart.series.push_back(std::move(s));
    auto fp = i.methods.find(kFinePruneMethod);
    if (fp != i.methods.end() && fp->second.accuracy) {
      chosen.points.emplace_back(fp->second.sparsity, *fp->second.accuracy);
    }
  }
  LineSeries mean{"mean", "#000000", {}, 2.5, true};
  if (general_count) mean.points.emplace_back(0.0, general_sum / general_count);
  for (const auto& p : mean_curve(results)) mean.points.emplace_back(p.sparsity, p.accuracy);
  chart.series.push_back(std::move(mean));
  if (!chosen.points.empty()) chart.series.push_back(std::move(chosen));
  return render_line_chart(chart);
}

}  // namespace fp::report
