"""Reference PyTorch rebuild of a fineprune model exported with `fp-agent export`.

    import fineprune_ref
    net = fineprune_ref.load("model")   # reads model.json and model.pt
    logits = net(x)                     # [N, num_classes]; removed classes get -1e9

Only torch is needed. The network is rebuilt from the JSON spec (layer options, widths,
channel spaces) and the state dict is loaded strictly, so a missing or extra tensor is
an error. Mirrors common/models/*.cpp: keep the two in step.
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

VGG_CONFIGS = {  # channels, or 0 for a 2x2 max-pool (common/models/vgg.cpp)
    "vgg7": [64, 64, 0, 128, 128, 0, 256, 0],
    "vgg11": [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    "vgg19": [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
              512, 512, 512, 512, 0],
}


class Layer(nn.Module):
    """A conv or linear layer with optional BatchNorm and activation."""

    def __init__(self, o, eps, pruned_logit):
        super().__init__()
        self.o = o
        self.pruned_logit = pruned_logit
        if o["kind"] == "conv":
            shape = (o["out"], o["in"] // o["groups"], o["kernel"], o["kernel"])
        else:
            shape = (o["out"], o["in"])
        self.weight = nn.Parameter(torch.zeros(shape))
        self.bias = nn.Parameter(torch.zeros(o["out"])) if o["bias"] else None
        if o["batch_norm"]:
            bn = nn.BatchNorm2d if o["kind"] == "conv" else nn.BatchNorm1d
            self.bn = bn(o["out"], eps=eps)
        else:
            self.bn = None
        if o["class_space"] > 0:
            self.register_buffer("class_ids", torch.zeros(o["out"], dtype=torch.long))
        else:
            self.class_ids = None

    def forward(self, x):
        o = self.o
        if o["kind"] == "conv":
            y = F.conv2d(x, self.weight, self.bias, o["stride"], o["padding"], 1, o["groups"])
        else:
            y = F.linear(x, self.weight, self.bias)
        if self.bn is not None:
            y = self.bn(y)
        if o["activation"] == "relu":
            y = F.relu(y)
        elif o["activation"] == "relu6":
            y = torch.clamp(y, 0.0, 6.0)
        if self.class_ids is not None:
            full = torch.full((y.shape[0], o["class_space"]), self.pruned_logit, dtype=y.dtype)
            y = full.index_copy(1, self.class_ids, y)
        return y


class FinePruneNet(nn.Module):
    def __init__(self, export):
        super().__init__()
        if export.get("format") != "fineprune-torch-export" or export.get("version") != 1:
            raise ValueError("not a fineprune torch export (version 1)")
        self.spec = export["spec"]
        self.arch = self.spec["arch"]
        self.names = [o["name"] for o in export["layers"]]
        for o in export["layers"]:
            self.add_module(o["name"], Layer(o, export["batch_norm_eps"], export["pruned_logit"]))
        # MobileNetV2: a project conv adds into the stream when an earlier producer of its
        # channel space exists (the block's input).
        self.residual = set()
        for space in export["channel_spaces"]:
            for p in space["producers"][1:]:
                self.residual.add(self.names[p])

    def layer(self, name):
        return getattr(self, name)

    def forward(self, x):
        arch = self.arch
        if arch == "mlp":
            return self.fc_out(self.fc2(self.fc1(x.flatten(1))))
        if arch == "cnn":
            x = F.max_pool2d(self.conv1(x), 2)
            x = F.max_pool2d(self.conv2(x), 2)
            return self.fc_out(self.fc1(x.flatten(1)))
        if arch in VGG_CONFIGS:
            h, w, k = self.spec["height"], self.spec["width"], 0
            for c in VGG_CONFIGS[arch]:
                if c == 0:
                    if min(h, w) >= 2:
                        x, h, w = F.max_pool2d(x, 2), h // 2, w // 2
                else:
                    k += 1
                    x = self.layer("conv%d" % k)(x)
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
            return self.fc_out(self.fc1(x))
        if arch in ("resnet18", "resnet50"):
            x = self.stem(x)
            for prefix in self._blocks("layer"):
                convs = [n for n in self.names if n.startswith(prefix) and "_conv" in n]
                y = x
                for n in convs:
                    y = self.layer(n)(y)
                shortcut = prefix + "shortcut"
                x = F.relu(y + (self.layer(shortcut)(x) if shortcut in self.names else x))
            return self.fc_out(F.adaptive_avg_pool2d(x, 1).flatten(1))
        if arch == "mobilenetv2":
            x = self.stem(x)
            for prefix in self._blocks("block"):
                y = self.layer(prefix + "expand")(x) if prefix + "expand" in self.names else x
                y = self.layer(prefix + "project")(self.layer(prefix + "dw")(y))
                x = x + y if prefix + "project" in self.residual else y
            x = self.head(x)
            return self.fc_out(F.adaptive_avg_pool2d(x, 1).flatten(1))
        raise ValueError("unknown architecture " + arch)

    def _blocks(self, start):
        """Block name prefixes ("layer1_0_", "block3_") in layer order."""
        prefixes = []
        for n in self.names:
            if n.startswith(start):
                p = n[: n.rindex("_") + 1]
                if p not in prefixes:
                    prefixes.append(p)
        return prefixes


def load(prefix):
    with open(prefix + ".json") as f:
        export = json.load(f)
    net = FinePruneNet(export)
    state = torch.load(prefix + ".pt")
    net.load_state_dict(state, strict=True)
    return net.eval()
