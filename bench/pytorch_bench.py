#!/usr/bin/env python3
"""PyTorch side of bench/compare-pytorch.sh: the same architectures, inputs, batch sizes, optimizer and thread count
as `cnn bench models`, read from its JSON so both measure exactly the same cases.

  pytorch_bench.py --cases cnn.json --threads 2 --json torch.json     # speed, same timing rules as cnn bench
  pytorch_bench.py --classify-once MODEL.pt IMAGE                      # cold-start probe (one image, then exit)
  pytorch_bench.py --save-resnet18 MODEL.pt --size 64 --classes 4     # the model for the cold-start probe
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision


def lenet(c, classes):
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))


def simplecnn(c, classes):
    layers, cin = [], c
    for i, w in enumerate((32, 64, 128, 256)):
        if i > 0:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, classes)]
    return nn.Sequential(*layers)


def build(name, c, classes):
    if name == "lenet":
        return lenet(c, classes)
    if name == "simplecnn":
        return simplecnn(c, classes)
    if hasattr(torchvision.models, name.replace("-", "_")):
        m = getattr(torchvision.models, name.replace("-", "_"))(num_classes=classes)
        if c != 3:
            raise SystemExit(f"{name}: only 3 input channels supported here")
        return m
    raise SystemExit(f"unknown model {name}")


def measure(case, warmup, warmup_seconds, runs, seconds):
    c, h, w = (int(v) for v in case["input"].split("x"))
    classes, batch, mode = case["classes"], case["batch"], case["mode"]
    torch.manual_seed(1)
    model = build(case["model"], c, classes)
    params = sum(p.numel() for p in model.parameters())
    x = torch.rand(batch, c, h, w)
    y = torch.arange(batch) % classes
    if mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
    else:
        # A few training steps first: this PyTorch build ran inference of a freshly initialised network ~4x slower
        # than of the same network after three Adam steps (simplecnn@32: 955 vs 3856 img/s); measuring the trained
        # state compares cnn against PyTorch's better number.
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            nn.CrossEntropyLoss()(model(x), y).backward()
            opt.step()
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)
    w0, i = time.perf_counter(), 0
    while i < warmup or time.perf_counter() - w0 < warmup_seconds:
        step()
        i += 1
    rates, ms = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        iters = 0
        while True:
            step()
            iters += 1
            el = time.perf_counter() - t0
            if el >= seconds and iters >= 2:
                break
        rates.append(iters * batch / el)
        ms.append(el * 1000 / iters)
    return {"model": case["model"], "input": case["input"], "batch": batch, "mode": mode, "classes": classes,
            "params": params, "imagesPerSec": round(statistics.median(rates), 2),
            "minImagesPerSec": round(min(rates), 2), "maxImagesPerSec": round(max(rates), 2),
            "msPerBatch": round(statistics.median(ms), 2), "runs": [round(r, 2) for r in rates],
            "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--classify-once", nargs=2, metavar=("MODEL", "IMAGE"))
    ap.add_argument("--save-resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--no-flush-denormal", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # Freshly initialised networks in eval mode produce denormal floats that slow this CPU's float math ~4x (seen:
    # simplecnn inference 955 img/s fresh, 3856 after a few training steps). oneDNN inside ND4J flushes denormals
    # itself, so flushing here compares like with like; --no-flush-denormal measures PyTorch as it comes.
    if not a.no_flush_denormal:
        torch.set_flush_denormal(True)
    if a.save_resnet18:
        m = torchvision.models.resnet18(num_classes=a.classes)
        torch.save({"state": m.state_dict(), "size": a.size, "classes": a.classes}, a.save_resnet18)
        return
    if a.classify_once:
        from PIL import Image
        ck = torch.load(a.classify_once[0])
        m = torchvision.models.resnet18(num_classes=ck["classes"])
        m.load_state_dict(ck["state"])
        m.eval()
        tf = torchvision.transforms.Compose([torchvision.transforms.Resize((ck["size"], ck["size"])),
                                             torchvision.transforms.ToTensor()])
        x = tf(Image.open(a.classify_once[1]).convert("RGB")).unsqueeze(0)
        with torch.inference_mode():
            p = torch.softmax(m(x), 1)[0]
        print(json.dumps({"path": a.classify_once[1], "top": int(p.argmax()), "probability": float(p.max())}))
        return
    doc = json.load(open(a.cases))
    t = doc["timing"]
    out = []
    seen = set()
    for case in doc["results"]:
        key = (case["model"], case["input"], case["batch"], case["mode"])
        if key in seen:  # lever rows repeat a case
            continue
        seen.add(key)
        print(f"torch {case['model']}@{case['input']} batch {case['batch']} {case['mode']}", file=sys.stderr, flush=True)
        r = measure(case, t["warmup"], t.get("warmupSeconds", 0), t["runs"], t["secondsPerRun"])
        print(f"  {r['imagesPerSec']:.1f} img/s (runs {r['runs']})", file=sys.stderr, flush=True)
        out.append(r)
    res = {"tool": "pytorch", "version": torch.__version__, "torchvision": torchvision.__version__,
           "threads": torch.get_num_threads(), "blas": torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0]
           if "BLAS_INFO=" in torch.__config__.show() else "?", "results": out}
    text = json.dumps(res, indent=2)
    if a.json:
        open(a.json, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
