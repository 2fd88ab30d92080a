// Synthetic labeled data for engine tests that need a model which really separates
// classes: ten Gaussian clusters in 16 dimensions (inputs [N, 1, 4, 4]), and a small
// MLP trained on them in well under a second.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/model_factory.h"
#include "test_spec.h"
#include "train/trainer.h"

namespace fp::testing {

// `per_class` samples of each of `classes`, shuffled; label = cluster index (0..9).
inline Dataset cluster_data(const std::vector<int64_t>& classes, int64_t per_class, uint64_t seed) {
  torch::manual_seed(100);  // the same cluster centres for every call
  auto centres = torch::randn({10, 16}) * 2.0;
  torch::manual_seed(seed);
  std::vector<torch::Tensor> xs, ys;
  for (int64_t k : classes) {
    xs.push_back(centres[k].unsqueeze(0) + torch::randn({per_class, 16}));
    ys.push_back(torch::full({per_class}, k, torch::kLong));
  }
  auto order = torch::randperm(per_class * static_cast<int64_t>(classes.size()), torch::kLong);
  Dataset d;
  d.inputs = torch::cat(xs).index_select(0, order).view({-1, 1, 4, 4}).contiguous();
  d.labels = torch::cat(ys).index_select(0, order).contiguous();
  for (int k = 0; k < 10; ++k) d.class_names.push_back("c" + std::to_string(k));
  return d;
}

// An MLP (fc1 16->64, fc2 64->32, fc_out 32->10) trained on all ten clusters.
inline ModelPtr trained_cluster_mlp() {
  torch::manual_seed(7);
  auto model = build_model(fp::testing::test_spec("mlp", 1, 4, 4, 10, 0.25)).value();
  TrainConfig tc;
  tc.learning_rate = 1e-2;
  tc.epochs = 3;
  auto trained = train(*model, cluster_data({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 200, 11), tc);
  if (!trained.ok()) throw std::runtime_error(trained.status().to_string());
  return model;
}

}  // namespace fp::testing
