#!/usr/bin/env python3
"""Times facenet-pytorch MTCNN detect() on real video frames (the Python side of the Rust detector benchmark).

Cases (MTCNN(margin=0, thresholds=[0.7,0.8,0.8], device='cpu'), detect(img, landmarks=False)):
  detect_960x540      one frame per call: the DFDC detector input of a 1080p video = PIL bicubic half of a
                      1920x1080 frame (made by cv2.INTER_CUBIC upscaling of face_noface.mov's 960x540 frames)
  resize_1920x1080    only that PIL half resize (Image.resize((960, 540)), Pillow default bicubic)
  detect_640x360      one frame per call: WolfgangLanger_Pexels.mp4 frames at their own size
  batch_960x540       the 32 frames of a video in one detect(list) call (DFDC's per-video work, batched)
  batch_640x360       likewise for the 640x360 frames
Frames are the 32 sampled by the DFDC reader (make_video_fixtures.read_frames); the per-frame cases cycle
through them. Each case: --warmup untimed calls, then --repeats timed calls (time.perf_counter); one JSON
line per case with min and median seconds (and per-frame values for the batched cases).

Timing recipe (python-reference-env.md 1b and 4): on this 2-vCPU VM multi-threaded timings are unstable
(OpenMP spin-waiting, page faults from returned allocations); MTCNN is many small ops, so single-thread
(--threads 1, the default) is the most reproducible setting. Report min-of-N next to the median, run the
Rust benchmark in the same session on a quiet machine, and optionally reduce allocator noise with
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295:glibc.malloc.top_pad=268435456
(or LD_PRELOAD a tcmalloc). OMP_WAIT_POLICY=PASSIVE helps big convnets but hurts MTCNN.

Usage:
  . /root/pyref/bin/activate
  python scripts/reference/bench_mtcnn.py [--threads 1] [--repeats 20] [--warmup 3] [--cases a,b,...]
Media come from $DEEPFAKE_CACHE/media (default <repo>/.cache/media).
"""
import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import torch
from PIL import Image

from facenet_pytorch import MTCNN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_video_fixtures import MEDIA, read_frames  # noqa: E402  (same folder)

CASES = ["detect_960x540", "resize_1920x1080", "detect_640x360", "batch_960x540", "batch_640x360"]


def sampled_frames(name):
    _, _, kept, _ = read_frames(MEDIA / name)
    return [frame for _, frame in kept]


def timed(fn, arg_at, warmup, repeats):
    for i in range(warmup):
        fn(arg_at(i))
    times = []
    for i in range(repeats):
        a = arg_at(warmup + i)
        t0 = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    cases = args.cases.split(",")
    unknown = set(cases) - set(CASES)
    if unknown:
        ap.error(f"unknown cases {sorted(unknown)}; known: {CASES}")
    torch.set_num_threads(args.threads)
    det = MTCNN(margin=0, thresholds=[0.7, 0.8, 0.8], device="cpu")
    det.eval()

    full_1080 = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC) for f in sampled_frames("face_noface.mov")]
    half_960 = [Image.fromarray(f).resize((960, 540)) for f in full_1080]
    pil_1080 = [Image.fromarray(f) for f in full_1080]
    img_640 = [Image.fromarray(f) for f in sampled_frames("WolfgangLanger_Pexels.mp4")]

    detect = lambda img: det.detect(img, landmarks=False)
    plans = {
        "detect_960x540": (detect, lambda i: half_960[i % len(half_960)], 1),
        "resize_1920x1080": (lambda im: im.resize((960, 540)), lambda i: pil_1080[i % len(pil_1080)], 1),
        "detect_640x360": (detect, lambda i: img_640[i % len(img_640)], 1),
        "batch_960x540": (detect, lambda i: half_960, len(half_960)),
        "batch_640x360": (detect, lambda i: img_640, len(img_640)),
    }
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    for case in cases:
        fn, arg_at, frames = plans[case]
        t = timed(fn, arg_at, args.warmup, args.repeats)
        rec = {"case": case, **env, "warmup": args.warmup, "repeats": args.repeats, "frames_per_call": frames,
               "min_s": min(t), "median_s": statistics.median(t)}
        if frames > 1:
            rec["per_frame_min_s"] = min(t) / frames
            rec["per_frame_median_s"] = statistics.median(t) / frames
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
