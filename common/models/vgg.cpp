// VGG family: stacks of 3x3 conv + BatchNorm + ReLU with 2x2 max-pools ('M').
//
// "vgg11" and "vgg19" use the standard configurations A and E of Simonyan &
// Zisserman. "vgg7" is the small speech VGG: [64, 64, M, 128, 128, M, 256, M],
// i.e. 5 convs + a hidden FC + the classifier = 7 weight layers.
//
// Adapted to small inputs (28x28 images, 32x32 spectrograms): a pool is skipped once
// the feature map is below 2x2, and a global average pool feeds the classifier, so
// any input size works. The classifier is one hidden linear layer (ReLU: 256 for
// vgg7, 512 for vgg11/19, scaled by width_mult) then the output layer, so vgg11 has
// 10 prunable layers and vgg19 18 (the original's 4096-wide FC pair is dropped).
#include <algorithm>
#include <map>

#include "models/pooling.h"
#include "models/zoo.h"

namespace fp {
namespace {

constexpr int64_t kPool = 0;  // 'M' in a configuration

struct VggConfig {
  std::vector<int64_t> features;  // channels, or kPool
  int64_t hidden;                 // hidden FC width before scaling
};

const VggConfig& vgg_config(const std::string& arch) {
  static const std::map<std::string, VggConfig> kConfigs = {
      {"vgg7", {{64, 64, kPool, 128, 128, kPool, 256, kPool}, 256}},
      {"vgg11", {{64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool}, 512}},
      {"vgg19",
       {{64,  64,  kPool, 128, 128,   kPool, 256, 256, 256, 256,  kPool,
         512, 512, 512,   512, kPool, 512,   512, 512, 512, kPool},
        512}},
  };
  auto it = kConfigs.find(arch);
  TORCH_CHECK(it != kConfigs.end(), "make_vgg: unknown VGG architecture '", arch, "'");
  return it->second;
}

class Vgg : public PrunableNet {
 public:
  explicit Vgg(const ModelSpec& s) : PrunableNet(s) {
    const VggConfig& cfg = vgg_config(s.arch);
    int64_t channels = s.in_channels, h = s.height, w = s.width;
    int conv_index = 0;
    PrunableLayer previous{nullptr};
    for (int64_t c : cfg.features) {
      if (c == kPool) {
        // Pooling a 1-pixel map would leave nothing; later stages then run at 1x1.
        if (std::min(h, w) >= 2) {
          h /= 2;
          w /= 2;
          ++pools_after_.back();  // a configuration starts with a conv
        }
        continue;
      }
      LayerOptions o;
      o.kind = LayerKind::kConv;
      o.in = channels;
      o.out = unit_count(scaled_channels(c, s.width_mult));
      o.kernel = 3;
      o.padding = 1;
      o.bias = false;  // BatchNorm's shift makes a conv bias redundant
      o.batch_norm = true;
      o.activation = Activation::kReLU;
      PrunableLayer conv = add_layer("conv" + std::to_string(++conv_index), o);
      if (previous) link(previous, conv);
      previous = conv;
      convs_.push_back(conv);
      pools_after_.push_back(0);
      channels = o.out;
    }
    const int64_t hidden = unit_count(scaled_channels(cfg.hidden, s.width_mult));
    fc1_ = add_layer("fc1", linear_options(channels, hidden));
    out_ = add_classifier("fc_out", hidden);
    link(previous, fc1_);  // after the global average pool: one feature per channel
    link(fc1_, out_);
    set_segment_per_layer();
  }

 protected:
  torch::Tensor segment_step(size_t i, torch::Tensor x) override {
    if (i == convs_.size()) return fc1_(x);
    if (i > convs_.size()) return out_(x);
    x = convs_[i](x);
    for (int p = 0; p < pools_after_[i]; ++p) x = max_pool2x2(x);
    if (i + 1 == convs_.size()) x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return x;
  }

 private:
  std::vector<PrunableLayer> convs_;  // layers 0 .. convs_.size() - 1
  std::vector<int> pools_after_;      // per conv: the 2x2 pools after it (none below 2x2)
  PrunableLayer fc1_{nullptr}, out_{nullptr};
};

}  // namespace

ModelPtr make_vgg(const ModelSpec& spec) { return std::make_shared<Vgg>(spec); }

}  // namespace fp
