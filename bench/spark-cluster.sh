#!/usr/bin/env bash
# The cluster path of issue #21 without a cluster: a Spark standalone master and one worker (2 cores) started from
# Spark 3.1.2's own jars, and cnn's cluster jar (-Pspark-cluster-jar) run as spark-submit runs an application: its
# main class with Spark's jars on the class path, spark.* settings as system properties, the jar shipped to the
# executors (spark.jars). Trains simplecnn on builtin:shapes, classifies a folder with a bad image, and checks the
# bundle and the records against `cnn classify` on one machine. Executors are separate JVMs: the data, the bundle,
# the network configuration and cnn's classes all cross process boundaries.
#
#   bench/spark-cluster.sh            # builds the cluster jar if it is missing or older than the sources
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
PORT="${PORT:-7177}"
cleanup() {
  [ -n "${WORKER:-}" ] && kill "$WORKER" 2>/dev/null || true
  [ -n "${MASTER:-}" ] && kill "$MASTER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
JAR="$ROOT/cli/target/cnn-spark-cluster.jar"
if [ ! -f "$JAR" ] || [ -n "$(find "$ROOT"/*/src/main "$ROOT"/*/pom.xml -newer "$JAR" -print -quit)" ]; then
  echo "== building $JAR" >&2
  (cd "$ROOT" && ./mvnw -q -B -Pspark-cluster-jar -pl cli -am package -DskipTests -Dassembly.skipAssembly=true \
      -Dlicense.skip=true)
fi
ls -l "$JAR" >&2
# Spark's own jars, as a Spark distribution's jars/ folder (SPARK_HOME for the worker that launches executors)
(cd "$ROOT/spark" && ../mvnw -q -B dependency:build-classpath -Dmdep.includeScope=provided \
    -Dmdep.outputFile="$WORK/spark.cp")
mkdir -p "$WORK/spark-home/jars"
tr ':' '\n' <"$WORK/spark.cp" | while read -r j; do ln -s "$j" "$WORK/spark-home/jars/"; done
echo "Spark 3.1.2 (jars from the Maven build)" >"$WORK/spark-home/RELEASE"
export SPARK_HOME="$WORK/spark-home" SPARK_SCALA_VERSION=2.12
# the --add-opens list the launcher (cli/src/dist/bin/cnn) adds for --spark
OPENS="$(for p in java.lang java.lang.invoke \
  java.lang.reflect java.io java.net java.nio java.util java.util.concurrent java.util.concurrent.atomic sun.nio.ch \
  sun.nio.cs sun.security.action sun.util.calendar; do printf -- '--add-opens=java.base/%s=ALL-UNNAMED ' "$p"; done)"
SCP="$SPARK_HOME/jars/*"
# the daemons log through SLF4J: a binding for them (a Spark distribution brings log4j's)
DCP="$SCP:$(ls "$HOME"/.m2/repository/org/slf4j/slf4j-simple/1.7.36/slf4j-simple-1.7.36.jar)"
java $OPENS -cp "$DCP" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$PORT" --webui-port 0 \
  >"$WORK/master.log" 2>&1 &
MASTER=$!
sleep 4
java $OPENS -cp "$DCP" org.apache.spark.deploy.worker.Worker --cores 2 --memory 3g --webui-port 0 \
  --work-dir "$WORK/worker" "spark://127.0.0.1:$PORT" >"$WORK/worker.log" 2>&1 &
WORKER=$!
sleep 5
grep -q "Successfully registered with master" "$WORK/worker.log" || { cat "$WORK/worker.log" >&2; exit 1; }

# what spark-submit --class dev.cnn.cli.Main --master spark://... --conf ... cnn-spark-cluster.jar ARGS does
submit() {
  java $OPENS -Xmx2g -Dspark.master="spark://127.0.0.1:$PORT" -Dspark.jars="$JAR" \
    -Dspark.executor.extraJavaOptions="$OPENS" -Dspark.executor.memory=2g -Dspark.driver.host=127.0.0.1 \
    -cp "$JAR:$SCP" dev.cnn.cli.Main "$@"
}
echo "== train on the standalone cluster" >&2
t0=$(date +%s.%N)
submit train --spark "spark://127.0.0.1:$PORT" --data builtin:shapes \
  --epochs "${EPOCHS:-3}" --output "$WORK/m.zip" --format json >"$WORK/train.json" 2>"$WORK/train.err" || {
  tail -20 "$WORK/train.err" >&2; exit 1; }
echo "trained in $(echo "$(date +%s.%N) - $t0" | bc) s from driver start"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("status", d["status"], "workers", d["workers"], "top-1", [h["top1"] for h in d["history"]])' "$WORK/train.json"
grep -q "Launching executor\|Asked to launch executor" "$WORK/worker.log" && echo "executors: $(grep -c 'Asked to launch executor' "$WORK/worker.log") launched by the worker"

echo "== classify on the cluster and on one machine" >&2
"$ROOT/cnn" data synth shapes -n 40 --size 48 --out "$WORK/imgs" >/dev/null
echo "not an image" >"$WORK/imgs/val/circle/zz-bad.png"
set +e
submit classify --spark "spark://127.0.0.1:$PORT" --model "$WORK/m.zip" --format jsonl "$WORK/imgs/val" \
  >"$WORK/cluster.jsonl" 2>"$WORK/cluster.err"
rc_cluster=$?
"$ROOT/cnn" classify --model "$WORK/m.zip" --format jsonl "$WORK/imgs/val" >"$WORK/local.jsonl" 2>/dev/null
rc_local=$?
set -e
echo "exit codes: cluster $rc_cluster, one machine $rc_local"
/usr/bin/python3 - "$WORK/cluster.jsonl" "$WORK/local.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
worst = 0.0
for x, y in zip(a, b):
    assert x["path"] == y["path"] and x.get("error") == y.get("error"), (x, y)
    if "predictions" in x:
        assert [p["label"] for p in x["predictions"]] == [p["label"] for p in y["predictions"]], (x, y)
        worst = max(worst, max(abs(p["probability"] - q["probability"]) for p, q in zip(x["predictions"], y["predictions"])))
print(f"records: {len(a)} equal in path, labels and errors ({sum('error' in x for x in a)} error records); "
      f"largest probability difference {worst:.2e}")
PY
