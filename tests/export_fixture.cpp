// Writes, for every zoo model pruned on Fashion-MNIST, its PyTorch export
// (<dir>/<arch>.pt + .json), the inputs and the C++ model's logits (<dir>/<arch>_io.pt),
// and the masked model's artifact (<dir>/<arch>_masked.fpm, for `fp-agent export`).
// scripts/python/check_export.py then rebuilds each model in Python and compares.
#include <torch/torch.h>

#include <cstdio>
#include <fstream>

#include "data/fashion_mnist.h"
#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "models/torch_export.h"
#include "prune/pruner.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: export_fixture <out dir>\n");
    return 2;
  }
  const std::string dir = argv[1];
  torch::set_num_threads(1);
  auto data = fp::load_fashion_mnist(fp::kDefaultFashionMnistDir, fp::Split::kTest, 64);
  if (!data.ok()) {
    std::fprintf(stderr, "%s\n", data.status().to_string().c_str());
    return 1;
  }
  const torch::Tensor x = data.value().inputs;
  for (const auto& arch : fp::known_architectures()) {
    fp::ModelSpec spec;
    spec.arch = arch;
    spec.width_mult = (arch == "mlp" || arch == "cnn") ? 1.0 : 0.25;
    torch::manual_seed(3);
    fp::ModelPtr m = fp::build_model(spec).value();
    {
      torch::NoGradGuard no_grad;
      m->train();
      m->forward(x);  // BatchNorm statistics from real data
    }
    m->eval();
    fp::PruneConfig cfg;
    cfg.target_sparsity = 0.5;
    if (!fp::fine_prune(*m, x, cfg).ok()) return 1;
    m->eval();
    torch::Tensor y;
    {
      torch::NoGradGuard no_grad;
      y = m->forward(x);
    }
    fp::Status s = fp::export_torch(*m, dir + "/" + arch);
    if (s.ok()) s = fp::save_model(*m, dir + "/" + arch + "_masked.fpm");
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", arch.c_str(), s.to_string().c_str());
      return 1;
    }
    c10::Dict<std::string, torch::Tensor> io;
    io.insert("x", x);
    io.insert("y", y);
    const std::vector<char> bytes = torch::pickle_save(torch::IValue(io));
    std::ofstream(dir + "/" + arch + "_io.pt", std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::printf("%s: exported\n", arch.c_str());
  }
  return 0;
}
