#!/usr/bin/env bash
# cnn serve under load (issue #20): a local server, 1, 8 and 32 concurrent clients (bench/ServeLoad.java, one image
# per request), for a simplecnn@32 and a resnet18@224 bundle: images/s, p50/p99 latency, peak RSS, unexpected
# answers; and `cnn classify` of the same images as one batch job, for the ratio. Then a soak: a mix of good and bad
# images (1 in 5 bad: not an image, truncated, empty) at 8 clients for SOAK seconds, on a fixed, pre-touched heap
# (SOAK_HEAP, -Xms = -Xmx: ParallelGC's adaptive heap otherwise moves RSS by hundreds of MB either way), RSS sampled
# every 10 s.
# Usage: bench/serve-load.sh [WORK]     (writes bench/results/serve-load.{md,json})
# Environment: MODELS ("simplecnn:32 resnet18:224"), CLIENTS ("1 8 32"), LOAD_SECONDS (20 per level; not SECONDS,
# which bash keeps), SOAK (600), SOAK_HEAP (512m), SOAK_ONLY=1 (keep WORK's load levels, run the soak again), CNN.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-${WORK:-/tmp/cnn-serve-load}}"
CNN="${CNN:-$ROOT/cnn}"
MODELS="${MODELS:-simplecnn:32 resnet18:224}"
CLIENTS="${CLIENTS:-1 8 32}"
SECONDS_PER="${LOAD_SECONDS:-20}"
SOAK="${SOAK:-600}"
PORT="${PORT:-18180}"
mkdir -p "$WORK" "$ROOT/bench/results"
RESULTS="$WORK/results.jsonl"
if [ "${SOAK_ONLY:-0}" = 1 ]; then
  grep -v '"soak": true' "$RESULTS" > "$RESULTS.tmp" || true; mv "$RESULTS.tmp" "$RESULTS"
  MODELS_RUN=""
else
  : > "$RESULTS"
  MODELS_RUN="$MODELS"
fi

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
java_pid() { pgrep -f "dev.cnn.cli.Main serve .*--port $PORT" | head -1; }

start_server() { # model.zip
  "$CNN" serve --model "$1" --port "$PORT" --max-batch 32 --max-wait-ms 5 2>> "$WORK/serve.log" &
  for _ in $(seq 1 120); do
    curl -fs "localhost:$PORT/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "server did not start; see $WORK/serve.log" >&2; exit 1
}
stop_server() {
  local pid; pid=$(java_pid || true)
  [ -n "$pid" ] && kill -TERM "$pid" && while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  return 0
}
trap stop_server EXIT

for spec in $MODELS_RUN; do
  arch=${spec%%:*}; size=${spec##*:}
  model="$WORK/$arch-$size.zip"; imgs="$WORK/img-$size"
  if [ ! -f "$model" ]; then
    echo "== training a $arch@$size bundle (1 epoch on built-in shapes: the weights do not matter here)" >&2
    "$CNN" train --data "builtin:shapes?n=64&size=$size" --model "$arch" --image-size "$size" --epochs 1 \
      --batch-size 32 --no-report --output "$model" > /dev/null 2>&1
  fi
  if [ ! -d "$imgs" ]; then
    "$CNN" data synth shapes --out "$imgs" -n 64 --size "$size" > /dev/null 2>&1
  fi
  mapfile -t files < <(find "$imgs" -name '*.png' | sort | head -64)
  # the batch job on the same images, each 8 times (512 images: past the warm-up): images/s of the
  # classification itself, without JVM start and model load (cnn classify --timings)
  "$CNN" classify --model "$model" --timings --format jsonl "${files[@]}" "${files[@]}" "${files[@]}" "${files[@]}" \
    "${files[@]}" "${files[@]}" "${files[@]}" "${files[@]}" 2> "$WORK/classify-$arch.txt" > /dev/null
  batch=$(python3 -c "
import re,sys; t=open('$WORK/classify-$arch.txt').read(); m=re.search(r'classify (\d+) images (\d+) ms', t)
print(round(int(m.group(1))/(int(m.group(2))/1000),1))")
  echo "== $arch@$size: cnn classify batch job ${batch} images/s" >&2
  start_server "$model"
  pid=$(java_pid)
  # warm-up: JIT and the inference copy's first batches
  java "$ROOT/bench/ServeLoad.java" "http://localhost:$PORT/v1/classify" 8 5 "${files[@]}" > /dev/null
  for c in $CLIENTS; do
    line=$(java "$ROOT/bench/ServeLoad.java" "http://localhost:$PORT/v1/classify" "$c" "$SECONDS_PER" "${files[@]}")
    echo "$arch@$size clients=$c: $line" >&2
    python3 -c "
import json,sys; r=json.loads('''$line'''); r.update(model='$arch@$size', batchJobImagesPerSecond=$batch,
 ratio=round(r['imagesPerSecond']/$batch,3), rssMB=round($(rss_kb "$pid")/1024), peakRssMB=round($(hwm_kb "$pid")/1024))
print(json.dumps(r))" >> "$RESULTS"
  done
  stop_server
done

# soak: the first model, 1 in 5 images bad
spec=${MODELS%% *}; arch=${spec%%:*}; size=${spec##*:}
model="$WORK/$arch-$size.zip"; imgs="$WORK/img-$size"; bad="$WORK/bad"
mkdir -p "$bad"
printf 'not an image' > "$bad/bad-text.png"; : > "$bad/bad-empty.png"
f0=$(find "$imgs" -name '*.png' | sort | head -1); head -c 200 "$f0" > "$bad/bad-truncated.png"
mapfile -t good < <(find "$imgs" -name '*.png' | sort | head -12)
mix=("${good[@]}" "$bad/bad-text.png" "$bad/bad-empty.png" "$bad/bad-truncated.png")
SOAK_HEAP="${SOAK_HEAP:-512m}"
# fixed and pre-touched: the heap's pages are resident from the start, so RSS growth is native memory, not the
# old generation touching its committed pages for the first time
CNN_HEAP="$SOAK_HEAP" CNN_JAVA_OPTS="${CNN_JAVA_OPTS:-} -Xms$SOAK_HEAP -XX:+AlwaysPreTouch" start_server "$model"
pid=$(java_pid)
: > "$WORK/soak-rss.txt"
( while kill -0 "$pid" 2>/dev/null; do echo "$(date +%s) $(rss_kb "$pid")" >> "$WORK/soak-rss.txt"; sleep 10; done ) &
sampler=$!
line=$(java "$ROOT/bench/ServeLoad.java" "http://localhost:$PORT/v1/classify" 8 "$SOAK" "${mix[@]}")
kill "$sampler" 2>/dev/null || true
echo "soak $arch@$size ${SOAK}s: $line" >&2
python3 - "$line" "$WORK/soak-rss.txt" "$RESULTS" "$arch@$size" "$SOAK_HEAP" <<'EOF'
import json, sys
r = json.loads(sys.argv[1]); rss = [int(l.split()[1]) / 1024 for l in open(sys.argv[2]) if l.strip()]
n = len(rss); third = max(1, n // 3)
r.update(model=sys.argv[4], soak=True, heap=sys.argv[5], rssFirstThirdMB=round(sum(rss[:third]) / third),
         rssLastThirdMB=round(sum(rss[-third:]) / third), rssMaxMB=round(max(rss)) if rss else None)
open(sys.argv[3], "a").write(json.dumps(r) + "\n")
EOF
stop_server

python3 - "$RESULTS" "$ROOT/bench/results/serve-load" <<'EOF'
import json, sys, platform, datetime
rs = [json.loads(l) for l in open(sys.argv[1])]
json.dump(rs, open(sys.argv[2] + ".json", "w"), indent=1)
lines = ["| model | clients | images/s | batch job images/s | ratio | p50 ms | p99 ms | unexpected | peak RSS MB |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rs:
    if r.get("soak"):
        continue
    lines.append(f"| {r['model']} | {r['clients']} | {r['imagesPerSecond']} | {r['batchJobImagesPerSecond']} | "
                 f"{r['ratio']:.2f} | {r['p50ms']} | {r['p99ms']} | {r['unexpected']} | {r['peakRssMB']} |")
for r in rs:
    if r.get("soak"):
        lines += ["", f"Soak, {r['model']}, 8 clients, {r['seconds']} s, heap fixed at {r.get('heap')} and pre-touched, 1 in 5 images bad: {r['classified']} "
                  f"classified, {r['rejected']} rejected with a 4xx, {r['unexpected']} unexpected answers; RSS "
                  f"{r['rssFirstThirdMB']} MB (first third, mean) -> {r['rssLastThirdMB']} MB (last third), max "
                  f"{r['rssMaxMB']} MB."]
lines += ["", f"Machine: {platform.machine()}, {__import__('os').cpu_count()} cores; {datetime.date.today()}."]
open(sys.argv[2] + ".md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
