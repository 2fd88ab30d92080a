// Compaction: the compact model computes what the masked model computes, on real data,
// for every zoo architecture and several sparsities; it counts only kept weights and
// round-trips through its artifact.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "data/fashion_mnist.h"
#include "data/fsdd.h"
#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace {

using fp::ModelPtr;
using fp::ModelSpec;

double width_for(const std::string& arch) {
  if (arch == "mlp" || arch == "cnn") return 1.0;
  if (arch == "resnet50" || arch == "vgg19") return 0.125;
  return 0.25;
}

const torch::Tensor& fashion_inputs() {
  static torch::Tensor x = [] {
    auto d = fp::load_fashion_mnist(fp::kDefaultFashionMnistDir, fp::Split::kTest, 96);
    REQUIRE(d.ok());
    return d.value().inputs;
  }();
  return x;
}

// A model that looks trained where compaction cares: BatchNorm statistics from real
// data, non-trivial BatchNorm scales and shifts, random biases.
ModelPtr prepared(const ModelSpec& spec, const torch::Tensor& x) {
  torch::manual_seed(7);
  auto built = fp::build_model(spec);
  REQUIRE(built.ok());
  ModelPtr m = built.value();
  torch::NoGradGuard no_grad;
  for (auto& item : m->named_parameters(true)) {
    const std::string& key = item.key();
    const bool bn_scale = key.find("bn.weight") != std::string::npos;
    if (bn_scale || key.find("bias") != std::string::npos)
      item.value().copy_(torch::randn_like(item.value()) * 0.5 + (bn_scale ? 1.0 : 0.0));
  }
  m->train();
  m->forward(x);
  m->eval();
  return m;
}

// `prepared(arch at width)` Fine-Pruned to `sparsity` on the Fashion-MNIST inputs.
ModelPtr fine_pruned(const std::string& arch, double width, double sparsity) {
  ModelSpec spec;
  spec.arch = arch;
  spec.width_mult = width;
  ModelPtr m = prepared(spec, fashion_inputs());
  fp::PruneConfig cfg;
  cfg.target_sparsity = sparsity;
  REQUIRE(fp::fine_prune(*m, fashion_inputs(), cfg).ok());
  return m;
}

// Max |a - b| relative to the logits' scale (pruned classes are -1e9 in both).
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  auto live = a > fp::kPrunedLogit / 2;
  REQUIRE(torch::equal(live, b > fp::kPrunedLogit / 2));
  auto av = a.masked_select(live), bv = b.masked_select(live);
  const double scale = std::max(1.0, av.abs().max().item<double>());
  return (av - bv).abs().max().item<double>() / scale;
}

void check_compaction(const ModelSpec& spec, const torch::Tensor& x, double sparsity) {
  ModelPtr masked = prepared(spec, x);
  if (sparsity > 0) {
    fp::PruneConfig cfg;
    cfg.target_sparsity = sparsity;
    auto report = fp::fine_prune(*masked, x, cfg);
    REQUIRE(report.ok());
    masked->eval();
  }
  auto compacted = fp::compact(*masked);
  REQUIRE(compacted.ok());
  ModelPtr c = compacted.value().model;
  const auto& stats = compacted.value().stats;

  torch::NoGradGuard no_grad;
  const torch::Tensor want = masked->forward(x), got = c->forward(x);
  REQUIRE(got.sizes() == want.sizes());
  const double diff = relative_difference(want, got);
  INFO(spec.arch << " at " << sparsity << ": relative difference " << diff);
  REQUIRE(diff <= 1e-5);
  REQUIRE(torch::equal(want.argmax(1), got.argmax(1)));

  // Kept units: exactly the widths; every live unit kept, nothing grows.
  REQUIRE(stats.weights == fp::count_prunable_weights(*c));
  REQUIRE(stats.parameters == fp::count_parameters(*c));
  const auto& ml = masked->layers();
  const auto& cl = c->layers();
  int64_t live_units = 0, kept_units = 0;
  for (size_t i = 0; i < ml.size(); ++i) {
    REQUIRE(cl[i]->num_units() <= ml[i]->num_units());
    REQUIRE(cl[i]->num_units() >= 1);
    live_units += ml[i]->num_active_units();
    kept_units += cl[i]->num_units();
  }
  // Every live unit is kept, except a depthwise group's expand unit whose depthwise unit
  // was pruned: nothing reads it any more.
  if (spec.arch != "mobilenetv2") REQUIRE(kept_units >= live_units);
  if (sparsity == 0) REQUIRE(stats.weights == fp::count_prunable_weights(*masked));
  if (sparsity >= 0.7) REQUIRE(stats.weights < fp::count_prunable_weights(*masked));

  // Honest MACs: the compact model's dense MACs are what it executes, no more than the
  // parent's; effective MACs credit removed units' downstream inputs.
  const fp::MacCount mc = fp::count_macs(*masked);
  REQUIRE(mc.effective <= mc.compact);
  REQUIRE(mc.compact <= mc.dense);
  if (sparsity >= 0.7) REQUIRE(mc.compact < mc.dense);

  // Compacting again changes nothing.
  auto again = fp::compact(*c);
  REQUIRE(again.ok());
  REQUIRE(again.value().model->spec() == c->spec());
  REQUIRE(torch::equal(again.value().model->forward(x), got));

  // Artifact round trip: same outputs, only kept weights stored.
  fp::ArtifactInfo info;
  const std::string bytes = fp::serialize_model(*c, {{"kind", "compact"}}, &info);
  auto loaded = fp::deserialize_model(bytes);
  REQUIRE(loaded.ok());
  REQUIRE(loaded.value()->spec() == c->spec());
  REQUIRE(torch::equal(loaded.value()->forward(x), got));
  int64_t kept_bytes = 0;
  for (const auto& item : c->named_parameters(true)) kept_bytes += item.value().numel() * 4;
  for (const auto& item : c->named_buffers(true))
    if (item.key().find("running_") != std::string::npos) kept_bytes += item.value().numel() * 4;
  INFO("artifact " << bytes.size() << " bytes, kept tensors " << kept_bytes);
  REQUIRE(static_cast<double>(bytes.size()) <= 1.1 * kept_bytes + 64 * 1024);
}

}  // namespace

TEST_CASE("compact models equal masked models on Fashion-MNIST, every zoo model", "[compact]") {
  const torch::Tensor& x = fashion_inputs();
  for (const auto& arch : fp::known_architectures()) {
    ModelSpec spec;
    spec.arch = arch;
    spec.width_mult = width_for(arch);
    for (double sparsity : {0.0, 0.3, 0.5, 0.75}) {
      DYNAMIC_SECTION(arch << " at sparsity " << sparsity) { check_compaction(spec, x, sparsity); }
    }
  }
}

TEST_CASE("compact models equal masked models on FSDD log-mel", "[compact][fsdd]") {
  std::string dir = fp::default_fsdd_dir();
  if (dir.empty()) dir = std::string(FP_SOURCE_DIR) + "/../shared/data/fsdd";
  if (!std::filesystem::is_directory(dir)) {
    WARN("FSDD not found: test not run");
    return;
  }
  auto data = fp::load_fsdd(dir);
  REQUIRE(data.ok());
  const torch::Tensor x = data.value().inputs.slice(0, 0, 64);
  for (const std::string arch : {"vgg7", "cnn", "resnet18", "mobilenetv2"}) {
    ModelSpec spec;
    spec.arch = arch;
    spec.height = x.size(2);
    spec.width = x.size(3);
    spec.width_mult = width_for(arch);
    for (double sparsity : {0.0, 0.7}) {
      DYNAMIC_SECTION(arch << " at sparsity " << sparsity) { check_compaction(spec, x, sparsity); }
    }
  }
}

TEST_CASE("a compact MLP counts exactly the weights of live units reading live inputs",
          "[compact]") {
  const torch::Tensor& x = fashion_inputs();
  for (const std::string arch : {"mlp", "cnn"}) {
    ModelSpec spec;
    spec.arch = arch;
    ModelPtr m = prepared(spec, x);
    fp::PruneConfig cfg;
    cfg.target_sparsity = 0.6;
    REQUIRE(fp::fine_prune(*m, x, cfg).ok());
    // A chain: layer i's live weights are live units x live inputs (x kernel, positions).
    const auto& layers = m->layers();
    const int64_t positions = arch == "cnn" ? 49 : 1;
    int64_t live = 0, previous = -1;
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto& o = layers[i]->options();
      const int64_t inputs = previous < 0 ? o.in : previous * (i == 2 ? positions : 1);
      live += layers[i]->num_active_units() * inputs * o.kernel * o.kernel;
      previous = layers[i]->num_active_units();
    }
    auto c = fp::compact(*m);
    REQUIRE(c.ok());
    REQUIRE(c.value().stats.coupled_dead_weights == 0);
    REQUIRE(c.value().stats.weights == live);
  }
}

TEST_CASE("residual streams: a channel is removed only when every block pruned it", "[compact]") {
  ModelSpec spec;
  spec.arch = "resnet18";
  spec.width_mult = 0.125;  // 8-channel stage 1
  ModelPtr m = prepared(spec, fashion_inputs());
  // Stage 1's stream: stem + layer1_0_conv2 + layer1_1_conv2. Channel 0 pruned in all,
  // channel 1 pruned only in the stem.
  for (const std::string name : {"stem", "layer1_0_conv2", "layer1_1_conv2"})
    m->find_layer(name)->unit_mask()[0] = 0.0f;
  m->find_layer("stem")->unit_mask()[1] = 0.0f;
  auto c = fp::compact(*m);
  REQUIRE(c.ok());
  ModelPtr cm = c.value().model;
  REQUIRE(cm->find_layer("stem")->num_units() == 7);
  REQUIRE(cm->find_layer("layer1_0_conv1")->options().in == 7);
  REQUIRE(cm->find_layer("layer1_1_conv2")->num_units() == 7);
  // The stem's channel 1 stays as a zero row (it is coupled to live block outputs).
  REQUIRE(c.value().stats.coupled_dead_weights == cm->find_layer("stem")->weights_per_unit());
  torch::NoGradGuard no_grad;
  const torch::Tensor& x = fashion_inputs();
  REQUIRE(relative_difference(m->forward(x), cm->forward(x)) <= 1e-5);
}

TEST_CASE("depthwise groups: a pruned depthwise unit takes its expand unit along", "[compact]") {
  ModelSpec spec;
  spec.arch = "mobilenetv2";
  spec.width_mult = 0.25;
  ModelPtr m = prepared(spec, fashion_inputs());
  auto expand = m->find_layer("block1_expand"), dw = m->find_layer("block1_dw");
  dw->unit_mask()[3] = 0.0f;      // removes expand 3, dw 3, project input 3
  expand->unit_mask()[5] = 0.0f;  // dw 5 still live: expand 5 stays as a zero row
  auto c = fp::compact(*m);
  REQUIRE(c.ok());
  ModelPtr cm = c.value().model;
  REQUIRE(cm->find_layer("block1_expand")->num_units() == expand->num_units() - 1);
  REQUIRE(cm->find_layer("block1_dw")->num_units() == dw->num_units() - 1);
  REQUIRE(cm->find_layer("block1_project")->options().in == dw->num_units() - 1);
  torch::NoGradGuard no_grad;
  const torch::Tensor& x = fashion_inputs();
  REQUIRE(relative_difference(m->forward(x), cm->forward(x)) <= 1e-5);
}

TEST_CASE("compact classifiers keep the original class labels", "[compact]") {
  ModelSpec spec;
  spec.arch = "mlp";
  ModelPtr m = prepared(spec, fashion_inputs());
  auto out = m->layers().back();
  for (int k : {0, 3, 4, 9}) out->unit_mask()[k] = 0.0f;
  auto c = fp::compact(*m);
  REQUIRE(c.ok());
  auto cout = c.value().model->layers().back();
  REQUIRE(cout->num_units() == 6);
  REQUIRE(cout->class_ids().equal(torch::tensor({1, 2, 5, 6, 7, 8}, torch::kLong)));
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = c.value().model->forward(fashion_inputs());
  REQUIRE(logits.size(1) == 10);
  REQUIRE((logits.select(1, 3) == fp::kPrunedLogit).all().item<bool>());
  REQUIRE(torch::equal(logits.argmax(1), m->forward(fashion_inputs()).argmax(1)));
}

TEST_CASE("a compact model holds no weight-sized masks: compacted, loaded or cloned",
          "[compact][artifact]") {
  // Its weight masks are ones it never reads; stored whole they doubled the memory of a
  // compact model, whose point is to be small.
  ModelPtr m = fine_pruned("resnet18", 0.25, 0.4);
  auto c = fp::compact(*m);
  REQUIRE(c.ok());
  fp::testing::TempDir dir("compact_masks");
  const std::string path = dir.file("compact.fpm");
  REQUIRE(fp::save_model(*c.value().model, path).ok());
  auto loaded = fp::load_model(path);
  REQUIRE(loaded.ok());
  const ModelPtr cloned = fp::clone_model(*c.value().model);
  const torch::Tensor x = fashion_inputs().slice(0, 0, 16);
  torch::NoGradGuard no_grad;
  m->eval();
  const torch::Tensor masked_out = m->forward(x);
  for (const auto& [name, model] : {std::pair<std::string, ModelPtr>{"compacted", c.value().model},
                                    {"loaded", loaded.value()},
                                    {"cloned", cloned}}) {
    INFO(name);
    int64_t mask_bytes = 0, weight_bytes = 0;
    for (const auto& layer : model->layers()) {
      mask_bytes += layer->weight_mask().storage().nbytes();
      weight_bytes += layer->weight().numel() * 4;
      CHECK((layer->weight_mask() == 1).all().item<bool>());
    }
    CHECK(mask_bytes <= static_cast<int64_t>(model->layers().size() * sizeof(float)));
    CHECK(weight_bytes > 100000);
    model->eval();
    CHECK(torch::allclose(model->forward(x), masked_out, 1e-4, 1e-4));
    // Its zero weights are counted as the weights that really act.
    int64_t zero = 0;
    for (const auto& layer : model->layers())
      zero += (layer->effective_weight() == 0).sum().item<int64_t>();
    CHECK(fp::measure_sparsity(*model).zeroed_weights == zero);
    CHECK(zero > 0);
  }
}

TEST_CASE("compact artifacts: saved, loaded, damaged ones refused", "[compact][artifact]") {
  ModelPtr m = fine_pruned("cnn", 1.0, 0.5);
  auto c = fp::compact(*m);
  REQUIRE(c.ok());
  fp::testing::TempDir dir("compact");
  const std::string path = dir.file("compact.fpm");
  fp::ArtifactInfo saved;
  REQUIRE(fp::save_model(*c.value().model, path, {}, &saved).ok());
  fp::ArtifactInfo info;
  auto loaded = fp::load_model(path, &info);
  REQUIRE(loaded.ok());
  REQUIRE(info.spec.is_compact());
  REQUIRE(info.sha256 == saved.sha256);
  // The dense masked model's artifact is larger than the compact one's.
  REQUIRE(saved.size_bytes < fp::serialize_model(*m).size());
  // What telemetry reports as the pruned model's artifact size is the compact file's.
  REQUIRE(fp::measure_cost(*m).compact_artifact_bytes == static_cast<int64_t>(saved.size_bytes));

  std::string bytes = fp::testing::read_file(path);
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x10;
  auto bad = fp::deserialize_model(flipped);
  REQUIRE_FALSE(bad.ok());
  REQUIRE_THAT(bad.status().message(), Catch::Contains("SHA-256 mismatch"));
  auto cut = fp::deserialize_model(bytes.substr(0, bytes.size() - 100));
  REQUIRE_FALSE(cut.ok());

  // A spec whose widths do not fit the architecture is refused with a reason.
  ModelSpec wrong = c.value().model->spec();
  wrong.widths.pop_back();
  auto built = fp::build_model(wrong);
  REQUIRE_FALSE(built.ok());
  REQUIRE_THAT(built.status().message(), Catch::Contains("widths"));
}
