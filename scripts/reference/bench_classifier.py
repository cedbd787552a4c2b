#!/usr/bin/env python3
"""CPU timing of the Python reference classifier (timm tf_efficientnet_b7, random weights).

Times `model(x)` for timm `--model` (default tf_efficientnet_b7, pretrained=False, eval,
torch.inference_mode, float32, NCHW) on random 380x380 inputs, for each batch size in --batch.
Prints one JSON line per configuration: min/median seconds per batch and per image, the torch
version, the thread count and the environment knobs seen (OMP_WAIT_POLICY, LD_PRELOAD, ...).

Reliable timing on a small shared VM (python-reference-env.md section 1b): with the defaults
(OpenMP active spin-waiting, glibc malloc returning the big activation buffers to the OS after
every forward) the same call varies from 0.03 s to 2.4 s. Measured fixes:

    OMP_WAIT_POLICY=PASSIVE                      # biggest effect
    LD_PRELOAD=/path/to/libtcmalloc_minimal.so.4 # apt-get download libtcmalloc-minimal4; dpkg -x ...
    # or, without tcmalloc, keep freed memory mapped:
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295:glibc.malloc.top_pad=268435456

    OMP_WAIT_POLICY=PASSIVE LD_PRELOAD=... python scripts/reference/bench_classifier.py --threads 2

--threads 1 is the most reproducible (about +-10 %). Compare Rust and Python on the same machine
in the same session, and quote the minimum of N repeats. The knobs must be set before the
process starts (OpenMP and the allocator read them at load time), hence no flags for them here.
Reference numbers on the 2-vCPU Zen 4 VM (tcmalloc + PASSIVE, 2 threads): b7 @380 batch 1
0.49 s, batch 8 4.09 s (0.51 s/image).
"""

import argparse
import json
import os
import statistics
import time
import warnings

import torch
import timm

ENV_KNOBS = ("OMP_WAIT_POLICY", "LD_PRELOAD", "GLIBC_TUNABLES", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "KMP_AFFINITY", "KMP_BLOCKTIME")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tf_efficientnet_b7", help="timm model name")
    ap.add_argument("--size", type=int, default=380, help="input height = width")
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--repeats", type=int, default=5, help="timed forwards per batch size")
    ap.add_argument("--warmup", type=int, default=2, help="untimed forwards per batch size")
    ap.add_argument("--channels-last", action="store_true", help="use torch.channels_last")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def main():
    args = parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format

    model = timm.create_model(args.model, pretrained=False).eval().float()
    model = model.to(memory_format=fmt)
    env = {k: os.environ.get(k) for k in ENV_KNOBS}

    for batch in [int(b) for b in args.batch.split(",") if b]:
        x = torch.randn(batch, 3, args.size, args.size).contiguous(memory_format=fmt)
        times = []
        with torch.inference_mode():
            for i in range(args.warmup + args.repeats):
                t0 = time.perf_counter()
                y = model(x)
                dt = time.perf_counter() - t0
                if i >= args.warmup:
                    times.append(dt)
        assert y.shape == (batch, model.num_classes)
        t_min, t_med = min(times), statistics.median(times)
        print(json.dumps({
            "model": args.model, "input": [batch, 3, args.size, args.size], "dtype": "float32",
            "channels_last": args.channels_last, "batch": batch,
            "repeats": args.repeats, "warmup": args.warmup,
            "min_s_per_batch": round(t_min, 5), "median_s_per_batch": round(t_med, 5),
            "min_s_per_image": round(t_min / batch, 5), "median_s_per_image": round(t_med / batch, 5),
            "all_s": [round(t, 5) for t in times],
            "torch": torch.__version__, "timm": timm.__version__,
            "threads": torch.get_num_threads(), "env": env,
        }), flush=True)


if __name__ == "__main__":
    main()
