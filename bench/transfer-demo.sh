#!/usr/bin/env bash
# Transfer-learning demo (issue #5): pretrain simplecnn on 8 Fashion-MNIST classes, then learn the 2 held-out classes
# from 10, 50 and 200 images per class with feature extraction, finetuning and from scratch, and time epochs with and
# without the feature cache. Needs the Fashion-MNIST IDX files (default ../shared/data/fashion-mnist).
# Usage: bench/transfer-demo.sh [FM_DIR] [WORK_DIR]
#        DEFAULTS=1 [SEEDS="0 1 2"] bench/transfer-demo.sh   every strategy with its defaults against scratch, on the
#        same base and tasks: bench/results/transfer-demo-defaults.{md,json}
#        DEFAULTS=1 BASE_LR=0.0001:0.001 bench/transfer-demo.sh   finetune and gradual with that --base-lr, the rest at
#        their defaults: bench/results/transfer-demo-base-lr.{md,json}
# Output: a table on stdout, bench/results/transfer-demo.{md,json} (with ONLY_TIMING=1, which reruns only the
# feature-cache timings: bench/results/transfer-timing.{md,json}).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FM_SRC="${1:-$ROOT/../shared/data/fashion-mnist}"
WORK="${2:-/tmp/cnn-transfer-demo}"
HELD=("Shirt" "T-shirt_top")          # the hardest Fashion-MNIST pair, held out of pretraining
SIZES=(10 50 200)
EPOCHS="${EPOCHS:-15}"
PRE_EPOCHS="${PRE_EPOCHS:-3}"
CNN="${CNN:-$ROOT/cnn}"   # CNN=... runs another build of the launcher
mkdir -p "$WORK" "$ROOT/bench/results"
cd "$WORK"

if [ ! -d fm/train ]; then
  "$CNN" data import idx "$FM_SRC" --names fashion-mnist --out fm >&2
fi

# pretraining set: the other 8 classes (symlinked class folders)
rm -rf fm8 && mkdir -p fm8/train fm8/test
for c in $(ls fm/train); do
  case " ${HELD[*]} " in *" $c "*) continue ;; esac
  ln -s "$WORK/fm/train/$c" fm8/train/$c
  ln -s "$WORK/fm/test/$c" fm8/test/$c
done
if [ ! -f base8.zip ]; then
  /usr/bin/time -f "%e" -o pretrain.time "$CNN" train --data fm8 --model simplecnn --channels 1 --image-size 28 \
    --epochs "$PRE_EPOCHS" --batch-size 128 --cache --output base8.zip >&2
fi
"$CNN" evaluate --model base8.zip --data fm8/test --format json > base8.eval.json

# small tasks: n training images per held-out class, a fixed 200-per-class validation set, the full test set
python3 - "$WORK" "${HELD[@]}" <<'EOF2'
import os, sys
work, held = sys.argv[1], sys.argv[2:]
for n in (10, 50, 200):
    root = os.path.join(work, f"small{n}")
    os.system(f"rm -rf '{root}'")
    for c in held:
        files = sorted(os.listdir(os.path.join(work, "fm", "train", c)))
        for split, names in (("train", files[:n]), ("val", files[-200:])):
            os.makedirs(os.path.join(root, split, c))
            for f in names:
                os.symlink(os.path.join(work, "fm", "train", c, f), os.path.join(root, split, c, f))
        os.makedirs(os.path.join(root, "test"), exist_ok=True)
        os.symlink(os.path.join(work, "fm", "test", c), os.path.join(root, "test", c))
EOF2

run() { # name n args...
  local name=$1 n=$2; shift 2
  local start end
  start=$(date +%s.%N)
  "$@" --output "$name.zip" --format json > "$name.json" 2> "$name.log"
  end=$(date +%s.%N)
  "$CNN" evaluate --model "$name.zip" --data "small$n/test" --format json > "$name.eval.json"
  python3 - "$name" "$n" "$start" "$end" "$RECORDS" <<'EOF'
import json, sys
name, n, start, end, records = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
run = json.load(open(name + ".json")); ev = json.load(open(name + ".eval.json"))
hist = run["history"]
secs = [h["seconds"] for h in hist]
cache = any(p.get("featureCache") for p in run.get("phases") or [])
rec = {"name": name, "perClass": n, "testTop1": ev["top1"], "bestValTop1": max((h["top1"] or 0) for h in hist),
       "epochs": len(hist), "firstEpochSeconds": secs[0], "laterEpochSeconds": sorted(secs[1:])[len(secs[1:]) // 2] if len(secs) > 1 else None,
       "wallSeconds": end - start, "featureCache": cache,
       "cacheSeconds": sum(p.get("cacheSeconds", 0) for p in run.get("phases") or [])}
with open(records, "a") as f:
    f.write(json.dumps(rec) + "\n")
EOF
}

RECORDS=records.jsonl
if [ "${DEFAULTS:-0}" = 1 ]; then   # every strategy with its defaults (only --epochs and --seed given), SEEDS seeds
  STRATEGIES=(feature-extraction finetune gradual)
  EXTRA=()
  STEM=transfer-demo-defaults
  RECORDS=records-defaults.jsonl    # the full demo's records stay
  if [ -n "${BASE_LR:-}" ]; then    # the strategies that train the base, at --base-lr BASE_LR
    STRATEGIES=(finetune gradual)
    EXTRA=(--base-lr "$BASE_LR")
    STEM=transfer-demo-base-lr
    RECORDS=records-base-lr.jsonl
  fi
  rm -f "$RECORDS"
  for n in "${SIZES[@]}"; do
    for s in ${SEEDS:-0 1 2}; do
      for st in "${STRATEGIES[@]}"; do
        run "$st-$n-s$s" "$n" "$CNN" finetune --base base8.zip --data "small$n" --strategy "$st" --epochs "$EPOCHS" \
          --seed "$s" --cache --no-report "${EXTRA[@]}"
      done
      if [ -z "${BASE_LR:-}" ]; then
        run "scratch-$n-s$s" "$n" "$CNN" train --data "small$n" --model simplecnn --channels 1 --image-size 28 \
          --epochs "$EPOCHS" --seed "$s" --cache --no-report
      fi
    done
  done
  python3 - "$ROOT/bench/results" "$PRE_EPOCHS" "${HELD[*]}" "$EPOCHS" "$RECORDS" "$STEM" "${BASE_LR:-}" <<'EOF'
import json, sys, platform, os, datetime, statistics as st, collections
out, pre_epochs, held, epochs, records, stem, base_lr = sys.argv[1:8]
recs = [json.loads(l) for l in open(records)]
base = json.load(open("base8.eval.json"))
cells = collections.defaultdict(list)
for r in recs:
    kind, n, seed = r["name"].rsplit("-", 2)
    cells[(kind, int(n))].append(r["testTop1"])
kinds = ("finetune", "gradual") if base_lr else ("feature-extraction", "finetune", "gradual", "scratch")
def cell(v):
    return f"{st.mean(v):.4f} ± {st.stdev(v):.4f}" if len(v) > 1 else f"{v[0]:.4f}" if v else "-"
how = (f"Finetune and gradual with `--base-lr {base_lr}` (`cnn finetune --strategy S --epochs {epochs} --base-lr "
       f"{base_lr}`, gradual's frozen epoch coming before them; everything else at its default"
       if base_lr else
       f"Every strategy with its defaults (`cnn finetune --strategy S --epochs {epochs}`, gradual's frozen epoch "
       f"coming before them; `cnn train --model simplecnn --channels 1 --image-size 28 --epochs {epochs}`, the "
       f"base's input")
lines = [f"Base: simplecnn trained on the 8 other Fashion-MNIST classes ({pre_epochs} epochs), test top-1 "
         f"{base['top1']:.4f} on them. New task: the held-out pair ({held}), n training images a class, 200 a class "
         f"for validation, the 2,000 test images of the pair. {how}; only `--seed` varies; the best validation "
         f"epoch kept), mean ± std over seeds.", ""]
if base_lr:
    lines += ["| train images/class | " + " | ".join(kinds) + " |", "|---:|---:|---:|"]
    for n in sorted({k[1] for k in cells}):
        lines.append(f"| {n} | " + " | ".join(cell(cells[(k, n)]) for k in kinds) + " |")
else:
    lines += ["| train images/class | " + " | ".join(kinds) + " | best transfer - scratch |",
              "|---:|---:|---:|---:|---:|---:|"]
    for n in sorted({k[1] for k in cells}):
        best = max(st.mean(cells[(k, n)]) for k in kinds[:3])
        lines.append(f"| {n} | " + " | ".join(cell(cells[(k, n)]) for k in kinds)
                     + f" | {best - st.mean(cells[('scratch', n)]):+.4f} |")
lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} cores; {datetime.date.today()}"]
text = "\n".join(lines)
print(text)
open(os.path.join(out, stem + ".md"), "w").write(text + "\n")
json.dump({"records": recs, "base": {"top1": base["top1"]}, "baseLr": base_lr or None},
          open(os.path.join(out, stem + ".json"), "w"), indent=2)
EOF
  exit 0
fi

if [ "${ONLY_TIMING:-0}" = 1 ]; then   # keep the accuracy runs, redo the cache timings
  grep -v '"name": "\(fe-nocache-200\|fe-cache-200\|r18-fe-nocache\|r18-fe-cache\)"' records.jsonl > records.tmp || true
  mv records.tmp records.jsonl
  SIZES_RUN=()
else
  rm -f records.jsonl
  SIZES_RUN=("${SIZES[@]}")
fi
for n in "${SIZES_RUN[@]}"; do
  D="small$n"
  run "fe-$n" "$n" "$CNN" finetune --base base8.zip --data "$D" --strategy feature-extraction --epochs "$EPOCHS" --lr 0.01 --batch-size 32 --cache
  run "ft-$n" "$n" "$CNN" finetune --base base8.zip --data "$D" --strategy finetune --epochs "$EPOCHS" --lr 0.003 --base-lr 0.0003 --batch-size 32 --cache
  run "gr-$n" "$n" "$CNN" finetune --base base8.zip --data "$D" --strategy gradual --frozen-epochs 3 --epochs $((EPOCHS - 3)) --lr 0.01 --base-lr 0.0003 --batch-size 32 --cache
  run "scratch-$n" "$n" "$CNN" train --data "$D" --model simplecnn --channels 1 --image-size 28 --epochs "$EPOCHS" --lr 0.003 --batch-size 32 --cache
done
# epoch cost with and without the feature cache (feature extraction, 200 per class, images cached in memory either way)
run "fe-nocache-200" 200 "$CNN" finetune --base base8.zip --data small200 --strategy feature-extraction --epochs 5 --lr 0.01 --batch-size 32 --cache --no-feature-cache --no-report
run "fe-cache-200" 200 "$CNN" finetune --base base8.zip --data small200 --strategy feature-extraction --epochs 5 --lr 0.01 --batch-size 32 --cache --no-report
# the same with a bigger frozen base: resnet18 at 64 px (trained briefly on the shapes; only the timing matters)
if [ ! -f r18base.zip ]; then
  "$CNN" train --data "builtin:shapes?n=400&size=64&seed=3" --model resnet18 --image-size 64 --epochs 1 \
    --batch-size 32 --output r18base.zip --no-report >&2 2>/dev/null
fi
R18DATA="builtin:shapes?n=800&size=64&seed=7"
for mode in nocache cache; do
  flag=(); [ "$mode" = nocache ] && flag=(--no-feature-cache)
  name="r18-fe-$mode"; start=$(date +%s.%N)
  "$CNN" finetune --base r18base.zip --data "$R18DATA" --strategy feature-extraction --epochs 5 --lr 0.01 \
    --batch-size 32 "${flag[@]}" --output "$name.zip" --format json --no-report > "$name.json" 2> "$name.log"
  end=$(date +%s.%N)
  python3 - "$name" "$start" "$end" <<'EOF2'
import json, sys
name, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
run = json.load(open(name + ".json")); secs = [h["seconds"] for h in run["history"]]
rec = {"name": name, "perClass": 160, "testTop1": None, "bestValTop1": max((h["top1"] or 0) for h in run["history"]),
       "epochs": len(secs), "firstEpochSeconds": secs[0], "laterEpochSeconds": sorted(secs[1:])[len(secs[1:]) // 2],
       "wallSeconds": end - start, "featureCache": any(p.get("featureCache") for p in run["phases"]),
       "cacheSeconds": sum(p.get("cacheSeconds", 0) for p in run["phases"])}
open("records.jsonl", "a").write(json.dumps(rec) + "\n")
EOF2
done

# ONLY_TIMING writes transfer-timing.{md,json}: in a fresh WORK_DIR it has no accuracy runs to report, and must not
# overwrite the full demo's results with an empty table
STEM=transfer-demo
[ "${ONLY_TIMING:-0}" = 1 ] && STEM=transfer-timing
python3 - "$ROOT/bench/results" "$PRE_EPOCHS" "${HELD[*]}" "$STEM" <<'EOF'
import json, sys, platform, os, datetime
out, pre_epochs, held, stem = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
recs = [json.loads(l) for l in open("records.jsonl")]
base = json.load(open("base8.eval.json"))
pre_time = open("pretrain.time").read().strip() if os.path.exists("pretrain.time") else "?"
by = {r["name"]: r for r in recs}
lines = [f"Base: simplecnn pretrained on the 8 other Fashion-MNIST classes ({pre_epochs} epochs, {pre_time} s wall), "
         f"test top-1 {base['top1']:.4f} on those 8 classes. Held-out pair: {held}.", "",
         "| train images/class | feature extraction | finetune | gradual | from scratch |",
         "|---:|---:|---:|---:|---:|"]
for n in (10, 50, 200):
    row = [by.get(f"{k}-{n}") for k in ("fe", "ft", "gr", "scratch")]
    lines.append(f"| {n} | " + " | ".join(f"{r['testTop1']:.4f}" if r and r['testTop1'] is not None else "-" for r in row) + " |")
lines += ["", "Test top-1 on the 2,000 Fashion-MNIST test images of the held-out pair (best-validation epoch).", "",
          "| feature extraction, 5 epochs | first epoch (s) | later epochs, median (s) | cache build (s) | wall (s) |",
          "|---|---:|---:|---:|---:|"]
ratios = {}
for what, (a_key, b_key), label in (("simplecnn@28, Fashion-MNIST 200/class", ("fe-nocache-200", "fe-cache-200"), "simplecnn"),
                                    ("resnet18@64, shapes 640 train images", ("r18-fe-nocache", "r18-fe-cache"), "resnet18")):
    for k in (a_key, b_key):
        r = by[k]
        lines.append(f"| {what}, {'with' if r['featureCache'] else 'without'} feature cache | "
                     f"{r['firstEpochSeconds']:.3f} | {r['laterEpochSeconds']:.3f} | {r['cacheSeconds']:.2f} | "
                     f"{r['wallSeconds']:.1f} |")
    ratios[label] = by[a_key]["laterEpochSeconds"] / by[b_key]["laterEpochSeconds"]
ratio = ratios
lines += ["", "Epochs after the first, uncached / cached: " + ", ".join(f"{k} {v:.1f}x" for k, v in ratios.items())
          + " (a cached epoch trains only the head; an uncached one also runs the frozen base forward; the first "
            "cached epoch pays for building the cache).", "",
          f"Machine: {platform.machine()}, {os.cpu_count()} cores; {datetime.date.today()}"]
text = "\n".join(lines)
print(text)
open(os.path.join(out, stem + ".md"), "w").write(text + "\n")
json.dump({"records": recs, "base": {"top1": base["top1"]}, "cacheSpeedup": ratio},
          open(os.path.join(out, stem + ".json"), "w"), indent=2)
EOF
