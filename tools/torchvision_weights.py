#!/usr/bin/env python3
"""Writes the weights registry and ImageNet class names that ship with cnn, from the installed torchvision.

  /usr/bin/python3 tools/torchvision_weights.py transfer/src/main/resources/dev/cnn/transfer

torchvision's Weights enums are the source of truth: URL (whose name carries the first 8 or more hex digits of
the file's SHA-256, checked as torch.hub's check_hash does), the evaluation transform, the published accuracy and
the categories. Rerun it when torchvision adds weights for a zoo architecture.
"""
import json
import re
import sys

import torchvision.models as M

ZOO = ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
       "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "squeezenet1_0", "squeezenet1_1",
       "googlenet", "densenet121", "densenet169", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2",
       "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_b1",
       "efficientnet_b2", "efficientnet_b3", "regnet_y_400mf", "regnet_y_1_6gf", "convnext_tiny", "convnext_small",
       "inception_v3", "shufflenet_v2_x1_0"]

# GoogLeNet's and Inception v3's published weights come with transform_input=True: the network maps
# ImageNet-normalised input to (x - 0.5) / 0.5 before its first layer. The zoo's networks have no such step, so
# their preprocessing is that.
NORMALISATION = {"googlenet": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]), "inception_v3": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])}


def number(x):
    return None if x is None or x != x else x


def main(out):
    entries = []
    categories = None
    for arch in ZOO:
        enum = M.get_model_weights(arch)
        for w in enum:
            t = w.transforms()
            meta = w.meta
            metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
            name = w.url.rsplit("/", 1)[1]
            m = re.search(r"-([a-f0-9]{8,})\.", name)
            entries.append({
                "model": arch,
                "tag": w.name.lower(),
                "url": w.url,
                "sha256Prefix": m.group(1) if m else None,
                "resizeShorter": t.resize_size[0],
                "crop": t.crop_size[0],
                "interpolation": str(t.interpolation.value),
                "mean": NORMALISATION.get(arch, (list(t.mean), None))[0],
                "std": NORMALISATION.get(arch, (None, list(t.std)))[1],
                "labels": "imagenet" if meta.get("categories") else None,
                "top1": number(metrics.get("acc@1")),
                "top5": number(metrics.get("acc@5")),
                "params": meta.get("num_params"),
                "fileMB": round(meta["_file_size"], 1) if "_file_size" in meta else None,
                "default": w == enum.DEFAULT,
            })
            categories = meta["categories"] or categories
    with open(out + "/torchvision-weights.json", "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    with open(out + "/imagenet-labels.txt", "w") as f:
        f.write("\n".join(categories) + "\n")
    print(len(entries), "entries,", len(categories), "labels")


if __name__ == "__main__":
    main(sys.argv[1])
