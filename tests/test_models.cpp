// The model zoo: every architecture builds for the small inputs the project uses,
// has the expected prunable layers, and honours unit masks; plus cloning and specs.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "models/pooling.h"
#include "models/zoo.h"
#include "prune/activation_stats.h"
#include "prune/prune_config.h"

namespace {

using fp::ModelSpec;

ModelSpec make_spec(const std::string& arch, int64_t size, double width_mult = 0.25,
                    int64_t classes = 10) {
  ModelSpec s;
  s.arch = arch;
  s.in_channels = 1;
  s.height = size;
  s.width = size;
  s.num_classes = classes;
  s.width_mult = width_mult;
  return s;
}

fp::ModelPtr build(const ModelSpec& spec) {
  torch::manual_seed(7);
  auto built = fp::build_model(spec);
  INFO(spec.to_json() << ": " << built.status().to_string());
  REQUIRE(built.ok());
  return built.value();
}

// The last conv layer: where the remaining spatial size shows how often we pooled.
fp::PrunableLayer last_conv(const fp::PrunableNet& m) {
  fp::PrunableLayer found(nullptr);
  for (const auto& l : m.layers())
    if (l->kind() == fp::LayerKind::kConv) found = l;
  return found;
}

struct ArchCase {
  std::string arch;
  size_t layers;        // prunable layers, output layer included
  int64_t last_pos_28;  // output positions (H*W) of the last conv for a 28x28 input
  int64_t last_pos_32;  // ... and for a 32x32 input
};

// Layer counts: convs + hidden FC + output (VGG); stem + 2 or 3 convs per block +
// projection shortcuts + fc (ResNet); stem + 2 convs for the t=1 block + 3 per other
// block (16) + head + fc (MobileNetV2).
const std::vector<ArchCase> kCases = {
    {"mlp", 3, -1, -1},
    {"cnn", 4, 14 * 14, 16 * 16},
    {"vgg7", 5 + 2, 7 * 7, 8 * 8},                  // 2 pools before conv5
    {"vgg11", 8 + 2, 1, 2 * 2},                     // 28->14->7->3->1; 32->...->2
    {"vgg19", 16 + 2, 1, 2 * 2},                    // same pooling as vgg11
    {"resnet18", 1 + 2 * 8 + 3 + 1, 4 * 4, 4 * 4},  // three stride-2 stages
    {"resnet50", 1 + 3 * 16 + 4 + 1, 4 * 4, 4 * 4},
    {"mobilenetv2", 1 + 2 + 3 * 16 + 1 + 1, 4 * 4, 4 * 4},
};

}  // namespace

TEST_CASE("2x2 max pooling without gradients gives torch's values, bit for bit", "[models]") {
  torch::manual_seed(8);
  torch::NoGradGuard no_grad;
  // Even and odd maps (an odd last row and column are dropped, as torch floors), NaN
  // (taken, as torch does), and ties of -0 and 0 (the first kept).
  // Widths below, at and past the kernel's eight windows a step, rows whose last step
  // reads into the next rows, and a NaN, -0 and 0 inside a step's lanes.
  for (auto shape : {std::vector<int64_t>{3, 5, 28, 28}, std::vector<int64_t>{2, 3, 7, 9},
                     std::vector<int64_t>{2, 4, 14, 14}, std::vector<int64_t>{1, 2, 2, 2},
                     std::vector<int64_t>{2, 3, 33, 35}, std::vector<int64_t>{1, 3, 4, 16},
                     std::vector<int64_t>{1, 2, 5, 40}}) {
    INFO(torch::IntArrayRef(shape));
    auto x = torch::randn(shape);
    x[0][0][0][1] = std::nanf("");
    if (shape[3] >= 12) {
      x[0][0][1][10] = std::nanf("");
      x[0][0][0][11] = -0.0f;
      x[0][0][1][11] = 0.0f;
      x[0][0][0][10] = -3.0f;
    }
    x[0][1][1][0] = -0.0f;
    x[0][1][1][1] = 0.0f;
    x[0][1][0][0] = -1.0f;
    x[0][1][0][1] = -2.0f;
    auto want = torch::max_pool2d(x, 2);
    auto got = max_pool2x2(x);
    REQUIRE(got.sizes() == want.sizes());
    CHECK(torch::equal(torch::isnan(got), torch::isnan(want)));
    CHECK(torch::equal(torch::nan_to_num(got), torch::nan_to_num(want)));
    CHECK(torch::equal(torch::signbit(got), torch::signbit(want)));  // -0 stays -0
  }
  SECTION("on threads that split the planes, no thread writes into another's outputs") {
    // Each row's last step writes past the row into the next one, which the same thread
    // pools afterwards; at the end of a thread's planes it must not. 7 outputs a row: every
    // row's step spills. Repeated, since a race would show only sometimes.
    const int threads = torch::get_num_threads();
    torch::set_num_threads(2);
    auto x = torch::randn({256, 64, 14, 14});  // long enough for both threads to overlap
    auto want = torch::max_pool2d(x, 2);
    for (int k = 0; k < 20; ++k) CHECK(torch::equal(max_pool2x2(x), want));
    torch::set_num_threads(threads);
  }
  CHECK_THROWS(max_pool2x2(torch::randn({1, 2, 1, 6})));  // too small a map, as torch says
  SECTION("with a gradient to record, torch pools and the gradient flows") {
    torch::AutoGradMode grad(true);
    auto x = torch::randn({2, 3, 6, 6}, torch::requires_grad());
    max_pool2x2(x).sum().backward();
    REQUIRE(x.grad().defined());
    CHECK(x.grad().sum().item<float>() == 2 * 3 * 3 * 3);  // one maximum per window
  }
}

TEST_CASE("every architecture's logits are the same with and without gradients recorded",
          "[models]") {
  // Without gradients the pools skip their indices (models/pooling.h) and the activations
  // overwrite their layer's output: the values must be those of the training path.
  for (const auto& c : kCases) {
    INFO(c.arch);
    torch::manual_seed(9);
    auto model = build_model(fp::testing::test_spec(c.arch, 1, 28, 28, 10, 0.25)).value();
    model->eval();
    auto x = torch::randn({3, 1, 28, 28});
    torch::Tensor with_grad = model->forward(x);
    REQUIRE(with_grad.requires_grad());
    torch::NoGradGuard no_grad;
    CHECK(torch::equal(model->forward(x), with_grad.detach()));
  }
}

namespace {

// Running statistics, scale and shift far from the identity for a BatchNorm of `units` (mean
// about N(0, 9), variance in [var_floor, var_floor + 4)).
template <typename BatchNorm>
void set_far_from_identity(BatchNorm& bn, int64_t units, double var_floor) {
  torch::NoGradGuard no_grad;
  bn->running_mean.copy_(torch::randn({units}) * 3);
  bn->running_var.copy_(torch::rand({units}) * 4 + var_floor);
  bn->weight.copy_(torch::randn({units}));
  bn->bias.copy_(torch::randn({units}));
}

// A 3 x 3 same-padded conv or a linear layer with BatchNorm; the linear one keeps a bias,
// which folds into the shift.
fp::PrunableLayer batch_norm_layer(bool conv, int64_t in, int64_t out, fp::Activation a) {
  fp::LayerOptions o =
      conv ? fp::conv_bn_options(in, out, 3, 1, a) : fp::linear_options(in, out, a);
  o.batch_norm = true;
  o.bias = !conv;
  return fp::PrunableLayer(o);
}

}  // namespace

TEST_CASE("evaluating, BatchNorm folded into its layer gives BatchNorm's values", "[models]") {
  // A conv and a linear layer with BatchNorm whose running statistics, scale and shift
  // are far from the identity, against the unfolded conv/linear then BatchNorm.
  torch::manual_seed(11);
  for (bool conv : {true, false}) {
    INFO((conv ? "conv" : "linear"));
    fp::PrunableLayer layer = batch_norm_layer(conv, conv ? 3 : 5, 6, fp::Activation::kNone);
    torch::NoGradGuard no_grad;
    torch::Tensor x = conv ? torch::randn({4, 3, 7, 7}) : torch::randn({4, 5});
    torch::Tensor reference;
    if (conv) {
      set_far_from_identity(layer->batch_norm(), 6, 0.05);
      auto bn = layer->batch_norm();
      reference = torch::nn::functional::batch_norm(torch::conv2d(x, layer->weight(), {}, 1, 1),
                                                    bn->running_mean, bn->running_var,
                                                    torch::nn::functional::BatchNormFuncOptions()
                                                        .weight(bn->weight)
                                                        .bias(bn->bias)
                                                        .eps(bn->options.eps()));
    } else {
      set_far_from_identity(layer->batch_norm1d(), 6, 0.05);
      auto bn = layer->batch_norm1d();
      reference = torch::nn::functional::batch_norm(
          torch::linear(x, layer->weight(), layer->bias()), bn->running_mean, bn->running_var,
          torch::nn::functional::BatchNormFuncOptions()
              .weight(bn->weight)
              .bias(bn->bias)
              .eps(bn->options.eps()));
    }
    layer->eval();
    CHECK(torch::allclose(layer->forward(x), reference, 1e-5, 1e-5));
    // The folded weights are kept between calls; a later edit of anything they came from
    // (the running mean, a weight mask) is seen at the next call.
    auto reference_now = [&] {
      auto bn_mean = conv ? layer->batch_norm()->running_mean : layer->batch_norm1d()->running_mean;
      auto bn_var = conv ? layer->batch_norm()->running_var : layer->batch_norm1d()->running_var;
      auto gamma = conv ? layer->batch_norm()->weight : layer->batch_norm1d()->weight;
      auto beta = conv ? layer->batch_norm()->bias : layer->batch_norm1d()->bias;
      torch::Tensor w = layer->weight() * layer->weight_mask();
      torch::Tensor pre = conv ? torch::conv2d(x, w, {}, 1, 1) : torch::linear(x, w, layer->bias());
      return torch::nn::functional::batch_norm(
          pre, bn_mean, bn_var,
          torch::nn::functional::BatchNormFuncOptions().weight(gamma).bias(beta).eps(1e-5));
    };
    (conv ? layer->batch_norm()->running_mean : layer->batch_norm1d()->running_mean).add_(0.5);
    CHECK(torch::allclose(layer->forward(x), reference_now(), 1e-5, 1e-5));
    CHECK_FALSE(torch::allclose(layer->forward(x), reference, 1e-3, 1e-3));
    layer->mutable_weight_mask().view({-1})[0] = 0.0f;
    CHECK(torch::allclose(layer->forward(x), reference_now(), 1e-5, 1e-5));
    // A BatchNorm training normalizes by the batch's own statistics (nothing is folded),
    // so each unit's mean over the batch is its shift: with the whole layer training, and
    // with only the BatchNorm training, the layer evaluating (as AdaBN runs it).
    torch::Tensor beta = conv ? layer->batch_norm()->bias : layer->batch_norm1d()->bias;
    for (bool whole_layer : {true, false}) {
      INFO((whole_layer ? "layer training" : "only its BatchNorm training"));
      if (whole_layer) {
        layer->train();
      } else {
        layer->eval();
        if (conv) layer->batch_norm()->train();
        if (!conv) layer->batch_norm1d()->train();
      }
      torch::Tensor trained = layer->forward(x);
      CHECK_FALSE(torch::allclose(trained, reference, 1e-3, 1e-3));
      torch::Tensor unit_means = conv ? trained.mean({0, 2, 3}) : trained.mean({0});
      CHECK(torch::allclose(unit_means, beta, 1e-4, 1e-4));
    }
  }
}

TEST_CASE("BatchNorm folds to the same bits without gradients (its loop) as with them",
          "[models]") {
  // Without gradients the fold runs as one loop over plain float tensors; with them, as the
  // tensor expression autograd needs. Both must give the same outputs bit for bit, so that
  // a model evaluates the same whichever path folded it.
  torch::manual_seed(12);
  for (bool conv : {true, false}) {
    INFO((conv ? "conv" : "linear"));
    fp::PrunableLayer layer = batch_norm_layer(conv, conv ? 5 : 7, 9, fp::Activation::kReLU);
    {
      torch::NoGradGuard no_grad;
      if (conv) set_far_from_identity(layer->batch_norm(), 9, 1e-4);
      if (!conv) set_far_from_identity(layer->batch_norm1d(), 9, 1e-4);
      if (!conv) layer->bias().copy_(torch::randn({9}));
      layer->mutable_weight_mask().copy_(
          (torch::rand(layer->weight().sizes()) > 0.3).to(torch::kFloat));
    }
    layer->eval();
    const torch::Tensor x = conv ? torch::randn({4, 5, 6, 6}) : torch::randn({4, 7});
    const torch::Tensor with_grad = layer->forward(x).detach();
    REQUIRE(torch::GradMode::is_enabled());
    torch::Tensor without;
    {
      torch::NoGradGuard no_grad;
      without = layer->forward(x);
    }
    CHECK(torch::equal(with_grad, without));
    CHECK(with_grad.gt(0).any().item<bool>());
  }
}

TEST_CASE("every architecture builds for 28x28 and 32x32 inputs and yields [N, classes] logits",
          "[models]") {
  for (const auto& c : kCases) {
    for (int64_t size : {28, 32}) {
      INFO(c.arch << " at " << size << "x" << size);
      auto spec = make_spec(c.arch, size, 0.25, 7);
      auto m = build(spec);
      REQUIRE(m->spec() == spec);
      REQUIRE(m->layers().size() == c.layers);
      REQUIRE(m->layer_names().size() == c.layers);
      REQUIRE(m->layers().back()->is_output());
      REQUIRE(m->layer_names().back() == "fc_out");
      REQUIRE(m->layers().back()->num_units() == 7);
      for (size_t i = 0; i + 1 < m->layers().size(); ++i)
        REQUIRE_FALSE(m->layers()[i]->is_output());

      torch::Tensor y = m->forward(torch::randn({3, 1, size, size}));
      REQUIRE(y.sizes() == torch::IntArrayRef({3, 7}));
      REQUIRE(torch::isfinite(y).all().item<bool>());
      if (c.last_pos_28 > 0)
        REQUIRE(last_conv(*m)->output_positions() == (size == 28 ? c.last_pos_28 : c.last_pos_32));
    }
  }
}

TEST_CASE("every model run segment by segment gives its whole forward's logits", "[models]") {
  torch::manual_seed(21);
  for (const auto& c : kCases) {
    INFO(c.arch);
    auto m = build(make_spec(c.arch, 28, 0.25, 7));
    m->eval();
    torch::NoGradGuard no_grad;
    const auto x = torch::randn({3, 1, 28, 28});
    const size_t n = m->layers().size();
    const auto& starts = m->segment_starts();
    REQUIRE(starts.size() > 1);
    CHECK(starts.front() == 0);
    // Sequential models have a segment per layer; residual ones one per block.
    const bool sequential = c.arch == "mlp" || c.arch == "cnn" || c.arch.rfind("vgg", 0) == 0;
    CHECK((starts.size() == n) == sequential);
    const torch::Tensor whole = m->forward(x);
    for (size_t k : starts) {
      INFO("split before layer " << k);
      const torch::Tensor read = m->forward_layers(x, 0, k);
      CHECK(torch::equal(m->forward_layers(read, k, n), whole));
    }
    CHECK(torch::equal(m->forward_layers(whole, n, n), whole));
    CHECK_THROWS(m->forward_layers(x, starts[1], starts[0]));
    CHECK_THROWS(m->forward_layers(x, 0, n + 1));
    if (!sequential)  // layer 2 is inside the first block
      CHECK_THROWS_WITH(m->forward_layers(x, 0, 2), Catch::Contains("are not segment starts"));
  }
}

TEST_CASE("zoo models accept odd and tiny input sizes", "[models]") {
  for (const std::string arch : {"vgg7", "vgg11", "vgg19", "resnet18", "resnet50", "mobilenetv2"}) {
    for (auto hw : {std::pair<int64_t, int64_t>{4, 4}, {5, 9}, {13, 40}}) {
      INFO(arch << " at " << hw.first << "x" << hw.second);
      auto spec = make_spec(arch, 4, 0.125, 3);
      spec.height = hw.first;
      spec.width = hw.second;
      auto m = build(spec);
      torch::Tensor y = m->forward(torch::randn({2, 1, hw.first, hw.second}));
      REQUIRE(y.sizes() == torch::IntArrayRef({2, 3}));
    }
  }
}

TEST_CASE("width multiplier scales channels", "[models]") {
  REQUIRE(fp::scaled_channels(64, 0.25) == 16);
  REQUIRE(fp::scaled_channels(3, 0.1) == 1);  // never below one channel
  auto r18 = build(make_spec("resnet18", 28));
  REQUIRE(r18->layers().front()->num_units() == 16);
  REQUIRE(r18->layers().back()->options().in == 128);  // 512 * 0.25
  auto r50 = build(make_spec("resnet50", 28));
  REQUIRE(r50->layers().back()->options().in == 512);  // 512 * 0.25 * expansion 4
  auto mb = build(make_spec("mobilenetv2", 28));
  REQUIRE(mb->find_layer("head")->num_units() == 320);  // 1280 * 0.25
  REQUIRE(mb->find_layer("block1_dw")->options().groups ==
          mb->find_layer("block1_dw")->num_units());
  auto v7 = build(make_spec("vgg7", 28));
  REQUIRE(v7->find_layer("fc1")->num_units() == 64);  // 256 * 0.25
  REQUIRE(v7->find_layer("conv5")->num_units() == 64);
}

TEST_CASE("full-width parameter counts match the published small-input topologies", "[models]") {
  auto count = [](const std::string& arch) {
    auto spec = make_spec(arch, 32, 1.0, 10);
    spec.in_channels = 3;
    return fp::count_parameters(*build(spec));
  };
  // CIFAR-10 ResNet-18 / -50 (3x3 stem, no max-pool), as in the widely used
  // kuangliu/pytorch-cifar implementations.
  CHECK(count("resnet18") == 11173962);
  CHECK(count("resnet50") == 23520842);
  // torchvision mobilenet_v2 has 3,504,872 parameters with 1000 classes; strides do
  // not change the count, so 10 classes give 3504872 - 1281000 + 12810.
  CHECK(count("mobilenetv2") == 2236682);
  // VGG-11: bias-free 3x3 convs 3-64-128-256-256-512-512-512-512, BN (2 per channel),
  // FC 512->512 and 512->10: 9217728 + 5504 + 262656 + 5130.
  CHECK(count("vgg11") == 9491018);
}

TEST_CASE("a masked unit outputs exactly zero in every layer of every architecture", "[models]") {
  for (const auto& c : kCases) {
    INFO(c.arch);
    auto m = build(make_spec(c.arch, 32));
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i + 1 < m->layers().size(); ++i) {
      auto layer = m->layers()[i];
      INFO("layer " << m->layer_names()[i]);
      const int64_t unit = layer->num_units() / 2;
      layer->unit_mask()[unit] = 0.0f;
      const auto& o = layer->options();
      torch::Tensor x =
          o.kind == fp::LayerKind::kConv ? torch::randn({4, o.in, 6, 6}) : torch::randn({4, o.in});
      torch::Tensor y = layer->forward(x);
      REQUIRE(y.size(1) == layer->num_units());
      REQUIRE(torch::equal(y.select(1, unit), torch::zeros_like(y.select(1, unit))));
      REQUIRE(y.abs().sum().item<float>() > 0.0f);  // the other units still work
    }
  }
}

TEST_CASE("a layer that ran with masks of ones sees every later mask edit", "[models]") {
  // forward() skips multiplying by masks of ones; it must notice each way masks change.
  auto m = build(make_spec("cnn", 28));
  torch::NoGradGuard no_grad;
  m->eval();
  for (size_t i = 0; i < m->layers().size(); ++i) {
    auto layer = m->layers()[i];
    INFO("layer " << m->layer_names()[i]);
    const auto& o = layer->options();
    torch::Tensor x =
        o.kind == fp::LayerKind::kConv ? torch::randn({3, o.in, 6, 6}) : torch::randn({3, o.in});
    const torch::Tensor dense = layer->forward(x);
    const int64_t unit = layer->num_units() - 1;
    const float pruned_value = layer->is_output() ? fp::kPrunedLogit : 0.0f;

    layer->unit_mask()[unit] = 0.0f;  // an in-place edit through a view
    torch::Tensor y = layer->forward(x);
    CHECK((y.select(1, unit) == pruned_value).all().item<bool>());
    layer->unit_mask().copy_(torch::ones_like(layer->unit_mask()));
    CHECK(torch::equal(layer->forward(x), dense));
    layer->unit_mask().index_fill_(0, torch::tensor({unit}), 0.0);
    CHECK((layer->forward(x).select(1, unit) == pruned_value).all().item<bool>());
    layer->unit_mask().fill_(1.0);
    CHECK(torch::equal(layer->forward(x), dense));

    // A weight mask: the same output as a layer whose weight has those weights zeroed.
    layer->mutable_weight_mask().view({-1}).index_fill_(0, torch::tensor({0, 1, 2}), 0.0);
    torch::Tensor masked = layer->forward(x);
    CHECK_FALSE(torch::equal(masked, dense));
    torch::Tensor saved = layer->weight().clone();
    layer->weight().view({-1}).index_fill_(0, torch::tensor({0, 1, 2}), 0.0);
    layer->mutable_weight_mask().fill_(1.0);
    CHECK(torch::equal(layer->forward(x), masked));
    layer->weight().copy_(saved);
    CHECK(torch::equal(layer->forward(x), dense));
  }
}

TEST_CASE("masked units stay silent inside the network and a masked class gets probability 0",
          "[models]") {
  for (const auto& c : kCases) {
    INFO(c.arch);
    auto m = build(make_spec(c.arch, 28));
    torch::NoGradGuard no_grad;
    std::vector<fp::PrunableLayer> layers = m->layers();  // non-const holders
    const size_t n = layers.size();
    std::vector<fp::ActivationStats> stats(n);
    for (size_t i = 0; i < n; ++i) {
      layers[i]->set_recorder(&stats[i]);
      if (i + 1 < n) layers[i]->unit_mask()[0] = 0.0f;
    }
    const int64_t pruned_class = 3;
    layers.back()->unit_mask()[pruned_class] = 0.0f;
    m->eval();
    torch::Tensor logits = m->forward(torch::randn({5, 1, 28, 28}));
    for (auto& l : layers) l->set_recorder(nullptr);

    for (size_t i = 0; i + 1 < n; ++i) {
      INFO("layer " << m->layer_names()[i]);
      REQUIRE(stats[i].samples == 5);
      REQUIRE(stats[i].sum_sq[0].item<double>() == 0.0);
    }
    torch::Tensor probs = torch::softmax(logits, 1);
    REQUIRE(torch::equal(probs.select(1, pruned_class), torch::zeros({5})));
    REQUIRE((probs.argmax(1) != pruned_class).all().item<bool>());
    REQUIRE(stats.back().sum[pruned_class].item<double>() == 0.0);
  }
}

TEST_CASE("clone_model copies state exactly into independent storage", "[models]") {
  for (const std::string arch : {"resnet18", "mobilenetv2", "vgg7"}) {
    INFO(arch);
    auto m = build(make_spec(arch, 28));
    {
      // Non-trivial BatchNorm statistics and masks, so that buffers matter.
      torch::NoGradGuard no_grad;
      m->train();
      for (int i = 0; i < 2; ++i) m->forward(torch::randn({4, 1, 28, 28}));
      fp::PrunableLayer l1 = m->layers()[1], l2 = m->layers()[2];
      l1->unit_mask()[0] = 0.0f;
      l2->mutable_weight_mask().view(-1)[5] = 0.0f;
    }
    m->eval();
    auto copy = fp::clone_model(*m);
    REQUIRE(copy->spec() == m->spec());
    REQUIRE_FALSE(copy->is_training());

    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::randn({3, 1, 28, 28});
    torch::Tensor before = m->forward(x);
    REQUIRE(torch::equal(before, copy->forward(x)));

    auto mp = m->named_parameters(true), cp = copy->named_parameters(true);
    REQUIRE(mp.size() == cp.size());
    for (const auto& item : mp) {
      INFO(item.key());
      REQUIRE(torch::equal(item.value(), cp[item.key()]));
      REQUIRE(item.value().data_ptr() != cp[item.key()].data_ptr());
    }
    auto mb = m->named_buffers(true), cb = copy->named_buffers(true);
    REQUIRE(mb.size() == cb.size());
    for (const auto& item : mb) {
      INFO(item.key());
      REQUIRE(torch::equal(item.value(), cb[item.key()]));
      REQUIRE(item.value().data_ptr() != cb[item.key()].data_ptr());
    }

    // Changing the copy leaves the original alone.
    for (auto& p : copy->parameters()) p.add_(1.0);
    fp::PrunableLayer first = copy->layers()[0];
    first->unit_mask().zero_();
    REQUIRE(torch::equal(before, m->forward(x)));
    REQUIRE_FALSE(torch::equal(before, copy->forward(x)));
  }
}

TEST_CASE("invalid model specs are rejected with a message", "[models]") {
  auto spec = make_spec("alexnet", 28);
  auto r = fp::build_model(spec);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.status().code() == fp::Status::Code::kInvalidArgument);
  REQUIRE_THAT(r.status().message(), Catch::Contains("alexnet"));

  spec = make_spec("resnet18", 28, 0.25, 0);
  r = fp::build_model(spec);
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(r.status().message(), Catch::Contains("num_classes"));

  spec = make_spec("vgg11", 28, 0.0);
  r = fp::build_model(spec);
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(r.status().message(), Catch::Contains("width_mult"));

  auto from_json = ModelSpec::from_json(R"({"arch": "mobilenetv2", "num_classes": "ten"})");
  REQUIRE_FALSE(from_json.ok());
  // Text that is not a JSON object: the error says whose text it was, and how it starts.
  for (const char* text : {"not json", "[1, 2]", "\"cnn\""}) {
    auto bad = ModelSpec::from_json(text);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == fp::Status::Code::kInvalidArgument);
    CHECK_THAT(bad.status().message(),
               Catch::StartsWith("model spec: not a JSON object") && Catch::Contains(text));
  }
  auto prune = fp::PruneConfig::from_json("[0.5]");
  REQUIRE_FALSE(prune.ok());
  CHECK_THAT(prune.status().message(), Catch::StartsWith("prune config: not a JSON object"));
}

TEST_CASE("loading, cloning and compacting draw no random weights", "[models]") {
  auto m = build(make_spec("resnet18", 28));
  {
    torch::NoGradGuard no_grad;
    fp::PrunableLayer l1 = m->layers()[1];
    l1->unit_mask()[0] = 0.0f;  // something for compact() to remove
  }
  m->eval();
  const std::string bytes = fp::serialize_model(*m);
  torch::manual_seed(5);
  const torch::Tensor expected = torch::randn({8});
  torch::manual_seed(5);
  auto copy = fp::clone_model(*m);
  auto loaded = fp::deserialize_model(bytes);
  REQUIRE(loaded.ok());
  auto compacted = fp::compact(*m);
  REQUIRE(compacted.ok());
  // LibTorch's global generator is where the seed left it: nothing drew from it.
  CHECK(torch::equal(torch::randn({8}), expected));
  // And nothing was left at the placeholder zeros: each computes what the model computes.
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({3, 1, 28, 28});
  const torch::Tensor want = m->forward(x);
  CHECK(torch::equal(copy->forward(x), want));
  CHECK(torch::equal((*loaded)->forward(x), want));
  CHECK(torch::allclose(compacted->model->forward(x), want, 1e-5, 1e-5));

  // A fresh model is still randomly initialised, and the scope ends with its owner.
  { fp::WeightInitScope zero(fp::WeightInit::kZero); }
  auto fresh = fp::build_model(make_spec("mlp", 28));
  REQUIRE(fresh.ok());
  CHECK((*fresh)->layers()[0]->weight().abs().sum().item<double>() > 0);
  auto placeholder = fp::build_model_to_overwrite(make_spec("mlp", 28));
  REQUIRE(placeholder.ok());
  CHECK((*placeholder)->layers()[0]->weight().abs().sum().item<double>() == 0);
}

// Memory running out while a model is built is the machine's state, not the spec's fault
// (Unavailable, "out of memory"): a model file loaded under a memory limit was called damaged
// ("Corruption: ... spec does not build"), and an operator may delete a sound file.
TEST_CASE("a model too large for the memory there is says out of memory, not a bad spec",
          "[models]") {
  ModelSpec huge = make_spec("mlp", 4, 1.0);
  huge.widths = {1000000, 1000000};  // a 10^6 x 10^6 weight: 4 TB
  auto built = fp::build_model(huge);
  REQUIRE_FALSE(built.ok());
  INFO(built.status().to_string());
  CHECK(built.status().code() == fp::Status::Code::kUnavailable);
  CHECK_THAT(built.status().message(), Catch::StartsWith("out of memory building the mlp model"));
}
