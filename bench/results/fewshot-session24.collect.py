"""Assembles bench/results/fewshot-session24.jsonl (the input of bench/fewshot_bases.py) from a bench/fewshot.sh WORK
folder's levers.jsonl, the committed session-10 records, and fewshot_pytorch.py --base-seeds output (its JSON, or its
stderr log when the run was stopped early). Paths as used in session 24."""
import json, re, os
R='/work/main/bench/results/'
out=[]
def add(fw, r, base, src, options=None):
    out.append({"framework": fw, "arch": r["arch"], "n": r["n"], "seed": r["seed"], "strategy": r["strategy"],
                "options": options, "top1": r["top1"], "base": base, "source": src})
# cnn: scratch (session 10: seeds 0-2 in the table run, 3-9 tag x10)
for r in json.load(open(R+'fewshot-session10.json'))['cnnRecords']:
    if r['n']==10 and r['strategy']=='scratch' and r['arch'] in ('simplecnn','resnet18'): add('cnn', r, None, 'fewshot-session10.json')
for l in open(R+'fewshot-levers-session10.jsonl'):
    r=json.loads(l)
    if r['tag']=='x10' and r['strategy']=='scratch': add('cnn', r, None, 'fewshot-levers-session10.jsonl x10')
# cnn: the default bases (session 19's, cnn train --seed 42), today's code
default_tags={('simplecnn','finetune'):['s23-def'], ('simplecnn','gradual'):['s21-gdiv5'],
              ('resnet18','finetune'):['s19','s20-def'], ('resnet18','gradual'):['s21-gdiv5']}
for l in open('/tmp/cnn-fewshot/levers.jsonl'):
    r=json.loads(l)
    if r['n']!=10: continue
    if r['tag'] in default_tags.get((r['arch'],r['strategy']),[]) and r.get('options','')=='' and not r.get('baseSeed'):
        add('cnn', r, 'b42', 'levers '+r['tag'])
    if r['tag']=='s24mb':
        add('cnn', r, 'b%d'%r['baseSeed'], 'levers s24mb')
    if r['tag']=='s20-hlr2' and r['strategy']=='finetune' and not r.get('baseSeed'):
        add('cnn', r, 'b42', 'levers s20-hlr2', '--lr 0.002')
    if r['tag']=='s24mb-hlr2':
        add('cnn', r, 'b%d'%r['baseSeed'], 'levers s24mb-hlr2', '--lr 0.002')
# PyTorch: base 0 (session 10 seeds 0-2, seeds 3-9), bases 1-4 (this session)
for r in json.load(open(R+'fewshot-session10.json'))['pytorch']['records']:
    if r['n']==10 and r['arch'] in ('simplecnn','resnet18') and r['strategy'] in ('finetune','gradual'): add('pytorch', r, 'b0', 'fewshot-session10.json')
for r in json.load(open(R+'fewshot-pytorch-seeds3-9.json'))['records']:
    if r['strategy'] in ('finetune','gradual'): add('pytorch', r, 'b0', 'fewshot-pytorch-seeds3-9.json')
src='/tmp/cnn-fewshot/pytorch-mb.json'
if os.path.exists(src):
    recs=json.load(open(src))['records']
else:
    recs=[json.loads(l) for l in open('/tmp/mb-pt.log') if l.startswith('{')]
for r in recs: add('pytorch', r, 'b%d'%r['baseSeed'], 'session 24 --base-seeds')
# dedupe (same framework, arch, n, seed, strategy, base): keep the first
seen=set(); final=[]
for r in out:
    k=(r['framework'],r['arch'],r['n'],r['seed'],r['strategy'],r['options'],r['base'])
    if k in seen: continue
    seen.add(k); final.append(r)
with open(R+'fewshot-session24.jsonl','w') as f:
    for r in final: f.write(json.dumps(r)+'\n')
print(len(final))
