#include "train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "prune/cost.h"

namespace fp {

Result<TrainReport> train(PrunableNet& model, const Dataset& data, const TrainConfig& config,
                          const std::function<void(int64_t, double)>& on_epoch,
                          const std::atomic<bool>* stop) {
  if (!data.has_labels()) return Status::invalid_argument("train: the dataset has no labels");
  if (data.size() == 0) return Status::invalid_argument("train: the dataset is empty");
  if (config.epochs < 0 || config.batch_size < 1 || !(config.learning_rate > 0))
    return Status::invalid_argument("train: epochs >= 0, batch_size >= 1, learning_rate > 0");
  if (data.labels.max().item<int64_t>() >= model.spec().num_classes)
    return Status::invalid_argument("train: a label exceeds the model's num_classes");

  std::vector<torch::Tensor> params;
  for (auto& p : model.parameters())
    if (p.requires_grad()) params.push_back(p);
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (config.optimizer == "adam") {
    opt = std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(config.learning_rate).weight_decay(config.weight_decay));
  } else if (config.optimizer == "sgd") {
    opt = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(config.learning_rate)
                                                          .momentum(config.momentum)
                                                          .weight_decay(config.weight_decay));
  } else {
    return Status::invalid_argument("train: unknown optimizer '" + config.optimizer +
                                    "' (adam or sgd)");
  }

  const auto start = std::chrono::steady_clock::now();
  auto gen = at::detail::createCPUGenerator(config.seed);
  const int64_t n = data.size();
  TrainReport report;
  model.train();
  for (int64_t epoch = 0; epoch < config.epochs; ++epoch) {
    auto order = torch::randperm(n, gen, torch::kLong);
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b = 0; b < n; b += config.batch_size) {
      if (stop && stop->load(std::memory_order_relaxed))
        return Status::cancelled("train: stopped on request in epoch " + std::to_string(epoch + 1) +
                                 " of " + std::to_string(config.epochs));
      auto idx = order.slice(0, b, std::min(n, b + config.batch_size));
      if (idx.numel() < 2 && n >= 2) continue;  // BatchNorm needs two samples
      auto logits = model.forward(data.inputs.index_select(0, idx));
      auto loss = torch::nn::functional::cross_entropy(logits, data.labels.index_select(0, idx));
      opt->zero_grad();
      loss.backward();
      opt->step();
      loss_sum += loss.item<double>();
      ++batches;
      report.samples_seen += idx.numel();
    }
    report.final_loss = batches ? loss_sum / batches : 0.0;
    if (!std::isfinite(report.final_loss))
      return Status::invalid_argument(  // the settings' doing, not a bug
          fmt::format("train: loss diverged at epoch {} with learning rate {:g} (lower it)",
                      epoch + 1, config.learning_rate));
    if (on_epoch) on_epoch(epoch + 1, report.final_loss);
  }
  model.eval();
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.macs = 3 * count_macs(model).effective * report.samples_seen;
  return report;
}

}  // namespace fp
