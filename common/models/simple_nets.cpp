// The small MLP and CNN used by tests, examples and quick scenarios.
#include "models/pooling.h"
#include "models/zoo.h"

namespace fp {
namespace {

class Mlp : public PrunableNet {
 public:
  explicit Mlp(const ModelSpec& s) : PrunableNet(s) {
    const int64_t in = s.in_channels * s.height * s.width;
    const int64_t h1 = unit_count(scaled_channels(256, s.width_mult));
    fc1_ = add_layer("fc1", linear_options(in, h1));
    const int64_t h2 = unit_count(scaled_channels(128, s.width_mult));
    fc2_ = add_layer("fc2", linear_options(h1, h2));
    out_ = add_classifier("fc_out", h2);
    link(fc1_, fc2_);
    link(fc2_, out_);
    set_segment_per_layer();
  }

 protected:
  torch::Tensor segment_step(size_t i, torch::Tensor x) override {
    switch (i) {
      case 0:
        return fc1_(x.flatten(1));
      case 1:
        return fc2_(x);
      default:
        return out_(x);
    }
  }

 private:
  PrunableLayer fc1_{nullptr}, fc2_{nullptr}, out_{nullptr};
};

class Cnn : public PrunableNet {
 public:
  explicit Cnn(const ModelSpec& s) : PrunableNet(s) {
    LayerOptions conv;
    conv.kernel = 3;
    conv.padding = 1;
    conv.in = s.in_channels;
    conv.out = unit_count(scaled_channels(16, s.width_mult));
    conv1_ = add_layer("conv1", conv);
    conv.in = conv.out;
    conv.out = unit_count(scaled_channels(32, s.width_mult));
    conv2_ = add_layer("conv2", conv);
    const int64_t positions = (s.height / 4) * (s.width / 4);
    const int64_t hidden = unit_count(scaled_channels(64, s.width_mult));
    fc1_ = add_layer("fc1", linear_options(conv.out * positions, hidden));
    out_ = add_classifier("fc_out", hidden);
    link(conv1_, conv2_);
    link(conv2_, fc1_, positions);
    link(fc1_, out_);
    set_segment_per_layer();
  }

 protected:
  torch::Tensor segment_step(size_t i, torch::Tensor x) override {
    switch (i) {
      case 0:
        return max_pool2x2(conv1_(x));
      case 1:
        return max_pool2x2(conv2_(x)).flatten(1);
      case 2:
        return fc1_(x);
      default:
        return out_(x);
    }
  }

 private:
  PrunableLayer conv1_{nullptr}, conv2_{nullptr}, fc1_{nullptr}, out_{nullptr};
};

}  // namespace

int64_t scaled_channels(int64_t channels, double width_mult) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::lround(channels * width_mult)));
}

ModelPtr make_mlp(const ModelSpec& spec) { return std::make_shared<Mlp>(spec); }
ModelPtr make_cnn(const ModelSpec& spec) { return std::make_shared<Cnn>(spec); }

}  // namespace fp
