#!/usr/bin/env python3
"""Few-shot transfer benchmark, PyTorch side (issue #16): the protocol of bench/fewshot.sh in PyTorch.

Fashion-MNIST as `cnn data import idx` writes it (FM/train/<class>/*.png, FM/test/<class>/*.png; the train IDX file
at hand lacks one image, the importer re-aligns the labels, so both sides read the imported folders):
  * base: classes 0-4 (T-shirt_top, Trouser, Pullover, Dress, Coat), all their train images, 2 epochs;
  * task: classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle_boot), N train images per class drawn with the seed
    (sample_task below, also used by fewshot.sh to build cnn's task folders), evaluated on all 5,000 test images.
Adam lr 1e-3 (constant), batch 32, inputs scaled to [0,1], 15 epochs on the task, the final epoch's weights
(no validation split). Rows:
  scratch                the same architecture, fresh weights
  feature-extraction     base frozen (inference mode) up to its penultimate layer (mnist_cnn: fc1 incl. ReLU,
                         then the base's Dropout(0.5) and a new Linear; simplecnn: global average pooling), new head
  (resnet18: torchvision's, 1 input channel, at 32x32, base 1 epoch; penultimate = the global average pool)
  fe-conv                base frozen up to its convolutional features, new head on them:
                         mnist_cnn: after the max pool, flattened (9216 -> Linear, Keras style) = fe-conv-flat,
                         and global-average-pooled (64 -> Linear, as `cnn finetune --cut pool` does) = fe-conv-gap;
                         simplecnn: after stage 3 (relu3), global-average-pooled (128 -> Linear, `--cut relu3`)
  finetune               new head, every layer trains at 1e-3
  gradual                new head; 1 epoch head only (base frozen), then 15 epochs everything (fresh Adam 1e-3)
Usage:
  fewshot_pytorch.py --fm FM --out results.json [--archs simplecnn,mnist_cnn] [--sizes 10,50] [--seeds 0,1,2]
                     [--base-seeds 0,1,..] [--strategies finetune,gradual]
                     (--base-seeds: one base per seed, its records carry `baseSeed`; 0 is the table's base)
  fewshot_pytorch.py --fm FM --make-tasks WORK   # task folders WORK/task-n{N}-s{S}/<class>/ (symlinks) for cnn
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BASE_CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat"]  # Fashion-MNIST 0-4
NEW_CLASSES = ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]        # Fashion-MNIST 5-9
MAX_N = 50
EPOCHS, BASE_EPOCHS, BATCH, LR = 15, 2, 32, 1e-3


def sample_task(fm, seed, n):
    """{class: [file names]}: n train images per new class. One permutation prefix per (seed, class): the N=10 task
    is a subset of the N=50 task of the same seed."""
    assert n <= MAX_N
    rng = random.Random(seed)
    out = {}
    for c in sorted(NEW_CLASSES):
        files = sorted(f for f in os.listdir(os.path.join(fm, "train", c)) if f.endswith(".png"))
        out[c] = rng.sample(files, MAX_N)[:n]
    return out


def make_tasks(fm, work, sizes, seeds):
    fm = os.path.abspath(fm)
    for s in seeds:
        for n in sizes:
            root = os.path.join(work, f"task-n{n}-s{s}")
            if os.path.isdir(root):
                continue
            tmp = root + ".tmp"
            os.system(f"rm -rf '{tmp}'")
            for c, files in sample_task(fm, s, n).items():
                os.makedirs(os.path.join(tmp, c))
                for f in files:
                    os.symlink(os.path.join(fm, "train", c, f), os.path.join(tmp, c, f))
            os.rename(tmp, root)


def load(paths):
    from PIL import Image
    return np.stack([np.asarray(Image.open(p).convert("L"), dtype=np.uint8) for p in paths])


def load_split(fm, split, classes, cache):
    """All images of `classes` in a split as (uint8 N x 28 x 28, int64 labels in sorted-class order)."""
    if cache and os.path.exists(cache):
        z = np.load(cache)
        return z["x"], z["y"]
    xs, ys = [], []
    for i, c in enumerate(sorted(classes)):
        d = os.path.join(fm, split, c)
        files = sorted(f for f in os.listdir(d) if f.endswith(".png"))
        xs.append(load([os.path.join(d, f) for f in files]))
        ys.append(np.full(len(files), i, dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    if cache:
        np.savez(cache, x=x, y=y)
    return x, y


def tensor(x, size=28):
    t = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return t if size == 28 else F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------------------------------- models

class MnistCnn(nn.Module):
    """Keras' mnist_cnn.py: Conv(32,3)-ReLU-Conv(64,3)-ReLU-MaxPool2-Dropout(0.25)-Flatten-Dense(128)-ReLU-Dropout(0.5)-Dense."""

    def __init__(self, classes):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Sequential(nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU())
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc2(self.drop(self.fc1(self.conv(x))))


class SimpleCnn(nn.Module):
    """model-zoo SimpleCnn.java: 4 x [maxpool 2 (not first)] conv3x3 pad 1 no bias - BN(eps 1e-5, momentum 0.1) - ReLU,
    widths 32/64/128/256, global average pooling, linear classifier."""

    def __init__(self, classes):
        super().__init__()
        layers, cin = [], 1
        for i, w in enumerate((32, 64, 128, 256)):
            stage = ([nn.MaxPool2d(2)] if i > 0 else []) + [nn.Conv2d(cin, w, 3, padding=1, bias=False),
                                                             nn.BatchNorm2d(w, eps=1e-5, momentum=0.1), nn.ReLU()]
            layers.append(nn.Sequential(*stage))
            cin = w
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(256, classes)

    def forward(self, x):
        return self.fc(self.stages(x).mean(dim=(2, 3)))


def resnet18(classes):
    """torchvision's resnet18 (as the zoo's), one input channel; the task runs it at 32x32 (the 28x28 images resized
    bilinearly, as `cnn --image-size 32` does)."""
    import torchvision
    m = torchvision.models.resnet18(num_classes=classes)
    m.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    return m


ARCHS = {"mnist_cnn": MnistCnn, "simplecnn": SimpleCnn, "resnet18": resnet18}
SIZE = {"resnet18": 32}
BASE_EPOCHS_OF = {"resnet18": 1}


class Transfer(nn.Module):
    """A frozen-or-not `body` (part of the base) and a new `head`; `frozen` puts the body in inference mode."""

    def __init__(self, body, head):
        super().__init__()
        self.body, self.head, self.frozen = body, head, False

    def freeze(self, on):
        self.frozen = on
        for p in self.body.parameters():
            p.requires_grad_(not on)

    def train(self, mode=True):
        super().train(mode)
        if self.frozen:
            self.body.eval()  # inference-mode batch norm, no dropout (as cnn's FrozenLayer, Keras' training=False)
        return self

    def forward(self, x):
        return self.head(self.body(x))


class Gap(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def transfer_model(arch, base, cut, classes):
    import copy
    b = copy.deepcopy(base)
    if arch == "mnist_cnn":
        if cut == "penultimate":   # fc1 (Dense 128 + ReLU), then the base's Dropout(0.5) and a new classifier
            return Transfer(nn.Sequential(b.conv, b.fc1), nn.Sequential(nn.Dropout(0.5), nn.Linear(128, classes)))
        if cut == "conv-flat":
            return Transfer(b.conv, nn.Sequential(nn.Flatten(), nn.Linear(64 * 12 * 12, classes)))
        if cut == "conv-gap":
            return Transfer(b.conv, nn.Sequential(Gap(), nn.Linear(64, classes)))
    if arch == "simplecnn":
        if cut == "penultimate":   # the global average pool
            return Transfer(nn.Sequential(b.stages, Gap()), nn.Linear(256, classes))
        if cut == "conv-gap":      # after stage 3 (relu3)
            return Transfer(b.stages[:3], nn.Sequential(Gap(), nn.Linear(128, classes)))
    if arch == "resnet18" and cut == "penultimate":  # the global average pool
        body = nn.Sequential(*(list(b.children())[:-1]), nn.Flatten())
        return Transfer(body, nn.Linear(512, classes))
    raise ValueError(f"{arch}: no cut {cut}")


# ---------------------------------------------------------------------------------------------------- training

def fit(model, x, y, epochs, gen):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    model.train()
    n = len(x)
    steps = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, BATCH):
            i = perm[s:s + BATCH]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[i]), y[i])
            loss.backward()
            opt.step()
            steps += 1
    return steps


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for s in range(0, len(x), 500):
        correct += (model(x[s:s + 500]).argmax(1) == y[s:s + 500]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fm", required=True, help="the folder `cnn data import idx` wrote")
    ap.add_argument("--out")
    ap.add_argument("--make-tasks", metavar="WORK")
    ap.add_argument("--archs", default="simplecnn,mnist_cnn")
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cache", default=None, help="folder for .npz copies of the decoded images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--base-seeds", default="0", help="seeds of the bases (torch.manual_seed), one base each")
    ap.add_argument("--strategies", default=None, help="only these rows (comma-separated names), e.g. finetune,gradual")
    a = ap.parse_args()
    sizes = [int(v) for v in a.sizes.split(",")]
    seeds = [int(v) for v in a.seeds.split(",")]
    if a.make_tasks:
        make_tasks(a.fm, a.make_tasks, sizes, seeds)
        return
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    cache = (lambda name: os.path.join(a.cache, name)) if a.cache else (lambda name: None)
    if a.cache:
        os.makedirs(a.cache, exist_ok=True)
    t0 = time.time()
    xb, yb = load_split(a.fm, "train", BASE_CLASSES, cache("base-train.npz"))
    xbt, ybt = load_split(a.fm, "test", BASE_CLASSES, cache("base-test.npz"))
    xt, yt = load_split(a.fm, "test", NEW_CLASSES, cache("new-test.npz"))
    raw = (xb, xbt, xt)
    yb, ybt, yt = torch.from_numpy(yb), torch.from_numpy(ybt), torch.from_numpy(yt)
    print(f"data: base {len(xb)} train / {len(xbt)} test, task test {len(xt)} ({time.time() - t0:.1f} s)",
          file=sys.stderr)
    new_sorted = sorted(NEW_CLASSES)
    recs, bases = [], {}
    only = set(a.strategies.split(",")) if a.strategies else None
    sized = {}  # image size -> the three splits as tensors, made once per size, not per base
    for arch, base_seed in [(arch, bs) for arch in a.archs.split(",") for bs in map(int, a.base_seeds.split(","))]:
        size = SIZE.get(arch, 28)
        if size not in sized:
            sized[size] = tuple(tensor(v, size) for v in raw)
        xb, xbt, xt = sized[size]
        base_epochs = BASE_EPOCHS_OF.get(arch, BASE_EPOCHS)
        torch.manual_seed(base_seed)
        base = ARCHS[arch](len(BASE_CLASSES))
        t = time.time()
        fit(base, xb, yb, base_epochs, torch.Generator().manual_seed(base_seed))
        key = arch if base_seed == 0 else f"{arch}-b{base_seed}"
        bases[key] = {"testTop1": accuracy(base, xbt, ybt), "seconds": time.time() - t, "epochs": base_epochs,
                      "trainImages": len(xb), "baseSeed": base_seed}
        print(f"{key} base: test top-1 {bases[key]['testTop1']:.4f} on classes 0-4 "
              f"({bases[key]['seconds']:.0f} s)", file=sys.stderr)
        cuts = {"mnist_cnn": ["penultimate", "conv-flat", "conv-gap"], "simplecnn": ["penultimate", "conv-gap"],
                "resnet18": ["penultimate"]}[arch]
        for n in sizes:
            for seed in seeds:
                task = sample_task(a.fm, seed, n)
                paths = [os.path.join(a.fm, "train", c, f) for c in new_sorted for f in task[c]]
                x = tensor(load(paths), size)
                y = torch.tensor([i for i, c in enumerate(new_sorted) for _ in task[c]])
                rows = [("scratch", None)] + [("feature-extraction" if c == "penultimate" else "fe-" + c, c)
                                              for c in cuts] + [("finetune", None), ("gradual", None)]
                for name, cut in rows:
                    if only is not None and name not in only:
                        continue
                    torch.manual_seed(seed)
                    gen = torch.Generator().manual_seed(seed)
                    t = time.time()
                    if name == "scratch":
                        m = ARCHS[arch](len(NEW_CLASSES))
                        steps = fit(m, x, y, EPOCHS, gen)
                    elif name in ("finetune", "gradual"):
                        m = transfer_model(arch, base, "penultimate", len(NEW_CLASSES))
                        steps = 0
                        if name == "gradual":
                            m.freeze(True)
                            steps += fit(m, x, y, 1, gen)
                            m.freeze(False)
                        steps += fit(m, x, y, EPOCHS, gen)
                    else:
                        m = transfer_model(arch, base, cut, len(NEW_CLASSES))
                        m.freeze(True)
                        steps = fit(m, x, y, EPOCHS, gen)
                    acc = accuracy(m, xt, yt)
                    rec = {"arch": arch, "baseSeed": base_seed, "n": n, "seed": seed, "strategy": name, "top1": acc,
                           "steps": steps,
                           "trainImages": len(x), "seconds": time.time() - t}
                    recs.append(rec)
                    print(json.dumps(rec), file=sys.stderr)
    out = {"framework": f"pytorch {torch.__version__}", "threads": a.threads, "lr": LR, "batch": BATCH,
           "epochs": EPOCHS, "baseEpochs": BASE_EPOCHS, "bases": bases, "records": recs,
           "seconds": time.time() - t0}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    else:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
