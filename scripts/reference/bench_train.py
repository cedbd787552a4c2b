#!/usr/bin/env python3
"""CPU timing of one training step of the DFDC recipe in PyTorch (the Python side of benches/train.rs).

timm tf_efficientnet_{b0,b7} (random weights, drop_path_rate 0.2) in the DFDC DeepFakeClassifier wrapper, train
mode, batch of random inputs with half fake labels (clipped to [0.01, 0.99]), split BCE loss, backward,
clip_grad_norm_(1.0), SGD(lr 0.01, momentum 0.9, nesterov, weight decay 1e-4). Prints one JSON line per case
with the median seconds per step, images per second and the forward / backward / optimizer split.

    OMP_WAIT_POLICY=PASSIVE python scripts/reference/bench_train.py --cases b0:224:8,b7:380:2 --threads 2
"""

import argparse
import json
import statistics
import time

import timm
import torch
import torch.nn as nn


class DeepFakeClassifier(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(encoder.num_features, 1)

    def forward(self, x):
        return self.fc(self.avg_pool(self.encoder.forward_features(x)).flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="b0:224:8,b7:380:2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for case in args.cases.split(","):
        arch, size, n = case.split(":")
        size, n = int(size), int(n)
        model = DeepFakeClassifier(timm.create_model(f"tf_efficientnet_{arch}", pretrained=False, drop_path_rate=0.2))
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
        x = torch.randn(n, 3, size, size)
        labels = (torch.arange(n) % 2).float().clamp(0.01, 0.99)
        loss_fn = nn.BCEWithLogitsLoss()
        times, fwd, bwd, step = [], 0.0, 0.0, 0.0
        for i in range(args.warmup + args.repeats):
            t0 = time.perf_counter()
            opt.zero_grad()
            out = model(x).view(-1)
            fake, real = labels > 0.5, labels <= 0.5
            loss = (loss_fn(out[fake], labels[fake]) + loss_fn(out[real], labels[real])) / 2
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            t3 = time.perf_counter()
            if i >= args.warmup:
                times.append(t3 - t0)
                fwd, bwd, step = fwd + t1 - t0, bwd + t2 - t1, step + t3 - t2
        med = statistics.median(times)
        r = args.repeats
        print(json.dumps({"case": f"train_{arch}_{size}_batch{n}", "impl": "pytorch", "repeats": r,
                          "min_s_per_step": round(min(times), 4), "median_s_per_step": round(med, 4),
                          "images_per_s": round(n / med, 3), "forward_s": round(fwd / r, 4),
                          "backward_s": round(bwd / r, 4), "optimizer_s": round(step / r, 4),
                          "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
