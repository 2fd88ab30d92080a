"""Checks fineprune's PyTorch exports against the C++ model's logits.

usage: check_export.py DIR [PREFIX=IO ...]
Each DIR/<name>.json + .pt is rebuilt with fineprune_ref and run on the inputs of
DIR/<name>_io.pt (or of the io file named after '='); its logits must equal the C++
logits within 1e-5 (relative to their scale), removed classes included.
Exits 77 (CTest's SKIP) when torch cannot be imported.
"""
import glob
import os
import sys

try:
    import torch
except ImportError:
    print("SKIP: python3 cannot import torch (install python3-torch)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fineprune_ref  # noqa: E402


def check(prefix, io_path):
    io = torch.load(io_path)
    net = fineprune_ref.load(prefix)
    with torch.no_grad():
        got = net(io["x"])
    want = io["y"]
    if got.shape != want.shape:
        return "shape %s, C++ %s" % (tuple(got.shape), tuple(want.shape))
    live = want > -1e8
    if not torch.equal(live, got > -1e8):
        return "different removed classes"
    scale = max(1.0, want[live].abs().max().item())
    diff = (got[live] - want[live]).abs().max().item() / scale
    params = sum(p.numel() for p in net.parameters())
    print("%-28s %8d parameters, relative difference %.2e" % (os.path.basename(prefix), params, diff))
    return None if diff <= 1e-5 else "relative difference %.3g > 1e-5" % diff


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    if not os.path.isdir(d):
        sys.exit("check_export.py: %s is no folder" % d)
    pairs = {}
    for spec in glob.glob(os.path.join(d, "*.json")):
        prefix = spec[: -len(".json")]
        pairs[prefix] = prefix + "_io.pt"
    for arg in sys.argv[2:]:
        name, equals, io = arg.partition("=")
        if not equals or not name or not io:
            sys.exit("check_export.py: '%s' is no PREFIX=IO\n%s" % (arg, __doc__))
        pairs[os.path.join(d, name)] = os.path.join(d, io)
    if not pairs:
        print("no exports in " + d)
        return 1
    failed = 0
    for prefix, io in sorted(pairs.items()):
        try:
            err = check(prefix, io)
        except Exception as e:  # a file missing or damaged: this export fails, the rest run
            err = "%s: %s" % (type(e).__name__, e)
        if err:
            print("FAIL %s: %s" % (prefix, err))
            failed += 1
    print("%d export(s) checked, %d failed" % (len(pairs), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
