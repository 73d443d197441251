#!/usr/bin/env python3
"""Few-shot transfer over several bases per framework (issue #16): how far apart cnn and PyTorch are once the base
each framework trains is itself a sample.

Input: a JSON-lines file of runs, each {"framework": "cnn"|"pytorch", "arch", "n", "seed", "strategy", "top1",
"base", optionally "options"}; "base" names the base the run started from (scratch runs have none), "options" the
cnn options beyond the defaults (a row of its own; PyTorch's runs are matched by strategy). Every base is run on the same task
seeds, so the seeds' effect (which images the task has) is common to every base mean and cancels in the difference.

For each (arch, N, strategy): the mean over seeds for each base, then the mean and spread of those base means per
framework; cnn - PyTorch with the standard error of a difference of two means whose samples are the bases
(sqrt(sd_cnn^2 / bases_cnn + sd_pt^2 / bases_pt)). Also each framework's best transfer strategy against cnn's
scratch default, paired by seed.

Usage: fewshot_bases.py RUNS.jsonl [--md OUT.md]
"""
import argparse
import collections
import json
import math
import statistics as st


def sem(v):
    return st.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs")
    ap.add_argument("--md")
    a = ap.parse_args()
    runs = [json.loads(l) for l in open(a.runs) if l.strip()]
    # (framework, arch, n, strategy) -> base -> seed -> top1
    g = collections.defaultdict(lambda: collections.defaultdict(dict))
    for r in runs:
        strat = r["strategy"] + (" " + r["options"] if r.get("options") else "")
        g[(r["framework"], r["arch"], r["n"], strat)][r.get("base") or "-"][r["seed"]] = r["top1"]
    lines = ["| base net | N | strategy | cnn: bases, mean of base means (sd across bases) | PyTorch: bases, mean (sd) "
             "| cnn - PyTorch (s.e.) | cnn base means | PyTorch base means |",
             "|---|---:|---|---:|---:|---:|---|---|"]
    keys = sorted({(k[1], k[2], k[3]) for k in g if k[3] != "scratch" and k[0] == "cnn"})
    for arch, n, strat in keys:
        per = {}
        for fw in ("cnn", "pytorch"):
            bases = g.get((fw, arch, n, strat if fw == "cnn" else strat.split(" ")[0]), {})
            seeds = None
            for b, s in bases.items():  # only the seeds every base of both frameworks has
                seeds = set(s) if seeds is None else seeds & set(s)
            per[fw] = (bases, seeds or set())
        common = per["cnn"][1] & per["pytorch"][1]
        if not common:
            continue
        means = {fw: {b: st.mean(s[x] for x in common) for b, s in per[fw][0].items()} for fw in per}
        mc, mp = list(means["cnn"].values()), list(means["pytorch"].values())
        d = st.mean(mc) - st.mean(mp)
        se = math.sqrt((st.variance(mc) / len(mc) if len(mc) > 1 else 0) +
                       (st.variance(mp) / len(mp) if len(mp) > 1 else 0))
        sd = lambda v: f"{st.stdev(v):.4f}" if len(v) > 1 else "-"
        fmt = lambda m: " ".join(f"{b}:{v:.4f}" for b, v in sorted(m.items()))
        lines.append(f"| {arch} | {n} | {strat} | {len(mc)}, {st.mean(mc):.4f} ({sd(mc)}) | {len(mp)}, "
                     f"{st.mean(mp):.4f} ({sd(mp)}) | {d * 100:+.2f} ({se * 100:.2f}) | {fmt(means['cnn'])} "
                     f"| {fmt(means['pytorch'])} |")
    lines += ["", "Against cnn's scratch default (mean over bases, paired by seed):", ""]
    for arch, n in sorted({(k[1], k[2]) for k in g}):
        scratch = g.get(("cnn", arch, n, "scratch"), {}).get("-", {})
        for fw in ("cnn", "pytorch"):
            for strat in sorted({k[3] for k in g if k[:3] == (fw, arch, n) and k[3] != "scratch"}):
                bases = g.get((fw, arch, n, strat), {})
                seeds = set(scratch)
                for s in bases.values():
                    seeds &= set(s)
                if not bases or not seeds:
                    continue
                diffs = [st.mean(s[x] for s in bases.values()) - scratch[x] for x in sorted(seeds)]
                lines.append(f"- {arch} N={n}, {fw} `{strat}` ({len(bases)} bases, {len(seeds)} seeds): "
                             f"{st.mean(diffs) * 100:+.2f} points (s.e. {sem(diffs) * 100:.2f})")
    text = "\n".join(lines)
    print(text)
    if a.md:
        open(a.md, "w").write(text + "\n")


if __name__ == "__main__":
    main()
