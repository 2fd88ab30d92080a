#!/usr/bin/python3
"""Fine-Pruning one individual in fineprune (C++) and in a plain PyTorch script, side by side.

    /usr/bin/python3 bench/bench_vs_pytorch.py --build build --threads 1 --repeats 5 [--finetune]

Both sides get the same general model (fineprune's artifact; PyTorch loads the
`fp-agent export` files with scripts/python/fineprune_ref.py), the same individual's
data (written once by `fp-bench vs_pytorch prepare` as Fashion-MNIST IDX files, which
each side reads with its own few lines) and the same thread count, and run
the same steps: record activation statistics (and the dense logits) over the unlabeled
adaptation inputs, choose the sparsity without labels (confidence selector, up to 10
candidates scored on the last 10% of the inputs, none after two in a row its guards rule
out), prune at the chosen sparsity (global
unit ranking by normalised energy, unused output classes removed), evaluate. Each run is
a fresh process, timed from spawn to exit ("end to end": process start, imports, model
and data load included); each process reports its own per-step seconds as one JSON line.
Runs alternate C++ and PyTorch so that machine load hits both alike. With --finetune,
one epoch of backprop fine-tuning (Adam, batch 32) is compared the same way.

The PyTorch side is what a user would write without fineprune: forward hooks that apply
the unit masks and accumulate the statistics, masked copies of the model per candidate.
Only the standard library and torch are used.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PRUNED_LOGIT = -1e9
# util/allocator.h's kMallocMmapThreshold and kMallocTrimThreshold, as glibc tunables.
MALLOC_AS_FINEPRUNE = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"


# ---------------------------------------------------------------- the PyTorch side
def read_fashion_mnist(directory, part):
    """An IDX pair (images [N, 28, 28], labels [N]) as normalised inputs and labels, as
    fineprune's loader reads them (data/fashion_mnist.h)."""
    import struct
    import torch

    def read_idx(path):
        with open(path, "rb") as f:
            raw = bytearray(f.read())
        if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
            sys.exit("%s: not an IDX file of unsigned bytes" % path)
        rank = raw[3]
        dims = struct.unpack(">%dI" % rank, raw[4:4 + 4 * rank])
        return torch.frombuffer(raw, dtype=torch.uint8, offset=4 + 4 * rank).view(dims)

    images = read_idx(os.path.join(directory, part + "-images-idx3-ubyte"))
    labels = read_idx(os.path.join(directory, part + "-labels-idx1-ubyte"))
    inputs = images.to(torch.float32).div_(255.0).sub_(0.2860).div_(0.3530)
    return inputs.view(-1, 1, 28, 28), labels.to(torch.int64)


def torch_worker(directory, threads, finetune):
    t0 = time.perf_counter()
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.join(HERE, "..", "scripts", "python"))
    import fineprune_ref

    torch.set_num_threads(threads)
    t_import = time.perf_counter() - t0

    t = time.perf_counter()
    net = fineprune_ref.load(os.path.join(directory, "general"))
    t_model = time.perf_counter() - t
    x, y = read_fashion_mnist(directory, "adaptation")  # y: fine-tuning only
    ex, ey = read_fashion_mnist(directory, "evaluation")
    layers = [net.layer(n) for n in net.names]
    t_load = time.perf_counter() - t

    if finetune:
        t = time.perf_counter()
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(1)
        order = torch.randperm(x.shape[0], generator=g)
        for b in range(0, x.shape[0], 32):
            idx = order[b:b + 32]
            opt.zero_grad()
            loss = F.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        print(json.dumps({"import": t_import, "load": t_load, "load_model": t_model,
                          "finetune_epoch": time.perf_counter() - t}))
        return

    # Unit masks applied by forward hooks, as fineprune's layers apply theirs: after the
    # activation; a pruned class gets the pruned logit.
    masks = [torch.ones(l.o["out"]) for l in layers]
    recording = {"on": False, "stats": None}

    def make_hook(i):
        layer = layers[i]
        is_output = layer.o["activation"] == "softmax"

        def hook(module, inputs, y):
            m = masks[i].view((1, -1) + (1,) * (y.dim() - 2))
            y = torch.where(m > 0, y, torch.full((), PRUNED_LOGIT)) if is_output else y * m
            if recording["on"]:
                v = torch.softmax(y, 1) if is_output else y
                dims = (0, 2, 3) if v.dim() == 4 else (0,)
                thr = 1.0 / v.shape[1] if is_output else 0.0
                s = recording["stats"][i]
                s["sum"] += v.sum(dims).double()
                s["sum_sq"] += v.square().sum(dims).double()
                s["positive"] += (v > thr).sum(dims).double()
                s["count"] += v.numel() // v.shape[1]
            return y
        return hook

    for i, l in enumerate(layers):
        l.register_forward_hook(make_hook(i))

    def forward(inputs, batch=128):
        with torch.no_grad():
            return torch.cat([net(inputs[b:b + batch]) for b in range(0, inputs.shape[0], batch)])

    # record
    t = time.perf_counter()
    recording["stats"] = [{"sum": torch.zeros(l.o["out"], dtype=torch.double),
                           "sum_sq": torch.zeros(l.o["out"], dtype=torch.double),
                           "positive": torch.zeros(l.o["out"], dtype=torch.double),
                           "count": 0} for l in layers]
    recording["on"] = True
    forward(x)  # the statistics come from the hooks; the logits are not needed
    recording["on"] = False
    stats = recording["stats"]
    t_record = time.perf_counter() - t

    def weights_per_unit(l):
        o = l.o
        return o["in"] if o["kind"] == "linear" else o["in"] // o["groups"] * o["kernel"] ** 2

    def llround(v):
        return int(math.floor(v + 0.5))

    total = sum(weights_per_unit(l) * l.o["out"] for l in layers)

    def prune(target):
        """Masks for `target` weight sparsity (prune/pruner.cpp's defaults)."""
        out = [torch.ones(l.o["out"]) for l in layers]
        # The output layer by usage: classes with mean probability below 0.05 go.
        s = stats[-1]
        mean = s["sum"] / s["count"]
        order = torch.sort(mean, stable=True, descending=True)[1].tolist()
        for u in order[1:]:
            if mean[u] < 0.05:
                out[-1][u] = 0.0
        zeroed = int((out[-1] == 0).sum()) * weights_per_unit(layers[-1])
        cand_total = total - weights_per_unit(layers[-1]) * layers[-1].o["out"]
        goal = llround(target * total)
        if goal - zeroed > cand_total:
            raise ValueError("unreachable sparsity")
        need = goal - zeroed
        entries = []
        for i, l in enumerate(layers[:-1]):
            energy = stats[i]["sum_sq"] / stats[i]["count"]
            m = energy.mean().item()
            norm = energy / m if m > 0 else torch.zeros_like(energy)
            entries += [(v, i, u) for u, v in enumerate(norm.tolist())]
        entries.sort()
        active = [l.o["out"] for l in layers]
        done = 0
        for _, i, u in entries:
            if done >= need:
                break
            if active[i] - 1 < 1:
                continue
            done += weights_per_unit(layers[i])
            out[i][u] = 0.0
            active[i] -= 1
        return out, (zeroed + done) / total

    # select: the confidence score with its collapse guards (prune/sparsity_selector.cpp)
    t = time.perf_counter()
    n = x.shape[0]
    held = max(1, llround(0.1 * n))
    heldout = x[n - held:]
    candidates = [0.1 * k for k in range(10)]
    scores, reference, used, best, beaten = [], None, [], -math.inf, 0
    for target in candidates:
        masks[:] = prune(target)[0]
        proba = torch.softmax(forward(heldout), 1)
        pred = proba.argmax(1)
        score = proba.max(1)[0].double().mean().item()
        if reference is None:
            reference = pred
            counts = torch.bincount(pred)
            used = [c for c in range(len(counts)) if counts[c] >= max(1, llround(0.1 * held))]
        else:
            counts = torch.bincount(pred, minlength=len(masks[-1]))
            ref_counts = torch.bincount(reference, minlength=len(masks[-1]))
            if any(counts[c] < max(1, math.ceil(0.5 * ref_counts[c])) for c in used):
                score = -math.inf
            elif (pred == reference).double().mean().item() < 0.8:
                score = -math.inf
        scores.append(score)
        # Ruled out or below the best so far by more than the tolerance: cannot be chosen.
        beaten = beaten + 1 if score < best - 0.002 else 0
        best = max(best, score)
        if len(scores) >= 2 and scores[-1] == scores[-2] == -math.inf:
            break  # two ruled out in a row: the sparser ones are not run (stop_after_ruled_out)
        if beaten >= 3:
            break  # three that cannot be chosen in a row: likewise (stop_after_beaten)
    chosen = candidates[0]
    for c, s in zip(candidates, scores):
        if math.isfinite(best) and s >= best - 0.002:
            chosen = c
    t_select = time.perf_counter() - t

    t = time.perf_counter()
    new_masks, sparsity = prune(chosen)
    masks[:] = new_masks
    t_prune = time.perf_counter() - t

    t = time.perf_counter()
    pred = forward(ex, 256).argmax(1)
    accuracy = (pred == ey).double().mean().item()
    t_eval = time.perf_counter() - t
    print(json.dumps({"import": t_import, "load": t_load, "load_model": t_model, "record": t_record,
                      "select": t_select, "prune": t_prune, "evaluate": t_eval,
                      "chosen": chosen, "sparsity": sparsity, "accuracy": accuracy}))


# ---------------------------------------------------------------- the driver
def timed(cmd, env):
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    report = json.loads(p.stdout.strip().splitlines()[-1])
    report["end_to_end"] = wall
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the CMake build folder")
    ap.add_argument("--dir", default="/tmp/fp_vs_torch", help="model and data (prepared once)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--finetune", action="store_true", help="also compare one fine-tuning epoch")
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="the Python that imports torch (Debian's python3-torch)")
    ap.add_argument("--pytorch-malloc-as-fineprune", action="store_true",
                    help="run the PyTorch side with the malloc settings fineprune makes for "
                         "itself (util/allocator.h), through GLIBC_TUNABLES")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-finetune", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker or a.worker_finetune:
        return torch_worker(a.dir, a.threads, a.worker_finetune)

    cpp = [os.path.join(a.build, "bench", "fp-bench"), "vs_pytorch"]
    # The BLAS runs on the calling thread on both sides, as fineprune runs it
    # (util/compute_threads.h): a threaded OpenBLAS would otherwise start its own threads.
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS="1")
    if not os.path.exists(os.path.join(a.dir, "evaluation-labels-idx1-ubyte")):
        os.makedirs(a.dir, exist_ok=True)
        subprocess.run(cpp + ["prepare", "--dir", a.dir, "--arch", a.arch], check=True)
    py = [a.python, os.path.abspath(__file__), "--dir", a.dir, "--threads", str(a.threads)]
    # fineprune sets these itself with mallopt (util/allocator.h); a plain script runs on
    # glibc's defaults unless its user sets them.
    py_env = dict(env, GLIBC_TUNABLES=MALLOC_AS_FINEPRUNE) if a.pytorch_malloc_as_fineprune else env
    runs = {"fineprune": [], "pytorch": []}
    kinds = [("", "--worker")] + ([("finetune", "--worker-finetune")] if a.finetune else [])
    for _ in range(a.repeats):
        for sub, flag in kinds:
            key = sub or "prune"
            runs.setdefault("fineprune " + key, []).append(
                timed(cpp + [sub or "run", "--dir", a.dir, "--threads", str(a.threads)], env))
            runs.setdefault("pytorch " + key, []).append(timed(py + [flag], py_env))

    print("threads %d, %d repeats, median (min-max) seconds; uptime: %s; PyTorch's malloc: %s" %
          (a.threads, a.repeats, os.getloadavg(),
           py_env.get("GLIBC_TUNABLES", "glibc's defaults")))
    for what in ["prune"] + (["finetune"] if a.finetune else []):
        c, p = runs["fineprune " + what], runs["pytorch " + what]
        steps = ["end_to_end", "load", "load_model"] + (["record", "select", "prune", "evaluate"]
                                          if what == "prune" else ["finetune_epoch"])
        print("\n%-12s %-26s %-26s %s" % (what + " step", "fineprune", "pytorch", "pytorch/fineprune"))
        for s in steps:
            cv, pv = [r[s] for r in c], [r[s] for r in p]
            fmt = lambda v: "%.4f (%.4f-%.4f)" % (statistics.median(v), min(v), max(v))
            print("%-12s %-26s %-26s %.2fx" % (s, fmt(cv), fmt(pv),
                                                statistics.median(pv) / statistics.median(cv)))
        if what == "prune":
            pi = [r["import"] for r in p]
            print("%-12s %-26s %.4f (%.4f-%.4f)" % ("import", "-", statistics.median(pi),
                                                   min(pi), max(pi)))
            for name, r in (("fineprune", c[0]), ("pytorch", p[0])):
                print("%s: chosen %.1f, sparsity %.4f, accuracy %.4f" %
                      (name, r["chosen"], r["sparsity"], r["accuracy"]))
    print("\nraw: " + json.dumps(runs))


if __name__ == "__main__":
    main()
