#!/usr/bin/python3
"""Writes a photo-like image folder for pipeline benchmarks: noise, shapes and gradients, so JPEG sizes and decode
costs resemble photographs (a flat synthetic image decodes much faster than a photo).

usage: photos.py OUT_DIR --count N --size 500x375 --format jpg|png [--quality 90] [--classes 4] [--seed 0]
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def photo(rng, w, h):
    # smooth colour field: a few low-frequency gradients
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, p = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 80 * np.sin(a * xx / w * 6 + b * yy / h * 6 + p * 3)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(rng.integers(6, 14)):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(w // 20, w // 3), y0 + rng.integers(h // 20, h // 3)
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=col)
        else:
            d.rectangle([x0, y0, x1, y1], fill=col)
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    arr = np.asarray(im).astype(np.float32)
    arr += rng.normal(0, 9, arr.shape)  # sensor noise: what makes photos cost to decode
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--size", default="500x375")
    ap.add_argument("--format", default="jpg", choices=["jpg", "png"])
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    rng = np.random.default_rng(a.seed)
    for i in range(a.count):
        d = os.path.join(a.out, "class%d" % (i % a.classes))
        os.makedirs(d, exist_ok=True)
        f = os.path.join(d, "%05d.%s" % (i, a.format))
        if os.path.exists(f):
            continue
        im = photo(rng, w, h)
        if a.format == "jpg":
            im.save(f, quality=a.quality)
        else:
            im.save(f)


if __name__ == "__main__":
    main()
