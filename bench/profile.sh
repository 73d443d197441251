#!/usr/bin/env bash
# Where the time goes in one `cnn bench models` case: runs it under Java Flight Recorder and attributes every
# execution/native sample to the DL4J layer (class.method) on its stack and to the top frame. Native oneDNN/ND4J
# time shows up as samples in native methods under the layer that called them.
#
#   bench/profile.sh resnet18@3x64x64 train 32      # case, mode, batch
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CASE="${1:-resnet18@3x64x64}"; MODE="${2:-train}"; BATCH="${3:-32}"
CNN="${CNN:-$ROOT/cnn}"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
CNN_JAVA_OPTS="-XX:StartFlightRecording=filename=$WORK/rec.jfr,settings=profile" \
  "$CNN" bench models --case "$CASE" --mode "$MODE" --batch-size "$BATCH" --runs 5 --seconds 2 >&2
jfr print --events jdk.ExecutionSample,jdk.NativeMethodSample --stack-depth 64 "$WORK/rec.jfr" > "$WORK/samples.txt"
python3 - "$WORK/samples.txt" "$CASE" "$MODE" <<'EOF'
import re, sys, collections
text = open(sys.argv[1]).read()
events = re.split(r"\njdk\.(?:ExecutionSample|NativeMethodSample) \{", text)
by_layer, by_top, total = collections.Counter(), collections.Counter(), 0
for ev in events:
    frames = re.findall(r"^\s+([\w$.<>]+)\(", ev, re.M)
    if not frames or not any("dev.cnn.core.bench" in f for f in frames):
        continue  # only the benchmark thread's work
    total += 1
    by_top[frames[0]] += 1
    layer = next((f for f in frames if f.startswith("org.deeplearning4j.nn.layers.")
                  or f.startswith("org.deeplearning4j.nn.graph.vertex.impl.")), None)
    if layer is None:
        layer = next((f for f in frames if f.startswith("org.deeplearning4j.") or f.startswith("org.nd4j.linalg.learning")), frames[0])
    by_layer[re.sub(r"^org\.deeplearning4j\.nn\.", "", layer)] += 1
print(f"{sys.argv[2]} {sys.argv[3]}: {total} samples on the benchmark thread")
print("\nby DL4J layer/method on the stack:")
for k, v in by_layer.most_common(15):
    print(f"  {100 * v / total:5.1f}%  {k}")
print("\nby top frame:")
for k, v in by_top.most_common(10):
    print(f"  {100 * v / total:5.1f}%  {k}")
EOF
