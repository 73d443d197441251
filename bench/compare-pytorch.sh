#!/usr/bin/env bash
# Speed of cnn (DL4J) against PyTorch on this machine, same run: the cases of `cnn bench models` (same architectures,
# parameter counts, inputs, batch sizes, Adam, thread count), then `cnn classify` cold start against a PyTorch script
# that does the same job. Prints one table with both rates and the ratio; writes bench/results/compare-<date>.json
# and bench/results/compare-latest.md.
#
#   bench/compare-pytorch.sh                 # default cases, 2 threads
#   THREADS=2 RUNS=5 SECONDS_PER_RUN=2 LEVERS=1 bench/compare-pytorch.sh
#   CNN=/path/to/cnn bench/compare-pytorch.sh   # another build of the launcher
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CNN="${CNN:-$ROOT/cnn}"
THREADS="${THREADS:-2}"
RUNS="${RUNS:-5}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-2}"
OUT="$ROOT/bench/results"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PY=/usr/bin/python3   # Debian's python, where python3-torch installs

if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  echo "installing python3-torch python3-torchvision libopenblas0-pthread (Debian packages)..." >&2
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-torchvision \
    libopenblas0-pthread >&2
fi
if ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  echo "warning: libopenblas0-pthread is missing; torch matmul would use the reference BLAS" >&2
fi

export OMP_NUM_THREADS="$THREADS" CNN_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
mkdir -p "$OUT"
LEVER_ARGS=()
[ "${LEVERS:-0}" = 1 ] && LEVER_ARGS=(--levers)

echo "== cnn bench models ($THREADS threads)" >&2
"$CNN" bench models --runs "$RUNS" --seconds "$SECONDS_PER_RUN" "${LEVER_ARGS[@]}" --json "$WORK/cnn.json" >&2
echo "== pytorch, same cases" >&2
"$PY" "$ROOT/bench/pytorch_bench.py" --cases "$WORK/cnn.json" --threads "$THREADS" --json "$WORK/torch.json" >/dev/null

echo "== classify cold start (resnet18 bundle at 64 px, one image)" >&2
"$CNN" train --data "builtin:shapes?n=64&size=64" --model resnet18 --image-size 64 --epochs 1 --batch-size 32 \
  --output "$WORK/r18.zip" >/dev/null 2>&1
"$PY" "$ROOT/bench/pytorch_bench.py" --save-resnet18 "$WORK/r18.pt" --size 64 --classes 4
"$CNN" data synth shapes --out "$WORK/img" -n 8 --size 64 >/dev/null 2>&1
IMG="$(find "$WORK/img" -name '*.png' | head -1)"
cold() { # prints the median wall ms of 5 runs of "$@" (after one untimed run that warms the file cache)
  "$@" >/dev/null 2>&1
  for _ in 1 2 3 4 5; do
    local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))
  done | sort -n | sed -n 3p
}
CNN_COLD=$(cold "$CNN" classify --model "$WORK/r18.zip" "$IMG")
TORCH_COLD=$(cold "$PY" "$ROOT/bench/pytorch_bench.py" --classify-once "$WORK/r18.pt" "$IMG" --threads "$THREADS")
"$CNN" classify --timings --model "$WORK/r18.zip" "$IMG" 2>"$WORK/timings.txt" >/dev/null || true

"$PY" - "$WORK/cnn.json" "$WORK/torch.json" "$CNN_COLD" "$TORCH_COLD" "$WORK/timings.txt" "$OUT" <<'EOF'
import json, sys, os, platform, datetime, subprocess
cnn, torch = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
cnn_cold, torch_cold, timings, out = int(sys.argv[3]), int(sys.argv[4]), open(sys.argv[5]).read().strip(), sys.argv[6]
key = lambda r: (r["model"], r["input"], r["batch"], r["mode"])
peer = {key(r): r for r in torch["results"]}
rows, bad = [], []
for r in cnn["results"]:
    p = peer[key(r)]
    if r["params"] != p["params"]:
        bad.append(f"{r['model']}: cnn {r['params']} params, torch {p['params']}")
    rows.append({"model": r["model"], "input": r["input"], "batch": r["batch"], "mode": r["mode"],
                 "settings": r["settings"], "params": r["params"], "cnnImagesPerSec": r["imagesPerSec"],
                 "torchImagesPerSec": p["imagesPerSec"], "ratio": round(r["imagesPerSec"] / p["imagesPerSec"], 3),
                 "cnnPeakHeapMb": r["peakHeapMb"], "cnnPeakOffHeapMb": r["peakOffHeapMb"],
                 "cnnRuns": r["runs"], "torchRuns": p["runs"]})
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
head = (f"| model | input | batch | mode | settings | params | cnn img/s | PyTorch img/s | ratio |\n"
        f"|---|---|---:|---|---|---:|---:|---:|---:|")
lines = [head] + [f"| {r['model']} | {r['input']} | {r['batch']} | {r['mode']} | {r['settings']} | {r['params']:,} | "
                  f"{r['cnnImagesPerSec']:.1f} | {r['torchImagesPerSec']:.1f} | {r['ratio']:.2f} |" for r in rows]
lines += ["", f"| classify, 1 image, resnet18 bundle @64 px | cnn | PyTorch script | ratio (time) |",
          "|---|---:|---:|---:|",
          f"| wall ms, process start to result (median of 5) | {cnn_cold} | {torch_cold} | {cnn_cold / torch_cold:.2f} |",
          "", f"cnn breakdown: {timings}",
          "", f"Machine: {cpu}, {os.cpu_count()} cores, {cnn['threads']} threads per engine; "
              f"cnn engine: {cnn['engine']}; PyTorch {torch['version']} (torchvision {torch['torchvision']}, "
              f"BLAS {torch['blas']}); {datetime.datetime.now().isoformat(timespec='minutes')}.",
          f"Timing: warm-up of at least {cnn['timing']['warmup']} iterations and {cnn['timing'].get('warmupSeconds', 0)} s, median of {cnn['timing']['runs']} runs of at least "
          f"{cnn['timing']['secondsPerRun']} s; ratio = cnn / PyTorch images/s (above 1: cnn faster)."]
if bad:
    lines += ["", "PARAMETER COUNT MISMATCH: " + "; ".join(bad)]
text = "\n".join(lines)
print(text)
stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
json.dump({"rows": rows, "coldStartMs": {"cnn": cnn_cold, "torch": torch_cold, "cnnBreakdown": timings},
           "cnn": cnn, "torch": torch}, open(os.path.join(out, f"compare-{stamp}.json"), "w"), indent=2)
open(os.path.join(out, "compare-latest.md"), "w").write(text + "\n")
sys.exit(1 if bad else 0)
EOF
