// A campaign's two figures as SVG, drawn from its stored results:
//  - accuracy per individual: general model vs Fine-Pruning vs backprop fine-tuning
//    vs SVD, grouped bars (the paper's Figure 2 style);
//  - accuracy vs sparsity: each individual's Fine-Pruning sweep and their mean (Figure 3a).
// The dashboard's pages draw the same charts in the browser (web/charts.js).
#pragma once

#include <string>

#include "report/campaign_results.h"

namespace fp::report {

// Legend name and colour of "general" and each telemetry method.
std::string method_label(const std::string& method);
std::string method_color(const std::string& method);

std::string accuracy_figure_svg(const CampaignResults& results);
std::string curve_figure_svg(const CampaignResults& results);

}  // namespace fp::report
