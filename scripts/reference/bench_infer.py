#!/usr/bin/env python3
"""Per-stage CPU timing of the Python DFDC per-video path (the Python side of the Rust `infer` benchmark).

The path is the one make_infer_fixtures.py records (dfdc-solution.md 5.2-5.5), run with B7-size models:
  decode    make_video_fixtures.read_frames (cv2 grab/retrieve of the sampled frames, BGR->RGB) plus the
            PIL bicubic half-size detector input of every kept frame
  detect    MTCNN(margin=0, thresholds=[0.7,0.8,0.8], device='cpu').detect(half, landmarks=False), one call
            per frame as FaceExtractor does
  classify  face crops, isotropically_resize_image + put_to_center to 380, x/255 + ImageNet Normalize
            (float32 NCHW), then per model one forward of all the video's faces (at most 127),
            sigmoid, confident_strategy; np.mean over the models
The classifier is timm `--model` (default tf_efficientnet_b7, pretrained=False, i.e. random weights) inside the
DFDC DeepFakeClassifier wrapper (forward_features -> avg pool -> fc), eval, float32,
torch.inference_mode(). An ensemble of --models N reuses one model object N times (same cost as N distinct
models; the released ensemble has 7). A video without faces costs no classify time; a video with exactly
one face is classified normally (the original would hit its squeeze() bug and write 0.5).

Cost on the 2-vCPU reference VM: ~0.5 s per face per B7 model, so one 32-face video with --models 7 is
~7 x 32 x 0.5 s ~ 2 min; use --videos / --frames / --models to keep runs short.

Output: one JSON line per video and repeat (seconds per stage, frames read, faces, per-frame detect and
per-face-per-model classify seconds), then one summary line: per-stage seconds per video averaged over
the videos (min over repeats per video first), with the thread count and environment knobs.

Timing recipe (python-reference-env.md 1b; bench_classifier.py): on a small shared VM the defaults
(OpenMP active spin-waiting, glibc malloc returning the big activation buffers to the OS after every
forward) make multi-threaded timings vary several-fold. Measured fixes, to set before the process starts:

    OMP_WAIT_POLICY=PASSIVE                      # biggest effect for the classifier (slightly hurts MTCNN)
    LD_PRELOAD=/path/to/libtcmalloc_minimal.so.4 # optional: apt-get download libtcmalloc-minimal4; dpkg -x ...
    # or, without tcmalloc, keep freed memory mapped:
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295:glibc.malloc.top_pad=268435456

--threads (torch.set_num_threads, default 2) applies to MTCNN and the classifier alike; --threads 1 is the
most reproducible (about +-10 %). A light warm-up (one detect on a half frame, one classifier forward on
one face) runs before the timed videos unless --warmup 0. Compare with Rust on the same machine in the
same session, on a quiet machine, and quote the minimum of --repeats.

Usage:
  . /root/pyref/bin/activate
  OMP_WAIT_POLICY=PASSIVE python scripts/reference/bench_infer.py [--threads 2] [--models 1]
      [--videos single_face.mp4,...] [--frames 32] [--repeats 1] [--model tf_efficientnet_b7]
  # quick check:
  OMP_WAIT_POLICY=PASSIVE python scripts/reference/bench_infer.py --models 1 --videos single_face.mp4 --frames 4
Media come from $DEEPFAKE_CACHE/media (default <repo>/.cache/media).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_infer_fixtures as infer  # noqa: E402  (same folder)
import make_video_fixtures as video  # noqa: E402
from make_effnet_fixtures import DeepFakeClassifier  # noqa: E402
from make_strategy_fixtures import confident_strategy  # noqa: E402

ENV_KNOBS = ("OMP_WAIT_POLICY", "LD_PRELOAD", "GLIBC_TUNABLES", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "KMP_AFFINITY", "KMP_BLOCKTIME")
STAGES = ("decode", "detect", "classify")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", default=",".join(video.VIDEOS),
                    help="comma-separated file names under the media folder")
    ap.add_argument("--models", type=int, default=1, help="ensemble size (one shared model object)")
    ap.add_argument("--model", default="tf_efficientnet_b7", help="timm encoder (pretrained=False)")
    ap.add_argument("--frames", type=int, default=video.FRAMES_PER_VIDEO,
                    help="frames sampled per video (the solution uses 32)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per video")
    ap.add_argument("--warmup", type=int, default=1, help="0 disables the light warm-up")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def use_frames(n):
    """read_frames samples video.FRAMES_PER_VIDEO indices through video.sampled_indices, looked up at call
    time; rebind it (once) so that the reader samples n."""
    orig = video.sampled_indices
    video.sampled_indices = lambda frame_count: orig(frame_count, n)


def run_video(path, det, models):
    t0 = time.perf_counter()
    _, _, kept, _ = video.read_frames(path)
    halves = [(frame, infer.halve(frame)) for _, frame in kept]
    t1 = time.perf_counter()
    per_frame, found = [], []
    for frame, img in halves:
        ts = time.perf_counter()
        boxes, _ = infer.detect(det, img)
        per_frame.append(time.perf_counter() - ts)
        if boxes is not None:
            found.append((frame, boxes))
    t2 = time.perf_counter()
    faces = [crop for frame, boxes in found for _, crop in infer.crops(frame, boxes)]
    score, n = None, 0
    if faces:
        batch, _ = infer.face_batch(faces)
        n = len(batch)
        x = infer.to_input(batch)
        scores = [confident_strategy(infer.predict(m, x)[1]) for m in models]
        score = float(np.mean(scores))
    t3 = time.perf_counter()
    return {"frames_read": len(kept), "frames_with_faces": len(found), "faces": n, "score": score,
            "decode_s": t1 - t0, "detect_s": t2 - t1, "classify_s": t3 - t2, "total_s": t3 - t0,
            "detect_per_frame_s": (t2 - t1) / max(len(kept), 1),
            "detect_per_frame_min_s": min(per_frame) if per_frame else None,
            "classify_per_face_model_s": (t3 - t2) / (n * len(models)) if n else None}


def main():
    args = parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    use_frames(args.frames)
    names = [v for v in args.videos.split(",") if v]
    missing = [v for v in names if not (video.MEDIA / v).is_file()]
    if missing:
        sys.exit(f"missing media under {video.MEDIA}: {missing} (scripts/fetch-media.sh fetches them)")

    det = infer.make_detector()
    model = DeepFakeClassifier(timm.create_model(args.model, pretrained=False)).eval().float()
    models = [model] * args.models
    env = {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
           "threads": torch.get_num_threads(), "model": args.model, "models": args.models,
           "frames_per_video": args.frames, "env": {k: os.environ.get(k) for k in ENV_KNOBS}}

    if args.warmup:
        _, _, kept, _ = video.read_frames(video.MEDIA / names[0])
        if kept:
            infer.detect(det, infer.halve(kept[0][1]))
        infer.predict(model, torch.zeros(1, 3, infer.INPUT_SIZE, infer.INPUT_SIZE))

    best = {}
    for name in names:
        for rep in range(args.repeats):
            r = run_video(video.MEDIA / name, det, models)
            print(json.dumps({"video": name, "repeat": rep, **r, **env}), flush=True)
            if name not in best or r["total_s"] < best[name]["total_s"]:
                best[name] = r

    summary = {"summary": True, "videos": len(best), "repeats": args.repeats, **env}
    for s in STAGES + ("total",):
        summary[f"{s}_s_per_video"] = statistics.mean(r[f"{s}_s"] for r in best.values())
    summary["faces_per_video"] = statistics.mean(r["faces"] for r in best.values())
    summary["frames_per_video_read"] = statistics.mean(r["frames_read"] for r in best.values())
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
