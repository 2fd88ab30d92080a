#include "report/campaign_report.h"

#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "experiment/methods.h"
#include "report/results_json.h"
#include "report/svg_figures.h"
#include "stats/summary.h"
#include "util/csv.h"
#include "util/file_io.h"
#include "util/folder_lock.h"

namespace fp::report {
namespace {

std::string number(const std::optional<double>& v) {
  return v ? fmt::format("{}", *v) : std::string();
}

}  // namespace

std::string results_csv(const CampaignResults& r) {
  std::string out =
      "campaign,individual,task_status,agent_id,general_accuracy,fine_prune_accuracy,"
      "finetune_accuracy,svd_accuracy,fine_prune_sparsity,fine_prune_target_sparsity,"
      "svd_sparsity,macs_dense,fine_prune_macs,fine_prune_seconds,adaptation_samples,"
      "eval_samples,fine_prune_mac_reduction,fine_prune_compact_bytes,evaluated,agreement,"
      "error\n";
  for (const auto& i : r.individuals) {
    auto get = [&](const std::string& m) -> const MethodOutcome* {
      auto it = i.methods.find(m);
      return it == i.methods.end() ? nullptr : &it->second;
    };
    const MethodOutcome* fp = get(kFinePruneMethod);
    const MethodOutcome* svd = get("svd");
    // A field of a method's outcome, empty when the method did not report.
    auto field = [](const MethodOutcome* m, double MethodOutcome::*f) {
      return m ? fmt::format("{}", m->*f) : std::string();
    };
    const std::optional<bool> labeled = i.labeled();
    const std::string evaluated = !labeled ? "" : *labeled ? "1" : "0";
    out += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        csv_field(r.campaign.name), csv_field(i.individual), i.task_status, csv_field(i.agent_id),
        number(i.general_accuracy), number(accuracy_of(i, kFinePruneMethod)),
        number(accuracy_of(i, "finetune")), number(accuracy_of(i, "svd")),
        field(fp, &MethodOutcome::sparsity), field(fp, &MethodOutcome::target_sparsity),
        field(svd, &MethodOutcome::sparsity), i.macs_dense, fp ? fp->macs_effective : 0,
        field(fp, &MethodOutcome::wall_seconds), i.adaptation_samples, i.eval_samples,
        fp && i.macs_dense > 0
            ? fmt::format("{}", 1.0 - static_cast<double>(fp->macs_effective) / i.macs_dense)
            : std::string(),
        fp ? fp->compact_bytes : 0, evaluated, number(i.agreement), csv_field(i.error));
  }
  return out;
}

// Every method against the general model, paired over the individuals reporting both:
// mean, median, 95% bootstrap CI of the difference, Wilcoxon p, improved / worse by more
// than one evaluation sample (stats/summary.h).
nlohmann::json paired_statistics_json(const CampaignResults& r) {
  std::set<std::string> methods;
  for (const auto& i : r.individuals)
    for (const auto& [name, outcome] : i.methods) methods.insert(name);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& m : methods) {
    std::vector<double> a, b;
    int64_t eval_samples = 0;
    for (const auto& i : r.individuals) {
      auto va = accuracy_of(i, kGeneralMethod), vb = accuracy_of(i, m);
      if (!va || !vb) continue;
      a.push_back(*va);
      b.push_back(*vb);
      eval_samples = eval_samples ? std::min(eval_samples, i.eval_samples) : i.eval_samples;
    }
    if (a.empty()) continue;
    stats::PairedOptions o;
    o.resolution = eval_samples > 0 ? 1.0 / static_cast<double>(eval_samples) : 0.0;
    const auto p = stats::summarize_paired(a, b, o);
    out[m] = {{"versus", kGeneralMethod},      {"n", p.n},
              {"mean_general", p.mean_a},      {"mean", p.mean_b},
              {"mean_diff", p.mean_diff},      {"median_diff", p.median_diff},
              {"ci95", {p.ci.low, p.ci.high}}, {"p_wilcoxon", p.wilcoxon.p_value},
              {"improved", p.improved},        {"worse", p.worse},
              {"resolution", o.resolution}};
  }
  return out;
}

std::string results_json(const CampaignResults& r) {
  nlohmann::json j = campaign_detail_json(r);
  j["curve"] = campaign_curve_json(r);
  j["statistics"] = paired_statistics_json(r);
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Status stage_report(const CampaignResults& r, const std::string& dir, StagedFiles& into) {
  namespace fs = std::filesystem;
  FP_RETURN_IF_ERROR(make_output_folder(dir, "report folder"));
  const std::vector<std::pair<std::string, std::string>> files = {
      {"results.csv", results_csv(r)},
      {"results.json", results_json(r)},
      {"accuracy.svg", accuracy_figure_svg(r)},
      {"curve.svg", curve_figure_svg(r)}};
  for (const auto& [name, text] : files)
    FP_RETURN_IF_ERROR(into.add((fs::path(dir) / name).string(), text));
  return Status::ok_status();
}

Result<std::vector<std::string>> write_report(const CampaignResults& r, const std::string& dir) {
  StagedFiles files("report file");
  FP_RETURN_IF_ERROR(stage_report(r, dir, files));
  const FolderLock one_writer(dir);  // two writers at once: one's results beside the other's
  FP_RETURN_IF_ERROR(files.commit());
  return files.paths();
}

std::string file_safe_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out += keep ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "campaign";
  return out;
}

std::vector<std::string> report_folder_names(
    const std::vector<std::pair<int64_t, std::string>>& campaigns) {
  std::map<std::string, int> uses;
  std::vector<std::string> names;
  for (const auto& c : campaigns) names.push_back(file_safe_name(c.second));
  for (const auto& n : names) ++uses[n];
  for (size_t i = 0; i < names.size(); ++i)
    if (uses[names[i]] > 1) names[i] += "-" + std::to_string(campaigns[i].first);
  return names;
}

}  // namespace fp::report
