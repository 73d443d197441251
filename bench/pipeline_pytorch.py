#!/usr/bin/python3
"""PyTorch's side of the photo-pipeline comparison (issue #18), as a PyTorch user measures their own pipeline.

  pipeline: ImageFolder + DataLoader(num_workers=W, batch B), Resize((S, S)) + ToTensor + Normalize, one full pass
            per run; prints images/s of each run (the first run includes worker start-up, as an epoch does).
  train:    one epoch of simplecnn per run over the same DataLoader (Adam), images/s.
  classify: from process start: build the model (simplecnn, as cnn's zoo builds it, random weights), decode,
            preprocess, batch and top-5 over a folder; prints the wall time.
"""
import argparse
import json
import os
import sys
import time

T0 = time.time()
import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision import transforms  # noqa: E402


def passes(args, tf, step):
    """images/s of each of args.runs full passes of a DataLoader over ImageFolder(args.folder), calling step(x, y)
    per batch; a new loader (and its worker processes) per pass, as per epoch."""
    ds = torchvision.datasets.ImageFolder(args.folder, transform=tf)
    rates = []
    for _ in range(args.runs):
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=args.workers)
        t = time.time()
        n = 0
        for x, y in loader:
            step(x, y)
            n += x.shape[0]
        rates.append(n / (time.time() - t))
    return {"images": len(ds), "rates": rates}


def pipeline(args):
    tf = transforms.Compose([transforms.Resize((args.size, args.size)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return passes(args, tf, lambda x, y: None)


def simplecnn(classes):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from pytorch_bench import build  # the same simplecnn as the speed comparison
    return build("simplecnn", 3, classes)


def train(args):
    """One epoch of simplecnn (Adam, lr 0.003, unit normalisation as cnn train's default), from the first batch
    requested to the last step, as cnn's epoch time counts it."""
    tf = transforms.Compose([transforms.Resize((args.size, args.size)), transforms.ToTensor()])
    model = simplecnn(len(torchvision.datasets.ImageFolder(args.folder).classes)).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return passes(args, tf, step)


def classify(args):
    from PIL import Image
    model = simplecnn(4).eval()
    tf = transforms.Compose([transforms.Resize((args.size, args.size)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.folder) for f in fs)
    out = []
    with torch.no_grad():
        for i in range(0, len(files), args.batch):
            chunk = files[i:i + args.batch]
            x = torch.stack([tf(Image.open(f).convert("RGB")) for f in chunk])
            p = torch.softmax(model(x), 1)
            top = p.topk(min(5, p.shape[1]), 1)
            for f, v, k in zip(chunk, top.values, top.indices):
                out.append({"file": f, "top": [[int(a), float(b)] for a, b in zip(k, v)]})
    return {"images": len(out), "seconds": time.time() - T0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pipeline", "train", "classify"])
    ap.add_argument("folder")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-flush-denormal", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # as bench/pytorch_bench.py: a fresh network's denormal floats slow this CPU's float math ~4x, and oneDNN inside
    # ND4J flushes them itself, so flushing here compares like with like
    if not a.no_flush_denormal:
        torch.set_flush_denormal(True)
    r = {"pipeline": pipeline, "train": train, "classify": classify}[a.mode](a)
    r.update(mode=a.mode, size=a.size, workers=a.workers, batch=a.batch)
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
