#include "agent/device_inference.h"

#include <torch/torch.h>

#include "train/evaluator.h"

namespace fp::agent {

Result<PredictSummary> predict_folder(PrunableNet& model, const std::string& dir, int64_t batch,
                                      const std::function<void(const Prediction&)>& on_each,
                                      const std::function<void(int64_t, int64_t)>& on_progress) {
  FP_ASSIGN_OR_RETURN(FolderListing listing, list_folder(dir));
  PredictSummary summary;
  summary.skipped = listing.skipped;
  const auto& spec = model.spec();
  const int64_t total = static_cast<int64_t>(listing.items.size());
  int64_t done = 0;
  FP_RETURN_IF_ERROR(
      for_each_batch(listing.items, spec, batch, summary.skipped,
                     [&](const torch::Tensor& inputs, const std::vector<const FolderItem*>& from) {
                       auto [p, c] = predict_proba(model, inputs).max(1);
                       for (size_t i = 0; i < from.size(); ++i) {
                         Prediction out;
                         out.file = from[i]->name(dir);
                         out.class_id = c[static_cast<int64_t>(i)].item<int64_t>();
                         if (out.class_id < static_cast<int64_t>(spec.class_names.size()))
                           out.class_name = spec.class_names[static_cast<size_t>(out.class_id)];
                         out.confidence = p[static_cast<int64_t>(i)].item<double>();
                         on_each(out);
                         ++summary.predicted;
                       }
                       done += static_cast<int64_t>(from.size());
                       if (on_progress) on_progress(done, total);
                       return Status::ok_status();
                     }));
  if (summary.predicted == 0) {
    return Status::invalid_argument("data folder " + dir + ": no file this model can read; " +
                                    summary.skipped.summary());
  }
  return summary;
}

}  // namespace fp::agent
