#!/usr/bin/env bash
# Few-shot transfer benchmark (issue #16 part 2): cnn's defaults against a PyTorch calibration of the same protocol.
#   base: Fashion-MNIST classes 0-4 (train split; cnn train holds out its default 20% for validation), 2 epochs,
#         cnn defaults otherwise, at 1x28x28 (resnet18: 1 epoch at 32x32); one base per architecture, cached (base-ARCH.zip) and reused;
#   task: classes 5-9 with N = 10 and 50 train images per class drawn with seed S (0, 1, 2; the sampler is
#         bench/fewshot_pytorch.py's sample_task, so both sides see the same images), trained with --seed S;
#   test: every test image of classes 5-9 (5,000), `cnn evaluate --format json`, top-1.
# Rows: scratch (cnn train --model ARCH --epochs 15), feature-extraction / finetune / gradual (cnn finetune
# --strategy S --epochs 15), each with cnn's default options otherwise.
# Usage: bench/fewshot.sh [FM_SRC] [WORK]        the table: bench/results/fewshot.{md,json}, printed
#        bench/fewshot.sh run ARCH N SEED STRATEGY TAG [cnn options...]
#                                                 one extra run (levers), recorded in WORK/levers.jsonl
#        bench/fewshot.sh levers                  bench/results/fewshot-levers.md from WORK/levers.jsonl
# Environment: ARCHS (default "simplecnn mnist_cnn"; resnet18 runs at 32 px), SIZES ("10 50"), SEEDS ("0 1 2"),
# EPOCHS (15), BASE_EPOCHS (2; resnet18: R18_BASE_EPOCHS, 1), CNN (the launcher), PY (/usr/bin/python3),
# SKIP_PYTORCH=1, FM_SRC and WORK (defaults ../shared/data/fashion-mnist, /tmp/cnn-fewshot), BASE_OPTS (more cnn train
# options for the bases, e.g. PyTorch's base recipe: "--val-split 0 --lr 0.001 --schedule constant --batch-size 32
# --seed 0"; use another WORK, as the bases are cached there), BASE_SEED (a base trained with `--seed BASE_SEED`,
# cached as base-ARCH-bBASE_SEED.zip; the runs' names and records carry it: several bases per framework).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE=table
case "${1:-}" in run|levers) MODE=$1; shift ;; esac
if [ "$MODE" = table ]; then
  FM_SRC="${1:-${FM_SRC:-$ROOT/../shared/data/fashion-mnist}}"
  WORK="${2:-${WORK:-/tmp/cnn-fewshot}}"
else
  FM_SRC="${FM_SRC:-$ROOT/../shared/data/fashion-mnist}"
  WORK="${WORK:-/tmp/cnn-fewshot}"
fi
ARCHS="${ARCHS:-simplecnn mnist_cnn}"
SIZES="${SIZES:-10 50}"
SEEDS="${SEEDS:-0 1 2}"
EPOCHS="${EPOCHS:-15}"
BASE_EPOCHS="${BASE_EPOCHS:-2}"
R18_BASE_EPOCHS="${R18_BASE_EPOCHS:-1}"
CNN="${CNN:-$ROOT/cnn}"
PY="${PY:-/usr/bin/python3}"
BASE_CLASSES=(T-shirt_top Trouser Pullover Dress Coat)
NEW_CLASSES=(Sandal Shirt Sneaker Bag Ankle_boot)
mkdir -p "$WORK" "$ROOT/bench/results"
cd "$WORK"

size_of() { case "$1" in resnet*) echo 32 ;; *) echo 28 ;; esac; }

setup() {
  [ -d fm/train ] || "$CNN" data import idx "$FM_SRC" --names fashion-mnist --out fm >&2
  mkdir -p base04 base04test test59
  for c in "${BASE_CLASSES[@]}"; do ln -sfn "$WORK/fm/train/$c" "base04/$c"; ln -sfn "$WORK/fm/test/$c" "base04test/$c"; done
  for c in "${NEW_CLASSES[@]}"; do ln -sfn "$WORK/fm/test/$c" "test59/$c"; done
  "$PY" "$ROOT/bench/fewshot_pytorch.py" --fm fm --make-tasks . --sizes "${SIZES// /,}" --seeds "${SEEDS// /,}"
}

BSUFFIX="${BASE_SEED:+-b$BASE_SEED}"   # base-ARCH.zip, or base-ARCH-bS.zip for BASE_SEED=S
case " ${BASE_OPTS:-} " in *" --seed "*) [ -z "${BASE_SEED:-}" ] || { echo "BASE_SEED and --seed in BASE_OPTS: give one" >&2; exit 2; } ;; esac

base() { # ARCH: base-ARCH$BSUFFIX.zip, trained once
  local arch=$1 size epochs=$BASE_EPOCHS b="base-$1$BSUFFIX"
  size=$(size_of "$arch")
  [ "$arch" = resnet18 ] && epochs=$R18_BASE_EPOCHS
  if [ ! -f "$b.zip" ]; then
    echo "base $arch$BSUFFIX: training on classes 0-4 ($epochs epochs)" >&2
    /usr/bin/time -f "%e" -o "$b.time" "$CNN" train --data base04 --model "$arch" --channels 1 \
      --image-size "$size" --epochs "$epochs" --cache --no-report --format json --output "$b.zip" \
      ${BASE_OPTS:-} ${BASE_SEED:+--seed "$BASE_SEED"} > "$b.json" 2> "$b.log"
  fi
  [ -f "$b.eval.json" ] || "$CNN" evaluate --model "$b.zip" --data base04test --format json \
    > "$b.eval.json" 2>/dev/null
}

# one run: ARCH N SEED STRATEGY TAG RECORDS [extra cnn options]; skipped when RECORDS already has it
one() {
  local arch=$1 n=$2 seed=$3 strategy=$4 tag=$5 records=$6; shift 6
  local name="r-$arch$BSUFFIX-n$n-s$seed-$strategy-$tag" size start end extra="$*"
  size=$(size_of "$arch")
  if [ -f "$records" ] && grep -q "\"name\": \"$name\"" "$records"; then return 0; fi
  base "$arch"
  local cmd
  if [ "$strategy" = scratch ]; then
    cmd=("$CNN" train --model "$arch" --channels 1 --image-size "$size" --data "task-n$n-s$seed" --epochs "$EPOCHS")
  else
    cmd=("$CNN" finetune --base "base-$arch$BSUFFIX.zip" --data "task-n$n-s$seed" --strategy "$strategy" --epochs "$EPOCHS")
  fi
  cmd+=(--seed "$seed" --cache --no-report --format json --output "$name.zip" "$@")
  rm -rf "$name.zip" "$name.zip.checkpoints"
  start=$(date +%s.%N)
  "${cmd[@]}" > "$name.json" 2> "$name.log" || { echo "FAILED: ${cmd[*]} (see $WORK/$name.log)" >&2; return 1; }
  end=$(date +%s.%N)
  "$CNN" evaluate --model "$name.zip" --data test59 --format json > "$name.eval.json" 2>/dev/null
  "$PY" - "$name" "$arch" "$n" "$seed" "$strategy" "$tag" "$start" "$end" "$records" "${cmd[*]}" "$extra" \
    "${BASE_SEED:-}" <<'EOF'
import json, sys, zipfile
name, arch, n, seed, strategy, tag, start, end, records, cmd, extra, base_seed = sys.argv[1:]
run = json.load(open(name + ".json")); ev = json.load(open(name + ".eval.json"))
meta = json.loads(zipfile.ZipFile(name + ".zip").read("cnn-metadata.json"))
prov = meta["provenance"]; cfg = prov["config"]
hist = run.get("history") or prov.get("history") or []
phases = prov.get("phases") or []  # finetune phases, each with its batch size (the last one: the main phase)
ntrain, nval = prov["trainImages"], prov["valImages"]
batch = (phases[-1].get("batchSize") if phases else None) or cfg["batchSize"]
rec = {"name": name, "arch": arch, "n": int(n), "seed": int(seed), "strategy": strategy, "tag": tag,
       "baseSeed": int(base_seed) if base_seed else None,
       "top1": ev["top1"], "testImages": ev.get("images"), "trainImages": ntrain, "valImages": nval,
       "batchSize": batch, "lr": cfg["lr"], "valSplit": prov["valSplit"], "augment": prov["augment"],
       "stepsPerEpoch": -(-ntrain // batch), "epochs": len(hist), "selectedEpoch": prov.get("selectedEpoch"),
       "valTop1": [h.get("top1") for h in hist], "phases": [p.get("name") for p in phases],
       "phaseBatches": [p.get("batchSize") for p in phases],
       "wallSeconds": float(end) - float(start), "options": extra, "command": cmd}
open(records, "a").write(json.dumps(rec) + "\n")
print(f"{name}: top-1 {rec['top1']:.4f}  ({ntrain} train / {nval} val, {rec['stepsPerEpoch']} steps/epoch, "
      f"selected epoch {rec['selectedEpoch']}, {rec['wallSeconds']:.0f} s)", file=sys.stderr)
EOF
  rm -rf "$name.zip.checkpoints"
}

if [ "$MODE" = run ]; then
  setup >/dev/null
  one "$1" "$2" "$3" "$4" "$5" levers.jsonl "${@:6}"
  exit 0
fi

if [ "$MODE" = levers ]; then
  "$PY" - "$ROOT/bench/results" <<'EOF'
import json, sys, os, statistics as st, collections
recs = [json.loads(l) for l in open("levers.jsonl")]
base = {}
if os.path.exists("records.jsonl"):
    for l in open("records.jsonl"):
        r = json.loads(l); base[(r["arch"], r["n"], r["seed"], r["strategy"])] = r["top1"]
g = collections.OrderedDict()
for r in recs:
    g.setdefault((r["arch"], r["n"], r["strategy"], r["tag"], r["options"], r.get("baseSeed")), []).append(r)
lines = ["| base | N | strategy | options | base seed | seeds | top-1 | defaults, same seeds (default base) "
         "| train/val imgs | steps/epoch |",
         "|---|---:|---|---|---:|---|---:|---:|---|---:|"]
for (arch, n, strat, tag, opts, bseed), rs in sorted(g.items(), key=lambda kv: kv[0][:3]):
    t = [r["top1"] for r in rs]; d = [base.get((arch, n, r["seed"], strat)) for r in rs]
    fmt = lambda v: f"{st.mean(v):.4f}" + (f" ± {st.stdev(v):.4f}" if len(v) > 1 else "")
    dd = fmt(d) if all(x is not None for x in d) else "-"
    lines.append(f"| {arch} | {n} | {strat} | {tag}: `{opts}` | {'-' if bseed is None else bseed} "
                 f"| {','.join(str(r['seed']) for r in rs)} | {fmt(t)} | {dd} "
                 f"| {rs[0]['trainImages']}/{rs[0]['valImages']} | {rs[0]['stepsPerEpoch']} |")
text = "\n".join(lines)
print(text)
open(os.path.join(sys.argv[1], "fewshot-levers.md"), "w").write(text + "\n")
EOF
  exit 0
fi

# ------------------------------------------------------------------------------------------------ the table
[ -z "${BASE_SEED:-}" ] || { echo "BASE_SEED is for 'run' (one run on another base); the table uses one base" >&2; exit 2; }
T0=$(date +%s)
setup
PT_PID=
if [ "${SKIP_PYTORCH:-0}" != 1 ] && [ ! -f pytorch.json ]; then
  # the PyTorch side in parallel, on its own thread budget: it reads the same imported images and samples
  ( /usr/bin/time -f "%e" -o pytorch.time "$PY" "$ROOT/bench/fewshot_pytorch.py" --fm fm --cache npz \
      --archs "$(echo $ARCHS | tr ' ' ,)" --sizes "${SIZES// /,}" --seeds "${SEEDS// /,}" --out pytorch.json.tmp \
      2> pytorch.log && mv pytorch.json.tmp pytorch.json ) &
  PT_PID=$!
fi
for arch in $ARCHS; do
  base "$arch"
  for n in $SIZES; do
    for seed in $SEEDS; do
      for s in scratch feature-extraction finetune gradual; do
        one "$arch" "$n" "$seed" "$s" default records.jsonl
      done
    done
  done
done
[ -n "$PT_PID" ] && wait "$PT_PID"
T1=$(date +%s)

"$PY" - "$ROOT/bench/results" "$((T1 - T0))" "$ARCHS" <<'EOF'
import json, sys, os, statistics as st, platform, datetime
out, wall, archs = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
recs = [json.loads(l) for l in open("records.jsonl")]
recs = [r for r in recs if r["arch"] in archs]
pt = json.load(open("pytorch.json")) if os.path.exists("pytorch.json") else {"records": [], "bases": {}}
def ms(v):
    return (st.mean(v), st.stdev(v) if len(v) > 1 else 0.0) if v else None
def f(m):
    return "-" if m is None else f"{m[0]:.4f} ± {m[1]:.4f}"
rows, table = [], []
lines = ["| base | N | strategy | cnn (defaults) | PyTorch | cnn - PyTorch | cnn train/val imgs, steps/epoch |",
         "|---|---:|---|---:|---:|---:|---|"]
strategies = ["scratch", "feature-extraction", "fe-conv-flat", "fe-conv-gap", "finetune", "gradual"]
for arch in archs:
    for n in sorted({r["n"] for r in recs if r["arch"] == arch}):
        for s in strategies:
            c = [r for r in recs if r["arch"] == arch and r["n"] == n and r["strategy"] == s]
            p = [r for r in pt["records"] if r["arch"] == arch and r["n"] == n and r["strategy"] == s]
            if not c and not p:
                continue
            cm, pm = ms([r["top1"] for r in c]), ms([r["top1"] for r in p])
            diff = f"{cm[0] - pm[0]:+.4f}" if cm and pm else "-"
            shape = f"{c[0]['trainImages']}/{c[0]['valImages']}, {c[0]['stepsPerEpoch']}" if c else "-"
            lines.append(f"| {arch} | {n} | {s} | {f(cm)} | {f(pm)} | {diff} | {shape} |")
            rows.append({"arch": arch, "n": n, "strategy": s, "cnn": cm, "pytorch": pm,
                         "cnnSeeds": [r["top1"] for r in c], "pytorchSeeds": [r["top1"] for r in p]})
bases = []
for arch in archs:
    ev = json.load(open(f"base-{arch}.eval.json"))
    t = open(f"base-{arch}.time").read().strip() if os.path.exists(f"base-{arch}.time") else "?"
    ptb = pt["bases"].get(arch, {})
    bases.append(f"{arch}: cnn {ev['top1']:.4f} ({t} s), PyTorch {ptb.get('testTop1', float('nan')):.4f} "
                 f"({ptb.get('seconds', float('nan')):.0f} s)")
pt_time = open("pytorch.time").read().strip() if os.path.exists("pytorch.time") else "?"
head = ["Fashion-MNIST few-shot transfer (issue #16): base on classes 0-4, task = classes 5-9 with N train images per "
        "class, test top-1 on all 5,000 test images of classes 5-9, mean ± std over seeds 0, 1, 2.", "",
        "cnn: defaults (`cnn train --model ARCH --epochs 15` / `cnn finetune --strategy S --epochs 15`; train: adam "
        "lr 0.003 batch 64, finetune: head lr 0.01 alone on a frozen base, 0.002 with the base (finetune: 0.01 "
        "before session 24; gradual's unfrozen epochs: 0.005 before session 21), "
        "base lr 0.001, batch 32; batches shrink on small data to "
        "keep 8 steps an epoch, not below 8; cosine schedule; the default --val-split holds "
        "nothing out under 100 images a class (N=10 and N=50: all images train, last epoch kept; "
        "with 100 or more: 20% held out, best validation epoch kept, ties by validation loss)). PyTorch: Adam lr 1e-3 constant, batch 32, "
        "15 epochs (gradual 1 + 15), all N images, last epoch.", "",
        "Base test top-1 on classes 0-4: " + "; ".join(bases), ""]
tail = ["", f"Wall time of this run: {wall} s (PyTorch side in parallel: {pt_time} s). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores; {datetime.date.today()}."]
text = "\n".join(head + lines + tail)
print(text)
open(os.path.join(out, "fewshot.md"), "w").write(text + "\n")
json.dump({"rows": rows, "cnnRecords": recs, "pytorch": pt, "wallSeconds": wall},
          open(os.path.join(out, "fewshot.json"), "w"), indent=1)
EOF
