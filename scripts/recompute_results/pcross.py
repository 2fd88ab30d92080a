"""Comparisons whose Wilcoxon p crosses 0.05 between the committed (pre-76b0789, ties only for
equal doubles) and the current tie-sharing rule."""
import glob, json, os
for f in sorted(glob.glob(os.environ["FP_OUT"] + "/*.json")):
    for k, r in json.load(open(f)).items():
        if (r["p"] < 0.05) != (r["p_old"] < 0.05):
            print(f.split("/")[-1][:-5], k, "committed p %.4g -> ties shared %.4g" % (r["p_old"], r["p"]), "diff %+.2f CI [%+.2f, %+.2f]" % (100*r["mean_diff"], 100*r["ci"][0], 100*r["ci"][1]))
