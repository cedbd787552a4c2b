"""Timing of the solution's boxes step (detect_original_faces.py: every frame, PIL half size, facenet-pytorch MTCNN
[0.85, 0.95, 0.95], batches of 32) on a DFDC-layout data root, for comparison with `benches/preprocess.rs`.
Prints one JSON line: real videos, frames, seconds (minimum of --repeats), frames per second (stdout only).

    OMP_WAIT_POLICY=PASSIVE python scripts/reference/bench_preprocess.py /tmp/pp-bench --threads 2 --repeats 2
"""
import argparse
import json
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_preprocess_fixtures import boxes_step, metadata  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    meta = metadata(a.root)
    best = None
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as work:
            t = time.perf_counter()
            out = boxes_step(a.root, work, meta)
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
    frames = sum(len(json.loads(v)) for v in out.values())
    print(json.dumps({"videos": len(out), "frames": frames, "seconds": round(best, 3),
                      "frames_per_s": round(frames / best, 2), "threads": a.threads}))


if __name__ == "__main__":
    main()
