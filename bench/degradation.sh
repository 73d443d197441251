#!/usr/bin/env bash
# The residual-learning experiment (He et al. 2016, section 4.2; issue #19): plain20, plain56, resnet20 and
# resnet56 trained with the same settings on the same data. The paper's claim: the deeper plain net trains WORSE
# (higher training error) than the shallower one, and the deeper ResNet trains better than the shallower one.
# Data: Fashion-MNIST (../shared/data/fashion-mnist) resized to 32x32, a subset of TRAIN_PER_CLASS images per class
# (default 500: 5,000 images) and the full test set; or DATA=builtin:shapes.
# Settings as the paper's CIFAR runs, scaled down: SGD momentum 0.9, lr 0.1 (0.01 warm-up epoch for 56 layers, as
# the paper does for 110), weight decay 1e-4, batch 128, step decay x0.1 at half of EPOCHS (default 12).
# Usage: bench/degradation.sh [FM_DIR] [WORK_DIR]
# Output: bench/results/degradation.{md,png} and the four epoch logs; a table on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FM_SRC="${1:-$ROOT/../shared/data/fashion-mnist}"
WORK="${2:-/tmp/cnn-degradation}"
EPOCHS="${EPOCHS:-12}"
PER_CLASS="${TRAIN_PER_CLASS:-500}"
NETS="${NETS:-plain20 plain56 resnet20 resnet56}"
CNN="${CNN:-$ROOT/cnn}"
mkdir -p "$WORK" "$ROOT/bench/results"
cd "$WORK"

if [ -z "${DATA:-}" ]; then
  if [ ! -d fm/train ]; then
    "$CNN" data import idx "$FM_SRC" --names fashion-mnist --out fm >&2
  fi
  if [ ! -d sub/train ]; then  # the first PER_CLASS images of each class (file order is the IDX order)
    for split in train; do
      for c in fm/$split/*/; do
        c=$(basename "$c"); mkdir -p sub/$split/$c
        # (a pipe into head would end ls with SIGPIPE, which pipefail turns into the script's exit)
        mapfile -t files < <(ls "fm/$split/$c")
        for f in "${files[@]:0:$PER_CLASS}"; do ln -sf "$WORK/fm/$split/$c/$f" "sub/$split/$c/$f"; done
      done
    done
    ln -sfn "$WORK/fm/test" sub/val
  fi
  DATA="sub"
  CH=(--channels 1)
else
  CH=(--channels 3)
fi

STEP=$(( EPOCHS / 2 ))
for net in $NETS; do
  [ -f "$net.zip" ] && continue
  warm=0; [[ "$net" == *56 ]] && warm=1
  /usr/bin/time -f "%e" -o "$net.time" "$CNN" train --data "$DATA" --model "$net" "${CH[@]}" --image-size 32 \
    --optimizer sgd --momentum 0.9 --lr 0.1 --weight-decay 1e-4 --batch-size 128 --epochs "$EPOCHS" \
    --schedule step --step-epochs "$STEP" --step-gamma 0.1 --warmup "$warm" --seed 1 --workers 2 --cache \
    --no-report --output "$net.zip" >&2
done

args=()
for net in $NETS; do args+=("$net=$net.history.csv"); done
"$CNN" visualize curves "${args[@]}" --metric train_loss --title "training loss, $DATA, $EPOCHS epochs" \
  --output "$ROOT/bench/results/degradation.png" >&2

python3 - "$EPOCHS" $NETS > "$ROOT/bench/results/degradation.md" <<'PY'
import csv, sys
epochs, nets = sys.argv[1], sys.argv[2:]
print("| network | final train loss | min train loss | final val top-1 | best val top-1 | wall s |")
print("|---|---:|---:|---:|---:|---:|")
for n in nets:
    rows = list(csv.DictReader(open(n + ".history.csv")))
    tl = [float(r["train_loss"]) for r in rows]
    t1 = [float(r["top1"]) for r in rows]
    secs = open(n + ".time").read().strip()
    print(f"| {n} | {tl[-1]:.4f} | {min(tl):.4f} | {t1[-1]:.4f} | {max(t1):.4f} | {secs} |")
PY
cat "$ROOT/bench/results/degradation.md"
# the four networks of the experiment: the table also goes into bench/RESULTS.md, between its markers
if [ "$NETS" = "plain20 plain56 resnet20 resnet56" ]; then
  python3 - "$ROOT/bench/RESULTS.md" "$ROOT/bench/results/degradation.md" <<'PY'
import sys
results, table = sys.argv[1], open(sys.argv[2]).read()
text = open(results).read()
begin, end = "<!-- bench/degradation.sh: table -->\n", "<!-- /bench/degradation.sh -->"
i, j = text.find(begin), text.find(end)
if i < 0 or j < i:
    sys.exit("bench/RESULTS.md has no degradation markers; the table is in bench/results/degradation.md")
open(results + ".tmp", "w").write(text[:i + len(begin)] + table + text[j:])
import os
os.replace(results + ".tmp", results)
print("bench/RESULTS.md: degradation table updated", file=sys.stderr)
PY
fi
