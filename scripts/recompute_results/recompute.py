"""Recompute fineprune's pooled comparisons from committed per-individual rows.

Sources of per-individual rows (read-only copies extracted with `git archive <commit>
docs/results` by scripts/recompute-results, which sets the folders below):
  - results.json of each campaign, committed until b9bb831f (30 Nov) / 430cf4dd (1 Dec) deleted
    them: raw/b9bb831f_parent = 96cea678..., raw/430cf4dd_parent = 6fc8af4c...
  - seed_run.json at HEAD (docs/results/...);
  - seed_run.json of the runs on the protocol's new seeds 201-203 (RESULTS 4c and 4f), taken
    out of the tree by f75457a5: raw/f75457a5_parent.
Each recomputed comparison is checked against the committed pooled_comparisons.csv at HEAD
and against each seed's committed comparisons.csv at HEAD.
Usage: scripts/recompute-results (writes $FP_OUT/<experiment>.txt and .json)
"""
import csv
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fpstats  # noqa: E402

HEAD = os.environ["FP_RESULTS"]
RAW_A = os.environ["FP_RAW_A"]
RAW_B = os.environ["FP_RAW_B"]
RAW_C = os.environ["FP_RAW_C"]
NEW = ("201", "202", "203")
OUT = os.environ["FP_OUT"]

# experiment -> (pooled folder at HEAD, [(seed label, kind, folder)])
def seeds(name, root, kind, labels=("101", "102", "103")):
    return [(s, kind, f"{root}/{name}_seed{s}") for s in labels]

EXPERIMENTS = {
    "fmnist_cnn_test": seeds("fmnist_cnn_test", RAW_A, "results_json"),
    "fmnist_mobilenetv2_test": seeds("fmnist_mobilenetv2_test", RAW_B, "results_json"),
    "fmnist_resnet50_test": seeds("fmnist_resnet50_test", RAW_B, "results_json"),
    "fsdd_vgg7_test": seeds("fsdd_vgg7_test", RAW_A, "results_json"),
    "fmnist_cnn_strong_test": seeds("fmnist_cnn_strong_test", RAW_B, "results_json"),
    "fmnist_cnn_best_test": seeds("fmnist_cnn_best_test", RAW_B, "results_json"),
    "fmnist_cnn_calibrated_test": seeds("fmnist_cnn_calibrated_test", RAW_B, "results_json"),
    "fmnist_mobilenetv2_calibrated_test": seeds("fmnist_mobilenetv2_calibrated_test", RAW_B, "results_json"),
    "fmnist_resnet50_calibrated_test": seeds("fmnist_resnet50_calibrated_test", RAW_B, "results_json"),
    "fsdd_vgg7_calibrated_test": seeds("fsdd_vgg7_calibrated_test", RAW_B, "results_json"),
    "fmnist_cnn_shift_test": seeds("fmnist_cnn_shift_test", RAW_B, "results_json"),
    "fmnist_mobilenetv2_shift_test": seeds("fmnist_mobilenetv2_shift_test", RAW_B, "results_json"),
    "fmnist_resnet50_shift_test": seeds("fmnist_resnet50_shift_test", RAW_B, "results_json"),
    "fsdd_vgg7_shift_test": seeds("fsdd_vgg7_shift_test", RAW_B, "results_json"),
    "fsdd_vgg7_strong_test": seeds("fsdd_vgg7_strong_test", RAW_B, "results_json"),
    "fmnist_resnet50_strong_test": seeds("fmnist_resnet50_strong_test", HEAD, "seed_run"),
    "statistics_samples_test_fmnist_cnn": seeds("statistics_samples_test_fmnist_cnn", HEAD, "seed_run"),
}
# The new seeds' runs, pooled in <scenario>_new_seeds_pooled.
for _scenario in ("fmnist_cnn_test", "fmnist_mobilenetv2_test", "fmnist_resnet50_test",
                  "fsdd_vgg7_test", "fmnist_cnn_calibrated_test",
                  "fmnist_mobilenetv2_calibrated_test", "fmnist_resnet50_calibrated_test",
                  "fsdd_vgg7_calibrated_test"):
    EXPERIMENTS[_scenario + "_new_seeds"] = seeds(_scenario, RAW_C, "seed_run", NEW)


REFERENCE = {"statistics_samples_test_fmnist_cnn": "all"}


def load_seed(kind, folder):
    """-> list of (variant, [individual dict: name, general, eval, status, acc{method}])"""
    out = []
    if kind == "seed_run":
        d = json.load(open(f"{folder}/seed_run.json"))
        for c in d["campaigns"]:
            inds = []
            for i in c["individuals"]:
                inds.append({
                    "name": i["individual"], "general": i.get("general"),
                    "eval": i.get("eval_samples", 0), "status": "done",
                    "acc": {m: v.get("accuracy") for m, v in i["methods"].items()},
                })
            out.append((c["variant"], inds))
        return out
    for f in sorted(glob.glob(f"{folder}/campaigns/*/results.json")):
        d = json.load(open(f))
        # name: "<scenario>/<variant>" or "<scenario>/<variant>/group=<speaker>"
        parts = d["name"].split("/")
        variant = parts[1] if len(parts) > 1 else "default"
        inds = []
        for i in d["individuals"]:
            inds.append({
                "name": i["individual"], "general": i.get("general"),
                "eval": i.get("eval_samples", 0), "status": i.get("task_status"),
                "acc": {m: v.get("accuracy") for m, v in (i.get("methods") or {}).items()},
            })
        out.append((variant, inds))
    return out


PREFERRED = ["fine_prune", "finetune", "finetune_plain", "svd", "svd_macs", "em_prior",
             "adabn", "tent", "fine_prune+em_prior", "fine_prune+adabn", "fine_prune+tent"]


def comparisons(exp):
    seeds_ = [(label, load_seed(kind, folder)) for label, kind, folder in EXPERIMENTS[exp]]
    rows = []  # (seed, variant, ind)
    notes = []
    for label, camps in seeds_:
        for variant, inds in camps:
            names = [i["name"] for i in inds]
            if len(set(names)) != len(names):
                notes.append(f"seed {label} {variant}: duplicate individual names")
            for i in inds:
                if i["status"] != "done" or i["general"] is None:
                    notes.append(f"seed {label} {variant} {i['name']}: status {i['status']}, general {i['general']}")
                if i["general"] is not None:
                    rows.append((label, variant, i))
    variants = []
    for _, v, _ in rows:
        if v not in variants:
            variants.append(v)
    # individuals names across seeds (double counting check)
    for v in variants:
        keys = [(s, i["name"]) for s, vv, i in rows if vv == v]
        if len(set(keys)) != len(keys):
            notes.append(f"variant {v}: an individual counted twice in the pool")
    res = {}
    for v in variants:
        vr = [(s, i) for s, vv, i in rows if vv == v]
        seen = set()
        for _, i in vr:
            seen.update(m for m, a in i["acc"].items())
        methods = [m for m in PREFERRED if m in seen] + sorted(seen - set(PREFERRED))
        pairs = [(m, "general") for m in methods] + [("fine_prune", m) for m in methods if m != "fine_prune"]
        for b, a in pairs:
            A, B, S, E = [], [], [], []
            for s, i in vr:
                va = i["general"] if a == "general" else i["acc"].get(a)
                vb = i["acc"].get(b)
                if va is None or vb is None:
                    continue
                A.append(va); B.append(vb); S.append(s); E.append(i["eval"])
            if not A:
                continue
            res[(v, b, a)] = finish(A, B, S, E)
    refv = REFERENCE.get(exp, "default")
    if refv in variants:
        ref = {(s, i["name"]): i for s, vv, i in rows if vv == refv}
        for v in variants:
            if v == refv:
                continue
            A, B, S, E = [], [], [], []
            for s, vv, i in rows:
                if vv != v:
                    continue
                r = ref.get((s, i["name"]))
                if r is None or r["acc"].get("fine_prune") is None or i["acc"].get("fine_prune") is None:
                    continue
                A.append(r["acc"]["fine_prune"]); B.append(i["acc"]["fine_prune"]); S.append(s); E.append(i["eval"])
            if A:
                res[(v, "fine_prune", refv + " fine_prune")] = finish(A, B, S, E)
    return res, notes, seeds_


def finish(A, B, S, E):
    e = min(x for x in E if x > 0)
    r = fpstats.paired(A, B, 1.0 / e)
    per = {}
    for s, x, y in zip(S, A, B):
        per.setdefault(s, []).append(y - x)
    r["per_seed"] = {s: sum(v) / len(v) for s, v in per.items()}
    r["t_ci"] = fpstats.t_ci(r["diff"]) if len(r["diff"]) > 2 else (float("nan"),) * 2
    return r


def committed_pooled(exp):
    f = f"{HEAD}/{exp}_pooled/pooled_comparisons.csv"
    if not os.path.exists(f):
        return {}
    return {(r["variant"], r["method"], r["versus"]): r for r in csv.DictReader(open(f))}


def main(exps):
    os.makedirs(OUT, exist_ok=True)
    for exp in exps:
        res, notes, seeds_ = comparisons(exp)
        com = committed_pooled(exp)
        lines = [f"# {exp}", "sources: " + ", ".join(f for _, _, f in EXPERIMENTS[exp])]
        lines += ["notes: " + (("; ".join(notes)) if notes else "none (all rows done, no duplicates)")]
        worst = {"mean": 0, "ci": 0, "median": 0}
        mism = []
        hdr = "variant | method | versus | n | mean_b | diff | median | CI (mine) | t-CI | p(ties shared) | p(old) | imp/worse | per seed || committed: n diff CI p imp/worse | flags"
        lines.append(hdr)
        for k, r in res.items():
            c = com.get(k)
            flags = []
            cs = ""
            if c:
                dn = int(c["n"]) - r["n"]
                dm = abs(float(c["mean_diff"]) - r["mean_diff"])
                dmed = abs(float(c["median_diff"]) - r["median_diff"])
                dci = max(abs(float(c["ci_low"]) - r["ci"][0]), abs(float(c["ci_high"]) - r["ci"][1]))
                worst["mean"] = max(worst["mean"], dm)
                worst["ci"] = max(worst["ci"], dci)
                worst["median"] = max(worst["median"], dmed)
                pc = float(c["p_wilcoxon"])
                prel_new = abs(pc - r["p"]) / max(pc, 1e-300)
                prel_old = abs(pc - r["p_old"]) / max(pc, 1e-300)
                if dn: flags.append(f"n{dn:+d}")
                if dm > 1e-9: flags.append(f"mean off {dm*100:.3f}pt")
                if dmed > 1e-9: flags.append(f"median off {dmed*100:.3f}pt")
                if dci > 1e-9: flags.append(f"CI off {dci*100:.3f}pt")
                if min(prel_new, prel_old) > 1e-6: flags.append(f"p off (rel {min(prel_new, prel_old):.3g})")
                if int(c["improved"]) != r["improved"] or int(c["worse"]) != r["worse"]:
                    flags.append("counts differ")
                if c.get("per_seed_mean_diff"):
                    mine = " ".join(f"{s}:{v*100:+.1f}" for s, v in r["per_seed"].items())
                    if mine != c["per_seed_mean_diff"]:
                        flags.append(f"per-seed {c['per_seed_mean_diff']} vs {mine}")
                cs = (f"{c['n']} {float(c['mean_diff'])*100:+.2f} [{float(c['ci_low'])*100:+.2f}, "
                      f"{float(c['ci_high'])*100:+.2f}] {pc:.3g} {c['improved']}/{c['worse']}")
            else:
                flags.append("no committed row")
            if flags:
                mism.append(k)
            lines.append(
                f"{k[0]} | {k[1]} | {k[2]} | {r['n']} | {r['mean_b']*100:.2f} | {r['mean_diff']*100:+.3f} | "
                f"{r['median_diff']*100:+.2f} | [{r['ci'][0]*100:+.3f}, {r['ci'][1]*100:+.3f}] | "
                f"[{r['t_ci'][0]*100:+.2f}, {r['t_ci'][1]*100:+.2f}] | {r['p']:.3g} | {r['p_old']:.3g} | "
                f"{r['improved']}/{r['worse']} | "
                + " ".join(f"{s}:{v*100:+.2f}" for s, v in r["per_seed"].items())
                + f" || {cs} | {', '.join(flags)}")
        missing = [k for k in com if k not in res]
        lines.append(f"committed rows not recomputed: {missing}")
        lines.append(f"max |diff| vs committed: mean {worst['mean']*100:.2e} pt, median {worst['median']*100:.2e} pt, CI ends {worst['ci']*100:.2e} pt; rows flagged: {len(mism)} of {len(res)}")
        # per-seed check against each seed's own committed comparisons.csv
        seedlines = []
        for label, kind, folder in EXPERIMENTS[exp]:
            headf = f"{HEAD}/{os.path.basename(folder)}/comparisons.csv"
            if not os.path.exists(headf):
                continue
            sub_res = comparisons_one_seed(exp, label)
            worst_s = 0.0; bad = []
            for row in csv.DictReader(open(headf)):
                k = (row["variant"], row["method"], row["versus"])
                r = sub_res.get(k)
                if r is None:
                    bad.append(f"{k} not recomputed"); continue
                d = max(abs(float(row["mean_diff"]) - r["mean_diff"]),
                        abs(float(row["ci_low"]) - r["ci"][0]), abs(float(row["ci_high"]) - r["ci"][1]))
                worst_s = max(worst_s, d)
                if int(row["n"]) != r["n"] or int(row["improved"]) != r["improved"] or int(row["worse"]) != r["worse"] or d > 1e-6:
                    bad.append(f"{k}: committed n={row['n']} diff={row['mean_diff']} ci=[{row['ci_low']},{row['ci_high']}] {row['improved']}/{row['worse']}; mine n={r['n']} diff={r['mean_diff']:.6f} ci=[{r['ci'][0]:.6f},{r['ci'][1]:.6f}] {r['improved']}/{r['worse']}")
            seedlines.append(f"seed {label}: HEAD comparisons.csv vs raw rows: max |diff| {worst_s*100:.2e} pt; mismatches: {len(bad)}" + ("".join("\n   " + b for b in bad[:6])))
        lines += seedlines
        txt = "\n".join(lines)
        open(f"{OUT}/{exp}.txt", "w").write(txt + "\n")
        print(txt.split("\n")[0], "|", lines[-1 - len(seedlines)], "|", "; ".join(s.split(":")[0] + ":" + s.split("mismatches:")[1].split("\n")[0] for s in seedlines))
        json.dump({"|".join(k): {kk: vv for kk, vv in r.items() if kk != "diff"} for k, r in res.items()},
                  open(f"{OUT}/{exp}.json", "w"), indent=0)


def comparisons_one_seed(exp, label):
    saved = EXPERIMENTS[exp]
    EXPERIMENTS[exp] = [x for x in saved if x[0] == label]
    try:
        return comparisons(exp)[0]
    finally:
        EXPERIMENTS[exp] = saved


if __name__ == "__main__":
    main(sys.argv[1:] or list(EXPERIMENTS))
