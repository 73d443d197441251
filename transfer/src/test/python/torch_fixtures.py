#!/usr/bin/env python3
"""Fixtures for cnn's PyTorch import tests, written by PyTorch itself.

  torch_fixtures.py parity --arch resnet18 --formats zip,legacy,safetensors,f16,bf16 [--size 224] --out DIR
      DIR/<arch>.<fmt>.(pth|safetensors): a torchvision network with seeded random weights (batch-norm affine
      parameters and running statistics randomised too), DIR/input.bin (float32 [2,3,size,size], little-endian)
      and DIR/<arch>.logits.bin (float32 [2, 1000]): the network's eval-mode logits on that input, and for the
      f16/bf16 files, logits of the network rounded to that precision.
  torch_fixtures.py images --arch resnet18 --count 50 --out DIR
      DIR/img/NN.(jpg|png): varied images; DIR/<arch>.zip.pth; DIR/expected.json: per image torchvision's
      eval transform (Resize(256) + CenterCrop(224) + ImageNet normalisation) + model: top-5 indices and all
      probabilities, and the transformed tensor's checksum values.
  torch_fixtures.py tiny --out DIR
      the small checked-in fixtures (a tiny network in every format, a malicious pickle).
"""
import argparse
import io
import json
import os
import pickle
import struct
import sys

import numpy as np
import torch
import torchvision

torch.set_flush_denormal(True)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
            elif isinstance(m, torch.nn.LayerNorm):  # ConvNeXt's LayerNorm and LayerNorm2d
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            if hasattr(m, "layer_scale"):  # ConvNeXt: 1e-6 at start would make every block nearly the identity
                m.layer_scale.copy_(torch.rand(m.layer_scale.shape, generator=g) * 0.3 + 0.05)
        # Inception v3 initialises its convolutions with std 0.1 whatever their fan-in: logits of 1e13. Scaled to
        # std 1/sqrt(fan-in), so the parity test compares logits of a sensible size
        if isinstance(model, torchvision.models.Inception3):
            for m in model.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.mul_(1.0 / (0.1 * m.weight[0].numel() ** 0.5))
        # keep deep residual networks' activations in range: the last batch norm of each block scaled down
        from torchvision.models.resnet import BasicBlock, Bottleneck
        for m in model.modules():
            last = m.bn2 if isinstance(m, BasicBlock) else m.bn3 if isinstance(m, Bottleneck) else None
            if last is not None:
                last.weight.copy_(torch.rand(last.weight.shape, generator=g) * 0.2 + 0.1)
    return model.eval()


def save_safetensors(sd, path, dtype=torch.float32):
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for k, v in sd.items():
        t = v if v.dtype == torch.int64 else v.to(dtype)
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dim() > 0 else \
            t.reshape(1).contiguous().view(torch.uint8).numpy().tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_floats(path, t):
    t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def logits(model, x):
    with torch.no_grad():
        return model(x)


def parity(a):
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    model = randomise(torchvision.models.get_model(a.arch), a.seed)
    x = torch.randn(2, 3, a.size, a.size, generator=torch.Generator().manual_seed(a.seed + 1))
    write_floats(os.path.join(a.out, "input.bin"), x)
    write_floats(os.path.join(a.out, a.arch + ".logits.bin"), logits(model, x))
    sd = model.state_dict()
    for fmt in a.formats.split(","):
        base = os.path.join(a.out, a.arch + "." + fmt)
        if fmt == "zip":
            torch.save(sd, base + ".pth")
        elif fmt == "legacy":
            torch.save(sd, base + ".pth", _use_new_zipfile_serialization=False)
        elif fmt == "safetensors":
            save_safetensors(sd, base + ".safetensors")
        elif fmt in ("f16", "bf16"):
            dt = torch.float16 if fmt == "f16" else torch.bfloat16
            # the file holds the rounded weights; the reference runs them in float32
            rounded = {k: (v.to(dt).to(torch.float32) if v.is_floating_point() else v) for k, v in sd.items()}
            m2 = torchvision.models.get_model(a.arch).eval()
            m2.load_state_dict(rounded)
            write_floats(os.path.join(a.out, a.arch + "." + fmt + ".logits.bin"), logits(m2, x))
            half = {k: (v.to(dt) if v.is_floating_point() else v) for k, v in sd.items()}
            if fmt == "f16":
                torch.save(half, base + ".pth")
            else:
                save_safetensors(sd, base + ".safetensors", dt)
        else:
            sys.exit("unknown format " + fmt)


def images(a):
    from PIL import Image, ImageDraw
    os.makedirs(os.path.join(a.out, "img"), exist_ok=True)
    rng = np.random.default_rng(a.seed)
    torch.manual_seed(a.seed)
    model = randomise(torchvision.models.get_model(a.arch), a.seed)
    weights = torchvision.models.get_model_weights(a.arch).DEFAULT
    tf = weights.transforms()
    sizes = [(500, 375), (375, 500), (224, 224), (640, 480), (300, 200), (256, 256), (1024, 768), (180, 240),
             (257, 301), (800, 300), (301, 257), (1000, 1000), (233, 231), (96, 128)]
    names, tensors = [], []
    for i in range(a.count):
        w, h = sizes[i % len(sizes)]
        # smooth gradients plus shapes and some noise: photo-like frequency content
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * (1 + i % 3) / w * 255), (yy / h * 255), ((xx + yy) * (i % 5 + 1) / (w + h) * 255 % 255)],
                        -1)
        arr = np.clip(base + rng.normal(0, 12 + i % 20, (h, w, 3)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
        d = ImageDraw.Draw(img)
        for _ in range(3 + i % 4):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = x0 + int(rng.integers(10, w // 2 + 11)), y0 + int(rng.integers(10, h // 2 + 11))
            col = tuple(int(c) for c in rng.integers(0, 256, 3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col)
        name = "%02d.%s" % (i, "png" if i % 4 == 3 else "jpg")
        path = os.path.join(a.out, "img", name)
        if name.endswith("jpg"):
            img.save(path, quality=int(70 + i % 25))
        else:
            img.save(path)
        with Image.open(path) as im:
            tensors.append(tf(im.convert("RGB")))
        names.append(name)
    batch = torch.stack(tensors)
    with torch.no_grad():
        # a classifier that tells these images apart: random directions through the centre of their features,
        # logits with a standard deviation of about 3 (a random head on random features is near uniform)
        fc = model.fc
        model.fc = torch.nn.Identity()
        feats = model(batch)
        model.fc = fc
        mu = feats.mean(0)
        spread = (feats - mu).norm(dim=1).mean()
        w = torch.randn(fc.weight.shape, generator=torch.Generator().manual_seed(a.seed + 2)) * 3 / spread
        fc.weight.copy_(w)
        fc.bias.copy_(-(w @ mu))
        probs = torch.softmax(model(batch), 1)
    torch.save(model.state_dict(), os.path.join(a.out, a.arch + ".zip.pth"))
    mean = torch.tensor(tf.mean).view(3, 1, 1)
    std = torch.tensor(tf.std).view(3, 1, 1)
    out = {}
    for name, t, p in zip(names, tensors, probs):
        out[name] = {"top5": torch.topk(p, 5).indices.tolist(), "probs": p.tolist(),
                     "pixels": (t * std + mean).mul(255).round().to(torch.int32).flatten().tolist()}
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump(out, f)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(8, 3)


def tiny(a):
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(3)
    m = randomise(Tiny(), 3)
    sd = m.state_dict()
    torch.save(sd, os.path.join(a.out, "tiny.zip.pth"))
    torch.save(sd, os.path.join(a.out, "tiny.legacy.pth"), _use_new_zipfile_serialization=False)
    save_safetensors(sd, os.path.join(a.out, "tiny.safetensors"))
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, os.path.join(a.out, "tiny.f16.pth"))
    save_safetensors(sd, os.path.join(a.out, "tiny.bf16.safetensors"), torch.bfloat16)
    torch.save({"epoch": 3, "state_dict": sd}, os.path.join(a.out, "tiny.checkpoint.pth"))
    # a transposed (non-contiguous) view, saved as such
    torch.save({"fc.weight.t": sd["fc.weight"].t()}, os.path.join(a.out, "tiny.strided.pth"))
    expected = {k: {"shape": list(v.shape), "values": v.flatten().tolist()} for k, v in sd.items()}
    expected["fc.weight.t"] = {"shape": list(sd["fc.weight"].t().shape),
                               "values": sd["fc.weight"].t().flatten().tolist()}
    with open(os.path.join(a.out, "tiny.expected.json"), "w") as f:
        json.dump(expected, f, indent=0)
    # torchvision's eval resize on a small image, down (antialiased) and up, as PNGs (lossless)
    from PIL import Image
    import torchvision.transforms as T
    rng = np.random.default_rng(5)
    src = Image.fromarray(rng.integers(0, 256, (23, 37, 3), dtype=np.uint8), "RGB")
    src.save(os.path.join(a.out, "resize.src.png"))
    T.Compose([T.Resize(16), T.CenterCrop(12)])(src).save(os.path.join(a.out, "resize.down.png"))
    T.Compose([T.Resize(40), T.CenterCrop((31, 29))])(src).save(os.path.join(a.out, "resize.up.png"))
    T.Compose([T.Resize(8), T.CenterCrop(10)])(src).save(os.path.join(a.out, "resize.pad.png"))
    bicubic = T.InterpolationMode.BICUBIC  # EfficientNet's evaluation transform
    T.Compose([T.Resize(16, bicubic), T.CenterCrop(12)])(src).save(os.path.join(a.out, "resize.bicubic.down.png"))
    T.Compose([T.Resize(40, bicubic), T.CenterCrop((31, 29))])(src).save(
        os.path.join(a.out, "resize.bicubic.up.png"))
    with open(os.path.join(a.out, "evil.pth"), "wb") as f:  # a legacy-style pickle that calls os.system
        pickle.dump(Evil(), f, protocol=2)
    buf = io.BytesIO()  # the same inside a zip checkpoint, next to real weights
    torch.save({"fc.weight": sd["fc.weight"], "x": Evil()}, buf)
    with open(os.path.join(a.out, "evil.zip.pth"), "wb") as f:
        f.write(buf.getvalue())


class Ops(torch.nn.Module):
    """The operations the zoo adds to DL4J, in one small network (see NewOpsTorchGradientTest)."""

    def __init__(self):
        super().__init__()
        from torchvision.ops import SqueezeExcitation
        from torchvision.models.convnext import LayerNorm2d
        nn = torch.nn
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False)
        self.dw = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
        self.se = SqueezeExcitation(16, 4, scale_activation=nn.Hardsigmoid)
        self.ln = LayerNorm2d(16, eps=1e-6)
        self.mlp = nn.Conv2d(16, 32, 1)
        self.proj = nn.Conv2d(32, 16, 1)
        self.layer_scale = nn.Parameter(torch.rand(16, 1, 1) * 0.5 + 0.25)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        from torchvision.models.shufflenetv2 import channel_shuffle
        F = torch.nn.functional
        x = F.hardswish(self.stem(x))
        x = F.silu(self.grouped(x))
        x = self.se(self.dw(x))
        y = F.gelu(self.mlp(self.ln(x)))
        x = x + self.proj(y) * self.layer_scale
        x = channel_shuffle(x, 2)
        return self.fc(x.mean((2, 3)))


def ops(a):
    """DIR/ops.pth (weights), ops.input.bin [2,3,12,12], ops.labels.bin [2,5] one-hot, ops.loss.bin, and
    ops.grads.safetensors: every parameter's gradient of the mean cross-entropy, in float64."""
    torch.manual_seed(a.seed)
    model = Ops()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torchvision.models.convnext.LayerNorm2d):
                m.weight.copy_(torch.rand(16) + 0.5)
                m.bias.copy_(torch.randn(16) * 0.1)
    torch.save(model.state_dict(), os.path.join(a.out, "ops.pth"))
    model = model.double()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64) * 2
    target = torch.tensor([1, 3])
    loss = torch.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    write_floats(os.path.join(a.out, "ops.input.bin"), x)
    write_floats(os.path.join(a.out, "ops.labels.bin"), torch.nn.functional.one_hot(target, 5))
    write_floats(os.path.join(a.out, "ops.loss.bin"), loss.reshape(1))
    save_safetensors({k: p.grad for k, p in model.named_parameters()}, os.path.join(a.out, "ops.grads.safetensors"))


def stochastic_depth(a):
    """torchvision's StochasticDepth(0.5, "row") in training on x = randn(8, 4, 3, 3) (seeded, float64), with the
    per-sample keep pattern read from DIR/sd.keep.bin (cnn's draw: PyTorch's bernoulli_ hands it back instead of
    drawing): DIR/sd.input.bin, sd.weights.bin (w), sd.output.bin and sd.grad.bin, the gradient of sum(out * w)
    with respect to x."""
    from torchvision.ops import StochasticDepth
    torch.manual_seed(a.seed)
    x = torch.randn(8, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, 4, 3, 3, dtype=torch.float64)
    keep = torch.tensor(np.fromfile(os.path.join(a.out, "sd.keep.bin"), dtype="<f4"), dtype=torch.float64)
    drawn = []

    def bernoulli_(self, p=0.5, *args, **kwargs):
        drawn.append(p)
        return self.copy_(keep.reshape(self.shape))

    original = torch.Tensor.bernoulli_
    torch.Tensor.bernoulli_ = bernoulli_
    try:
        out = StochasticDepth(0.5, "row").train()(x)
    finally:
        torch.Tensor.bernoulli_ = original
    assert drawn == [0.5], drawn  # one draw, of the survival rate, one value per sample
    (out * w).sum().backward()
    write_floats(os.path.join(a.out, "sd.input.bin"), x.detach())
    write_floats(os.path.join(a.out, "sd.weights.bin"), w)
    write_floats(os.path.join(a.out, "sd.output.bin"), out.detach())
    write_floats(os.path.join(a.out, "sd.grad.bin"), x.grad)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["parity", "images", "tiny", "ops", "stochastic-depth"])
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--formats", default="zip")
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=224, help="parity: input height and width")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    {"parity": parity, "images": images, "tiny": tiny, "ops": ops, "stochastic-depth": stochastic_depth}[a.what](a)


if __name__ == "__main__":
    main()
