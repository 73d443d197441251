#!/usr/bin/env bash
# Speed of cnn (DL4J) against PyTorch on this machine, same run: the cases of `cnn bench models` (same architectures,
# parameter counts, inputs, batch sizes, Adam, thread count), then `cnn classify` cold start against a PyTorch script
# that does the same job. Prints one table with both rates and the ratio; writes bench/results/compare-<date>.json
# and bench/results/compare-latest.md.
#
#   bench/compare-pytorch.sh                 # default cases, 2 threads
#   THREADS=2 RUNS=5 SECONDS_PER_RUN=2 WARMUP_SECONDS=10 LEVERS=1 bench/compare-pytorch.sh
#   CNN=/path/to/cnn bench/compare-pytorch.sh   # another build of the launcher
#   PIPELINE=0 bench/compare-pytorch.sh         # without the photo-pipeline cases (bench/pipeline.sh, ~13 min)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CNN="${CNN:-$ROOT/cnn}"
THREADS="${THREADS:-2}"
RUNS="${RUNS:-5}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-2}"
# both sides warm up this long per run: the JVM needs ~10 s of a resnet18 training loop to reach its steady state
# (3 s measured resnet18@64 training 1.3-1.9x slower), PyTorch needs no JIT warm-up
WARMUP_SECONDS="${WARMUP_SECONDS:-10}"
# glibc malloc on transparent huge pages for both sides (what ./cnn sets by default); ./cnn adds its fixed 1 MB mmap
# threshold, which PyTorch does not get: PyTorch allocates its activations afresh each step, and with the threshold
# each becomes a new mapping (resnet50@224 training 2.4 img/s with it against 5-6 without, bench/RESULTS.md)
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
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

# Cases: MODEL@CxHxW:BATCH:MODE. This machine's speed drifts over minutes (shared cores), so each case runs cnn then
# PyTorch back to back, ROUNDS times, and the ratio is taken per round (median over rounds).
# The efficient networks of issue #19 (depthwise and grouped convolutions, squeeze-and-excitation, LayerNorm) at
# their real size, inference and training at batch 8.
CASES="${CASES:-lenet@1x28x28:64:train lenet@1x28x28:64:infer simplecnn@3x32x32:64:train simplecnn@3x32x32:64:infer
resnet18@3x64x64:32:train resnet18@3x64x64:32:infer resnet50@3x224x224:8:infer vgg16@3x224x224:8:infer
mobilenet_v2@3x224x224:8:infer mobilenet_v2@3x224x224:8:train efficientnet_b0@3x224x224:8:infer
efficientnet_b0@3x224x224:8:train densenet121@3x224x224:8:infer densenet121@3x224x224:8:train
convnext_tiny@3x224x224:8:infer convnext_tiny@3x224x224:8:train}"
ROUNDS="${ROUNDS:-2}"
for round in $(seq 1 "$ROUNDS"); do
  for c in $CASES; do
    IFS=: read -r spec batch mode <<<"$c"
    tag="$(echo "$spec-$batch-$mode" | tr '@x' '__')-r$round"
    echo "== round $round: $spec batch $batch $mode" >&2
    "$CNN" bench models --case "$spec" --batch-size "$batch" --mode "$mode" --runs "$RUNS" \
      --seconds "$SECONDS_PER_RUN" --warmup-seconds "$WARMUP_SECONDS" "${LEVER_ARGS[@]}" --json "$WORK/cnn-$tag.json" >/dev/null 2>>"$WORK/cnn.log"
    "$PY" "$ROOT/bench/pytorch_bench.py" --cases "$WORK/cnn-$tag.json" --threads "$THREADS" \
      --json "$WORK/torch-$tag.json" >/dev/null 2>>"$WORK/torch.log"
  done
done
"$PY" - "$WORK" <<'EOF2'
import glob, json, os, sys
work = sys.argv[1]
merged_c, merged_t = None, None
for f in sorted(glob.glob(os.path.join(work, "cnn-*.json"))):
    c = json.load(open(f)); t = json.load(open(f.replace("cnn-", "torch-")))
    rnd = int(f.rsplit("-r", 1)[1].split(".")[0])
    for r in c["results"]:
        r["round"] = rnd
    for r in t["results"]:
        r["round"] = rnd
    if merged_c is None:
        merged_c, merged_t = c, t
    else:
        merged_c["results"] += c["results"]; merged_t["results"] += t["results"]
json.dump(merged_c, open(os.path.join(work, "cnn.json"), "w"))
json.dump(merged_t, open(os.path.join(work, "torch.json"), "w"))
EOF2

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

# the machine's measured peak: single-precision matrix multiply (2048 x 2048, PyTorch's BLAS, same threads)
PEAK=$("$PY" - "$THREADS" <<'EOF3'
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
for _ in range(3):
    a @ b
best = 0
for _ in range(10):
    t = time.perf_counter(); a @ b; best = max(best, 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9)
print(round(best, 1))
EOF3
)

"$PY" - "$WORK/cnn.json" "$WORK/torch.json" "$CNN_COLD" "$TORCH_COLD" "$WORK/timings.txt" "$OUT" "$PEAK" <<'EOF'
import json, sys, os, platform, datetime, subprocess
cnn, torch = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
cnn_cold, torch_cold, timings, out = int(sys.argv[3]), int(sys.argv[4]), open(sys.argv[5]).read().strip(), sys.argv[6]
peak = float(sys.argv[7])
import statistics
key = lambda r: (r["model"], r["input"], r["batch"], r["mode"])
peer = {(key(r), r["round"]): r for r in torch["results"]}
groups = {}
for r in cnn["results"]:
    groups.setdefault(key(r) + (r["settings"],), []).append(r)
rows, bad = [], []
for k, rs in groups.items():
    ps = [peer[(key(r), r["round"])] for r in rs]
    if rs[0]["params"] != ps[0]["params"]:
        bad.append(f"{rs[0]['model']}: cnn {rs[0]['params']} params, torch {ps[0]['params']}")
    # a round in which either side's runs spread by more than 2x is disturbed: shown, left out of the medians
    spread = lambda x: x["maxImagesPerSec"] / max(x["minImagesPerSec"], 1e-9)
    disturbed = [spread(r) > 2 or spread(p) > 2 for r, p in zip(rs, ps)]
    if all(disturbed):
        disturbed = [False] * len(rs)
    ratios = [r["imagesPerSec"] / p["imagesPerSec"] for r, p in zip(rs, ps)]
    keep = [i for i in range(len(rs)) if not disturbed[i]]
    flops = 2.0 * rs[0].get("macsPerImage", 0) * (3 if rs[0]["mode"] == "train" else 1) / 1e9
    r0 = rs[0]
    rows.append({"model": r0["model"], "input": r0["input"], "batch": r0["batch"], "mode": r0["mode"],
                 "settings": r0["settings"], "params": r0["params"],
                 "cnnImagesPerSec": statistics.median(rs[i]["imagesPerSec"] for i in keep),
                 "torchImagesPerSec": statistics.median(ps[i]["imagesPerSec"] for i in keep),
                 "ratio": round(statistics.median(ratios[i] for i in keep), 3),
                 "ratioPerRound": [round(x, 3) for x in ratios], "disturbed": disturbed,
                 "cnnGflops": round(flops * statistics.median(rs[i]["imagesPerSec"] for i in keep), 1),
                 "torchGflops": round(flops * statistics.median(ps[i]["imagesPerSec"] for i in keep), 1),
                 "cnnPeakHeapMb": max(r["peakHeapMb"] for r in rs), "cnnPeakRssMb": max(r["peakRssMb"] for r in rs),
                 "torchPeakRssMb": max(p["peakRssMb"] for p in ps)})
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
head = (f"| model | input | batch | mode | settings | params | cnn img/s | PyTorch img/s | ratio | ratio per round |"
        f" GFLOP/s cnn / PyTorch (% of peak) | cnn peak heap / RSS MB | PyTorch peak RSS MB |\n"
        f"|---|---|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
pct = lambda g: f"{g:.0f} ({100 * g / peak:.0f}%)" if peak > 0 else f"{g:.0f}"
lines = [head] + [f"| {r['model']} | {r['input']} | {r['batch']} | {r['mode']} | {r['settings']} | {r['params']:,} | "
                  f"{r['cnnImagesPerSec']:.1f} | {r['torchImagesPerSec']:.1f} | **{r['ratio']:.2f}** | "
                  f"{', '.join(f'{x:.2f}' + (' disturbed' if d else '') for x, d in zip(r['ratioPerRound'], r['disturbed']))} | "
                  f"{pct(r['cnnGflops'])} / {pct(r['torchGflops'])} | {r['cnnPeakHeapMb']:.0f} / "
                  f"{r['cnnPeakRssMb']:.0f} | {r['torchPeakRssMb']:.0f} |" for r in rows]
lines += ["", f"| classify, 1 image, resnet18 bundle @64 px | cnn | PyTorch script | ratio (time) |",
          "|---|---:|---:|---:|",
          f"| wall ms, process start to result (median of 5) | {cnn_cold} | {torch_cold} | {cnn_cold / torch_cold:.2f} |",
          "", f"cnn breakdown: {timings}",
          "", f"Machine: {cpu}, {os.cpu_count()} cores, {cnn['threads']} threads per engine; "
              f"cnn engine: {cnn['engine']}; PyTorch {torch['version']} (torchvision {torch['torchvision']}, "
              f"BLAS {torch['blas']}); {datetime.datetime.now().isoformat(timespec='minutes')}.",
          f"Peak: {peak} GFLOP/s, single-precision 2048x2048 matrix multiply in PyTorch (its BLAS), {os.cpu_count()} cores; "
          f"GFLOP/s = 2 x multiply-adds per image (convolutions and dense layers, from `cnn summary`) x images/s, x3 for training.",
          f"Timing: cnn and PyTorch back to back per case, {max(r['round'] for r in cnn['results'])} rounds; per run a warm-up of at least {cnn['timing']['warmup']} iterations and {cnn['timing'].get('warmupSeconds', 0)} s, median of {cnn['timing']['runs']} runs of at least "
          f"{cnn['timing']['secondsPerRun']} s; ratio = cnn / PyTorch images/s per round, median over rounds (above 1: cnn faster). PyTorch RSS is the process peak (monotonic across cases)."]
if bad:
    lines += ["", "PARAMETER COUNT MISMATCH: " + "; ".join(bad)]
text = "\n".join(lines)
print(text)
stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
json.dump({"rows": rows, "peakGflops": peak, "coldStartMs": {"cnn": cnn_cold, "torch": torch_cold, "cnnBreakdown": timings},
           "cnn": cnn, "torch": torch}, open(os.path.join(out, f"compare-{stamp}.json"), "w"), indent=2)
open(os.path.join(out, "compare-latest.md"), "w").write(text + "\n")
sys.exit(1 if bad else 0)
EOF

# the photo pipeline (decode, resize, batch; train epoch 1; classify of a folder) against PyTorch's DataLoader
if [ "${PIPELINE:-1}" = 1 ]; then
  CNN="$CNN" THREADS="$THREADS" "$ROOT/bench/pipeline.sh"
fi
