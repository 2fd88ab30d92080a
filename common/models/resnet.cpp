// ResNet family (He et al. 2016): "resnet18" = basic blocks [2, 2, 2, 2],
// "resnet50" = bottleneck blocks [3, 4, 6, 3] with expansion 4 (stride on the 3x3,
// as in torchvision's v1.5).
//
// Adapted to small inputs: the stem is a 3x3 stride-1 conv with no max-pool, so a
// 28x28 input reaches the last stage at 4x4. Every conv is a PrunableLayer with
// BatchNorm and no bias. A block's last conv has no activation: its output is
// added to the shortcut and then passed through ReLU. Projection shortcuts (1x1 conv
// + BN) are PrunableLayers too. Masks act after BN, so a pruned unit of either
// contributes exactly zero to the sum. Layer names use '_' (torch forbids '.').
#include "models/zoo.h"

namespace fp {
namespace {

// One residual block: a chain of convs (the last without activation) plus an
// optional projection shortcut.
struct Block {
  std::vector<PrunableLayer> convs;
  PrunableLayer shortcut{nullptr};
};

class ResNet : public PrunableNet {
 public:
  explicit ResNet(const ModelSpec& s) : PrunableNet(s) {
    const bool bottleneck = s.arch == "resnet50";
    TORCH_CHECK(bottleneck || s.arch == "resnet18", "make_resnet: unknown ResNet '", s.arch, "'");
    const std::vector<int> blocks =
        bottleneck ? std::vector<int>{3, 4, 6, 3} : std::vector<int>{2, 2, 2, 2};
    const int64_t expansion = bottleneck ? 4 : 1;

    // `published` is the stream width of the full model: it decides the topology (which
    // blocks project), so a compact model keeps its parent's; `channels` is the real one.
    int64_t published = scaled_channels(64, s.width_mult);
    int64_t channels = unit_count(published);
    stem_ = add_layer("stem", conv_bn_options(s.in_channels, channels, 3, 1, Activation::kReLU));
    size_t stream = add_space(stem_);  // the residual stream: every block adds into it
    std::vector<size_t> starts = {0};  // segments: the stem, each block, the classifier
    for (int stage = 0; stage < 4; ++stage) {
      const int64_t width = scaled_channels(64 << stage, s.width_mult);
      const int64_t out = width * expansion;
      for (int b = 0; b < blocks[stage]; ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        const std::string prefix =
            "layer" + std::to_string(stage + 1) + "_" + std::to_string(b) + "_";
        Block block;
        starts.push_back(layers().size());  // a block is a segment: it reads the stream
        // Each conv's output width is the next one's input: a chain inside the block.
        auto conv = [&](const std::string& name, int64_t published_out, int64_t kernel,
                        int64_t conv_stride, Activation act) {
          const int64_t in = block.convs.empty() ? channels : block.convs.back()->num_units();
          PrunableLayer layer =
              add_layer(prefix + name,
                        conv_bn_options(in, unit_count(published_out), kernel, conv_stride, act));
          if (block.convs.empty())
            add_reader(stream, layer);
          else
            link(block.convs.back(), layer);
          block.convs.push_back(layer);
        };
        if (bottleneck) {
          conv("conv1", width, 1, 1, Activation::kReLU);
          conv("conv2", width, 3, stride, Activation::kReLU);
          conv("conv3", out, 1, 1, Activation::kNone);
        } else {
          conv("conv1", width, 3, stride, Activation::kReLU);
          conv("conv2", out, 3, 1, Activation::kNone);
        }
        const int64_t block_out = block.convs.back()->num_units();
        if (stride != 1 || published != out) {
          block.shortcut =
              add_layer(prefix + "shortcut",
                        conv_bn_options(channels, unit_count(out), 1, stride, Activation::kNone));
          TORCH_CHECK(block.shortcut->num_units() == block_out, "resnet: block ", prefix, " adds ",
                      block_out, " channels to a ", block.shortcut->num_units(),
                      "-channel shortcut");
          add_reader(stream, block.shortcut);
          stream = add_space(block.shortcut);
        } else {
          TORCH_CHECK(block_out == channels, "resnet: block ", prefix, " adds ", block_out,
                      " channels to a ", channels, "-channel stream");
        }
        add_producer(stream, block.convs.back());
        blocks_.push_back(std::move(block));
        channels = block_out;
        published = out;
      }
    }
    starts.push_back(layers().size());
    out_ = add_classifier("fc_out", channels);
    add_reader(stream, out_);
    set_segments(std::move(starts));
  }

 protected:
  torch::Tensor segment_step(size_t k, torch::Tensor x) override {
    if (k == 0) return stem_(x);
    if (k > blocks_.size()) return out_(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
    Block& block = blocks_[k - 1];
    torch::Tensor y = x;
    for (auto& c : block.convs) y = c(y);
    return torch::relu(y + (block.shortcut ? block.shortcut(x) : x));
  }

 private:
  PrunableLayer stem_{nullptr}, out_{nullptr};
  std::vector<Block> blocks_;
};

}  // namespace

ModelPtr make_resnet(const ModelSpec& spec) { return std::make_shared<ResNet>(spec); }

}  // namespace fp
