// MobileNetV2 (Sandler et al. 2018): inverted residual blocks of
//   expand 1x1 (ReLU6, skipped when t = 1) -> depthwise 3x3 (ReLU6) -> project 1x1 (linear),
// with an identity shortcut when stride is 1 and channels match.
//
// The standard (t, c, n, s) table is kept, but for small inputs the first conv has
// stride 1 and the second stage (c = 24) stride 1, as in the common CIFAR variant:
// three stride-2 stages take 28x28 to 4x4 and 32x32 to 4x4. Channels, including the
// final 1x1 conv's 1280, are scaled by width_mult with scaled_channels().
#include "models/zoo.h"

namespace fp {
namespace {

struct Stage {
  int64_t t, c, n, s;  // expansion, output channels, repeats, stride of the first block
};

// Standard table with stage 2's stride reduced from 2 to 1 (see above).
const Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 1},  {6, 32, 3, 2}, {6, 64, 4, 2},
                         {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

struct InvertedResidual {
  PrunableLayer expand{nullptr};  // empty when t = 1
  PrunableLayer depthwise{nullptr}, project{nullptr};
  bool residual = false;
};

class MobileNetV2 : public PrunableNet {
 public:
  explicit MobileNetV2(const ModelSpec& s) : PrunableNet(s) {
    // `published` widths decide the topology (which blocks add a residual), so a
    // compact model keeps its parent's; `channels` is the real stream width.
    int64_t published = scaled_channels(32, s.width_mult);
    int64_t channels = unit_count(published);
    stem_ = add_layer("stem", conv_bn_options(s.in_channels, channels, 3, 1, Activation::kReLU6));
    size_t stream = add_space(stem_);
    std::vector<size_t> starts = {0};  // segments: the stem, each block, the head, the classifier
    int index = 0;
    for (const Stage& st : kStages) {
      const int64_t out = scaled_channels(st.c, s.width_mult);
      for (int64_t i = 0; i < st.n; ++i) {
        const int64_t stride = i == 0 ? st.s : 1;
        const std::string prefix = "block" + std::to_string(index++) + "_";
        InvertedResidual b;
        starts.push_back(layers().size());  // a block is a segment: it reads the stream
        b.residual = stride == 1 && published == out;
        // The hidden space: what the depthwise conv filters channel by channel. Its
        // channel c is kept exactly when the depthwise unit c is.
        size_t hidden_space = stream;
        int64_t hidden = channels;
        if (st.t != 1) {
          b.expand = add_layer(
              prefix + "expand",
              conv_bn_options(channels, unit_count(published * st.t), 1, 1, Activation::kReLU6));
          add_reader(stream, b.expand);
          hidden_space = add_space(b.expand);
          hidden = b.expand->num_units();
        } else if (b.residual) {
          set_fixed(stream);  // the stream itself is filtered and added to: keep it whole
        }
        TORCH_CHECK(unit_count(hidden) == hidden, "mobilenetv2: depthwise conv ", prefix, "dw has ",
                    unit_count(hidden), " channels for a ", hidden, "-channel input");
        b.depthwise = add_layer(
            prefix + "dw", conv_bn_options(hidden, hidden, 3, stride, Activation::kReLU6, hidden));
        if (st.t == 1 && b.residual) {
          hidden_space = add_space(b.depthwise);
          set_fixed(hidden_space);
        } else {
          set_depthwise(hidden_space, b.depthwise);
        }
        b.project = add_layer(prefix + "project",
                              conv_bn_options(hidden, unit_count(out), 1, 1, Activation::kNone));
        add_reader(hidden_space, b.project);
        if (b.residual) {
          TORCH_CHECK(b.project->num_units() == channels, "mobilenetv2: block ", prefix, " adds ",
                      b.project->num_units(), " channels to a ", channels, "-channel stream");
          add_producer(stream, b.project);
        } else {
          stream = add_space(b.project);
        }
        blocks_.push_back(b);
        channels = b.project->num_units();
        published = out;
      }
    }
    starts.push_back(layers().size());
    head_ =
        add_layer("head", conv_bn_options(channels, unit_count(scaled_channels(1280, s.width_mult)),
                                          1, 1, Activation::kReLU6));
    add_reader(stream, head_);
    starts.push_back(layers().size());
    out_ = add_classifier("fc_out", head_->num_units());
    link(head_, out_);
    set_segments(std::move(starts));
  }

 protected:
  torch::Tensor segment_step(size_t k, torch::Tensor x) override {
    if (k == 0) return stem_(x);
    if (k == blocks_.size() + 1) return torch::adaptive_avg_pool2d(head_(x), {1, 1}).flatten(1);
    if (k > blocks_.size()) return out_(x);
    InvertedResidual& b = blocks_[k - 1];
    torch::Tensor y = b.expand ? b.expand(x) : x;
    y = b.project(b.depthwise(y));
    return b.residual ? x + y : y;
  }

 private:
  PrunableLayer stem_{nullptr}, head_{nullptr}, out_{nullptr};
  std::vector<InvertedResidual> blocks_;
};

}  // namespace

ModelPtr make_mobilenetv2(const ModelSpec& spec) { return std::make_shared<MobileNetV2>(spec); }

}  // namespace fp
