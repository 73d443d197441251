#!/usr/bin/env bash
# What Spark (local mode) and ParallelWrapper cost against single-machine training and classification (issue #21),
# same machine, back to back, ROUNDS rounds: `cnn train` of simplecnn on builtin:shapes (3,000 images, 32 px, EPOCHS
# epochs) on one machine, with --spark local[1], --spark local[2] and --devices 2; then `cnn classify` of a folder of
# COUNT PNGs on one machine and with --spark local[2]. Each run from process start (JVM, Spark start-up and all):
# wall seconds, peak RSS of the whole process (GNU time), best validation top-1 for training.
# Writes bench/results/spark-local-<date>.json and spark-local-latest.md.
#
#   bench/spark-local.sh
#   ROUNDS=2 EPOCHS=5 COUNT=2000 bench/spark-local.sh
#   CNN=/path/to/cnn bench/spark-local.sh      # another build of the launcher
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CNN="${CNN:-$ROOT/cnn}"
ROUNDS="${ROUNDS:-2}"
EPOCHS="${EPOCHS:-5}"
COUNT="${COUNT:-2000}"
MODES="${MODES:-one spark1 spark2 devices2}"   # training runs; classify runs always
OUT="$ROOT/bench/results"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
STAMP="$(date +%Y%m%d-%H%M)"
JSON="$OUT/spark-local-$STAMP.json"

"$CNN" --version >/dev/null # builds first if needed, outside the timings
"$CNN" data synth shapes -n "$COUNT" --size 64 --out "$WORK/images" >/dev/null

# run NAME CMD...: one timed run; prints "wall rss_mb top1"
run() {
  local name="$1"; shift
  local log="$WORK/$name.log" js="$WORK/$name.json"
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$js" 2>"$log" || { echo "FAILED: $name (see below)" >&2; tail -5 "$log" >&2; return 1; }
  local wall rss top1
  read -r wall rss <"$WORK/time"
  top1="$(/usr/bin/python3 -c 'import json,sys
try:
    d=json.load(open(sys.argv[1])); print(max((h.get("top1") or 0) for h in d["history"]))
except Exception: print("")' "$js")"
  echo "$wall $((rss / 1024)) $top1"
}

echo '{"rounds": [' >"$JSON"
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round" >&2
  declare -A R=()
  for mode in $MODES; do
    case "$mode" in
      one) extra=() ;;
      spark1) extra=(--spark 'local[1]') ;;
      spark2) extra=(--spark 'local[2]') ;;
      devices2) extra=(--devices 2) ;;
    esac
    R[$mode]="$(run "train-$mode" "$CNN" train --epochs "$EPOCHS" --output "$WORK/$mode.zip" --format json "${extra[@]}")"
    echo "train $mode: ${R[$mode]}" >&2
  done
  MODEL="$WORK/$(echo "$MODES" | cut -d' ' -f1).zip"
  R[classify_one]="$(run classify-one "$CNN" classify --model "$MODEL" --format jsonl "$WORK/images")"
  echo "classify one: ${R[classify_one]}" >&2
  R[classify_spark2]="$(run classify-spark2 "$CNN" classify --spark 'local[2]' --model "$MODEL" --format jsonl "$WORK/images")"
  echo "classify spark2: ${R[classify_spark2]}" >&2
  [ "$round" -gt 1 ] && echo ',' >>"$JSON"
  {
    echo "{\"round\": $round"
    for k in $MODES classify_one classify_spark2; do
      read -r w m t <<<"${R[$k]}"
      echo ", \"$k\": {\"wall_s\": $w, \"peak_rss_mb\": $m, \"best_top1\": ${t:-null}}"
    done
    echo "}"
  } >>"$JSON"
done
echo "], \"epochs\": $EPOCHS, \"classify_images\": $COUNT, \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\", \"cores\": $(nproc)}" >>"$JSON"

/usr/bin/python3 - "$JSON" "$OUT/spark-local-latest.md" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = [("cnn train (one machine)", "one"), ("cnn train --spark local[1]", "spark1"),
        ("cnn train --spark local[2]", "spark2"), ("cnn train --devices 2", "devices2"),
        (f"cnn classify, {d['classify_images']} PNGs", "classify_one"),
        (f"cnn classify --spark local[2], {d['classify_images']} PNGs", "classify_spark2")]
out = [f"{d['epochs']} epochs of simplecnn on builtin:shapes; {d['cpu']}, {d['cores']} cores; from process start.", "",
       "| run | " + " | ".join(f"round {r['round']} s / MB / top-1" for r in d["rounds"]) + " | time vs one machine |",
       "|---|" + "---:|" * (len(d["rounds"]) + 1)]
for label, k in rows:
    if k not in d["rounds"][0]:
        continue
    base = ("one" if "one" in d["rounds"][0] else k) if not k.startswith("classify") else "classify_one"
    cells = []
    ratios = []
    for r in d["rounds"]:
        x = r[k]
        t = "" if x["best_top1"] is None else f" / {x['best_top1']:.3f}"
        cells.append(f"{x['wall_s']:.1f} / {x['peak_rss_mb']}{t}")
        ratios.append(x["wall_s"] / r[base]["wall_s"])
    out.append(f"| {label} | " + " | ".join(cells) + f" | {min(ratios):.2f}-{max(ratios):.2f}x |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
echo "wrote $JSON" >&2
