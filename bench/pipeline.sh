#!/usr/bin/env bash
# The photo pipeline against PyTorch's (issue #18), same machine, back to back: photo-like image folders (noise,
# shapes, gradients; bench/photos.py) at 500x375 and 1024x768 JPEG (quality 90) and 500x375 PNG, then per set and
# size: the input pipeline alone (`cnn bench data --folder` against ImageFolder + DataLoader, same worker count,
# images/s of a full pass, median of RUNS passes after the first), `cnn train` epoch 1 (simplecnn at that size against
# the same network on the DataLoader), and `cnn classify` of the folder from process start (the simplecnn bundle that
# training made) against a PyTorch script doing the same. Writes bench/results/pipeline-<date>.json and
# pipeline-latest.md.
#
#   bench/pipeline.sh                       # 2 workers, 1000 images per set
#   WORKERS=2 COUNT=1000 ROUNDS=2 SIZES="64 128 224" bench/pipeline.sh
#   TRAIN_SETS=jpg500 TRAIN_SIZES=64 bench/pipeline.sh   # train and classify on fewer cases (default: all)
#   CNN=/path/to/cnn bench/pipeline.sh      # another build of the launcher
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CNN="${CNN:-$ROOT/cnn}"
WORKERS="${WORKERS:-2}"
COUNT="${COUNT:-1000}"
ROUNDS="${ROUNDS:-2}"
RUNS="${RUNS:-3}"
SIZES="${SIZES:-64 128 224}"
SETS="${SETS:-jpg500 jpg1024 png500}"
TRAIN_SETS="${TRAIN_SETS-$SETS}"     # train epoch 1 and classify: each set at each size (empty: none)
TRAIN_SIZES="${TRAIN_SIZES-$SIZES}"
THREADS="${THREADS:-2}"
PY=/usr/bin/python3
DATA="${PHOTOS:-$ROOT/bench/target/photos}"   # generated once, kept between runs
OUT="$ROOT/bench/results"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS="$THREADS" CNN_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS"
mkdir -p "$OUT" "$DATA"

for set in $(echo $SETS $TRAIN_SETS | tr ' ' '\n' | sort -u); do
  case "$set" in
    jpg500) args=(--size 500x375 --format jpg) ;;
    jpg1024) args=(--size 1024x768 --format jpg) ;;
    png500) args=(--size 500x375 --format png) ;;
    *) echo "unknown set $set" >&2; exit 2 ;;
  esac
  if [ ! -d "$DATA/$set" ] || [ "$(find "$DATA/$set" -type f | wc -l)" -lt "$COUNT" ]; then
    echo "== writing $COUNT photo-like images to $DATA/$set" >&2
    "$PY" "$ROOT/bench/photos.py" "$DATA/$set" --count "$COUNT" "${args[@]}"
  fi
done

for round in $(seq 1 "$ROUNDS"); do
  for set in $SETS; do
    for size in $SIZES; do
      echo "== round $round: pipeline $set @$size" >&2
      "$CNN" bench data --folder "$DATA/$set" --sizes "$size" --workers "$WORKERS" --batch-size 64 --runs $((RUNS + 1)) \
        --json "$WORK/cnn-pipeline-$set-$size-r$round.json" >/dev/null 2>>"$WORK/cnn.log"
      "$PY" "$ROOT/bench/pipeline_pytorch.py" pipeline "$DATA/$set" --size "$size" --workers "$WORKERS" \
        --runs $((RUNS + 1)) --threads "$THREADS" > "$WORK/torch-pipeline-$set-$size-r$round.json" 2>>"$WORK/torch.log"
    done
  done
  for set in $TRAIN_SETS; do
    for size in $TRAIN_SIZES; do
      tag="$set-$size-r$round"
      echo "== round $round: train epoch 1, simplecnn@$size on $set" >&2
      (cd "$WORK" && "$CNN" train --data "$DATA/$set" --model simplecnn --image-size "$size" --epochs 1 \
        --workers "$WORKERS" --val-split 0 --no-report -o "m-$tag.zip" >/dev/null 2>>"$WORK/cnn.log")
      tail -1 "$WORK/m-$tag.history.csv" | cut -d, -f8 > "$WORK/cnn-train-$tag.txt"
      "$PY" "$ROOT/bench/pipeline_pytorch.py" train "$DATA/$set" --size "$size" --workers "$WORKERS" --runs 1 \
        --threads "$THREADS" > "$WORK/torch-train-$tag.json" 2>>"$WORK/torch.log"
      echo "== round $round: classify $set @$size from process start" >&2
      s=$(date +%s.%N)
      "$CNN" classify --model "$WORK/m-$tag.zip" "$DATA/$set" --workers "$WORKERS" --format jsonl \
        > "$WORK/cnn-classify.jsonl" 2>>"$WORK/cnn.log"
      e=$(date +%s.%N)
      echo "$e - $s" | bc > "$WORK/cnn-classify-$tag.txt"
      s=$(date +%s.%N)
      "$PY" "$ROOT/bench/pipeline_pytorch.py" classify "$DATA/$set" --size "$size" --threads "$THREADS" \
        >/dev/null 2>>"$WORK/torch.log"
      e=$(date +%s.%N)
      echo "$e - $s" | bc > "$WORK/torch-classify-$tag.txt"
    done
  done
done

"$PY" - "$WORK" "$OUT" "$WORKERS" "$ROUNDS" "$SETS" "$SIZES" "$TRAIN_SETS" "$TRAIN_SIZES" <<'EOF2'
import datetime, json, os, statistics, sys
work, out, workers, rounds, sets, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(), [int(s) for s in sys.argv[6].split()]
train_sets, train_sizes = sys.argv[7].split(), [int(s) for s in sys.argv[8].split()]
def med(xs): return statistics.median(xs)
def spread(xs): return max(xs) / min(xs) if min(xs) > 0 else float("inf")
rows = []
for set_ in sets:
    for size in sizes:
        per_round = []
        for r in range(1, rounds + 1):
            c = json.load(open(f"{work}/cnn-pipeline-{set_}-{size}-r{r}.json"))["rows"][0]["rates"]
            t = json.load(open(f"{work}/torch-pipeline-{set_}-{size}-r{r}.json"))["rates"]
            c_first, c_rest, t_first, t_rest = c[0], c[1:], t[0], t[1:]
            disturbed = spread(c_rest) > 2 or spread(t_rest) > 2
            per_round.append(dict(round=r, cnn=med(c_rest), torch=med(t_rest), cnn_first=c_first, torch_first=t_first,
                                  ratio=med(c_rest) / med(t_rest), disturbed=disturbed))
        ok = [p for p in per_round if not p["disturbed"]] or per_round
        rows.append(dict(case=f"pipeline {set_} @{size}", cnn=med([p["cnn"] for p in ok]), torch=med([p["torch"] for p in ok]),
                         ratio=med([p["ratio"] for p in ok]), rounds=per_round))
for set_ in train_sets:
    for size in train_sizes:
        tr = []
        for r in range(1, rounds + 1):
            c = float(open(f"{work}/cnn-train-{set_}-{size}-r{r}.txt").read())
            t = json.load(open(f"{work}/torch-train-{set_}-{size}-r{r}.json"))["rates"][0]
            tr.append(dict(round=r, cnn=c, torch=t, ratio=c / t))
        rows.append(dict(case=f"train epoch 1 simplecnn@{size} {set_} (img/s)", cnn=med([p["cnn"] for p in tr]),
                         torch=med([p["torch"] for p in tr]), ratio=med([p["ratio"] for p in tr]), rounds=tr))
for set_ in train_sets:
    for size in train_sizes:
        cl = []
        for r in range(1, rounds + 1):
            c = float(open(f"{work}/cnn-classify-{set_}-{size}-r{r}.txt").read())
            t = float(open(f"{work}/torch-classify-{set_}-{size}-r{r}.txt").read())
            cl.append(dict(round=r, cnn=c, torch=t, ratio=t / c))
        rows.append(dict(case=f"classify {set_} simplecnn@{size} from process start (s; ratio = torch/cnn)",
                         cnn=med([p["cnn"] for p in cl]), torch=med([p["torch"] for p in cl]),
                         ratio=med([p["ratio"] for p in cl]), rounds=cl))
stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
doc = dict(date=stamp, workers=workers, threads=os.cpu_count(), rows=rows)
json.dump(doc, open(f"{out}/pipeline-{stamp}.json", "w"), indent=1)
lines = [f"Photo pipeline, {workers} workers, {os.cpu_count()} cores, {stamp} (median over rounds; pipeline rates: "
         "median of the passes after the first)", "", "| case | cnn | PyTorch | cnn/PyTorch | rounds (ratio) |", "|---|---:|---:|---:|---|"]
for r in rows:
    rs = ", ".join(f"{p['ratio']:.2f}" + (" disturbed" if p.get("disturbed") else "") for p in r["rounds"])
    fmt = "{:.2f}" if "classify" in r["case"] else "{:.0f}"
    lines.append(f"| {r['case']} | {fmt.format(r['cnn'])} | {fmt.format(r['torch'])} | {r['ratio']:.2f} | {rs} |")
open(f"{out}/pipeline-latest.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF2
