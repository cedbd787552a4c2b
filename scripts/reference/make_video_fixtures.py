#!/usr/bin/env python3
"""Reference fixtures for the DFDC video path (frame sampling, decoding, detector input, face crops),
written to tests/fixtures/video/.

For each test video, what the DFDC solution does (dfdc-solution.md 5.2-5.3), re-expressed here:
  * cv2.VideoCapture; frame_count = int(CAP_PROP_FRAME_COUNT) (<= 0: the video yields nothing);
    idx = np.linspace(0, frame_count - 1, 32, endpoint=True, dtype=int);
  * one sequential pass from idx[0] to idx[-1]: grab() every frame (a failed grab ends the pass); when the
    frame number equals idx[len(kept)] retrieve() it, convert BGR->RGB, keep it. With duplicate indices
    (frame_count < 32) matching stalls at the first duplicate, so only the frames before it are kept;
  * per kept frame: PIL.Image.fromarray(frame).resize((W//2, H//2)) (Pillow default = bicubic),
    MTCNN(margin=0, thresholds=[0.7,0.8,0.8]).detect(img, landmarks=False); no boxes -> frame skipped;
  * per box: x1,y1,x2,y2 = int(b*2); w=x2-x1, h=y2-y1, p_h=h//3, p_w=w//3;
    crop = frame[max(y1-p_h,0):y2+p_h, max(x1-p_w,0):x2+p_w] (numpy clamps/wraps the far ends).

Outputs: <video file name>.json per video (header with versions, decoder facts, sampled indices, per kept
frame sha256/mean of the RGB bytes and of the half-size detector input, boxes, crop rectangles, crop
sha256); sampling.json with the index rule on
synthetic frame counts (short videos, failed grabs); and for single_face.mp4 the decoded RGB frames at the 1st and 17th sampled index
(single_face_f<idx>.png) plus the PIL half-size detector input of the same frames (single_face_f<idx>_half.png).

Usage:
  . /root/pyref/bin/activate
  python scripts/reference/make_video_fixtures.py [--out tests/fixtures/video]
Media come from $DEEPFAKE_CACHE/media (default <repo>/.cache/media), fetched by scripts/fetch-media.sh.
"""
import argparse
import hashlib
import importlib.metadata as md
import json
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from facenet_pytorch import MTCNN

ROOT = Path(__file__).resolve().parents[2]
MEDIA = Path(os.environ.get("DEEPFAKE_CACHE", ROOT / ".cache")) / "media"
VIDEOS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"]
FRAMES_PER_VIDEO = 32
THRESHOLDS = [0.7, 0.8, 0.8]
PNG_VIDEO = "single_face.mp4"
PNG_SAMPLES = (0, 16)  # positions in the sampled index list

# Found by intercepting the swscale calls of this cv2 build (LD_PRELOAD shim) and by reproducing its
# output bit-exactly from the decoded YUV planes (scripts/reference/check_cv2_yuv_model.py).
DECODE_NOTES = {
    "swscale_api": "sws_alloc_context + av_opt_set_int(sws_flags=4 (SWS_BICUBIC), threads=2) + "
                   "sws_scale_frame(bgr24 frame, decoded frame); no sws_init_context, no "
                   "sws_setColorspaceDetails: colour matrix and range come from the decoded AVFrame",
    "yuv420p_to_bgr24": "same-size conversion = swscale's unscaled yuv2rgb path (interpolation flag "
                        "irrelevant, chroma sample replicated over its 2x2 luma block); BT.601 for "
                        "unspecified/smpte170m/bt470bg, BT.709 for bt709-tagged streams; limited range",
    "frame_count": "container nb_frames when non-zero, else floor(duration_s * fps + 0.5)",
    "fps": "equals the stream's avg_frame_rate on all five test videos (not r_frame_rate)",
}


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def f32(x):
    return float(np.float32(x))


def video_io_build_info():
    """The 'Video I/O' block of cv2.getBuildInformation(), one stripped line per entry."""
    lines, on = [], False
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("Video I/O:"):
            on = True
            continue
        if on:
            if not line.strip():
                break
            lines.append(" ".join(line.split()))
    return lines


def sampled_indices(frame_count, n=FRAMES_PER_VIDEO):
    return np.linspace(0, frame_count - 1, n, endpoint=True, dtype=int)


def read_frames(path):
    """The DFDC VideoReader path: returns (meta, [(index, rgb_frame)], stop_reason)."""
    cap = cv2.VideoCapture(str(path))
    meta = {
        "opened": bool(cap.isOpened()),
        "backend": cap.getBackendName() if cap.isOpened() else None,
        "frame_count_raw": cap.get(cv2.CAP_PROP_FRAME_COUNT),
        "frame_count": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
        "fps": cap.get(cv2.CAP_PROP_FPS),
        "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    }
    if meta["frame_count"] <= 0:
        cap.release()
        return meta, None, [], "frame_count <= 0"
    idx = sampled_indices(meta["frame_count"])
    kept, stop = [], "reached last sampled index"
    for f in range(int(idx[0]), int(idx[-1]) + 1):
        if not cap.grab():
            stop = f"grab failed at frame {f}"
            break
        if f == idx[len(kept)]:
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                stop = f"retrieve failed at frame {f}"
                break
            kept.append((f, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
    cap.release()
    return meta, idx, kept, stop


def simulate_sampling(frame_count, decodable=None):
    """read_frames' index logic without a video: which frame numbers are kept when the first `decodable`
    frames can be grabbed (all of them when None)."""
    if frame_count <= 0:
        return None, []
    idx = sampled_indices(frame_count)
    kept = []
    for f in range(int(idx[0]), int(idx[-1]) + 1):
        if decodable is not None and f >= decodable:
            break
        if f == idx[len(kept)]:
            kept.append(f)
    return [int(i) for i in idx], kept


SAMPLING_CASES = [(c, None) for c in (0, 1, 2, 5, 16, 31, 32, 33, 63, 64, 72, 98, 169, 300, 472)] + \
                 [(98, 95), (300, 150), (300, 0)]


def crop_rect(box, frame_h, frame_w):
    x1, y1, x2, y2 = [int(b * 2) for b in box]   # b is float32; int() truncates toward zero
    w, h = x2 - x1, y2 - y1
    p_h, p_w = h // 3, w // 3                     # the solution's margins (dfdc-solution.md 5.3)
    rows = slice(max(y1 - p_h, 0), y2 + p_h)
    cols = slice(max(x1 - p_w, 0), x2 + p_w)
    top, bottom, _ = rows.indices(frame_h)        # what numpy does with the slice bounds
    left, right, _ = cols.indices(frame_w)
    return [x1, y1, x2, y2], p_w, p_h, rows, cols, [top, bottom, left, right]


def process_video(name, det, out_dir, header):
    meta, idx, kept, stop = read_frames(MEDIA / name)
    rec = {"header": header, "file": name, "sha256": sha256_bytes((MEDIA / name).read_bytes()), **meta,
           "sampled_indices": None if idx is None else [int(i) for i in idx],
           "stop": stop, "kept_indices": [f for f, _ in kept], "frames": []}
    faces = 0
    for pos, (f, frame) in enumerate(kept):
        h, w = frame.shape[:2]
        img = Image.fromarray(frame).resize((w // 2, h // 2))
        small = np.asarray(img)
        boxes, probs = det.detect(img, landmarks=False)
        fr = {
            "index": f,
            "rgb_sha256": sha256_bytes(np.ascontiguousarray(frame).tobytes()),
            "rgb_mean": [float(m) for m in frame.reshape(-1, 3).mean(axis=0, dtype=np.float64)],
            "half_size": [img.size[0], img.size[1]],
            "half_sha256": sha256_bytes(np.ascontiguousarray(small).tobytes()),
            "skipped": boxes is None,
            "faces": [],
        }
        if boxes is not None:
            for box, prob in zip(boxes, probs):
                xyxy, p_w, p_h, rows, cols, rect = crop_rect(box, h, w)
                crop = frame[rows, cols]
                fr["faces"].append({
                    "box_half": [f32(v) for v in box], "prob": f32(prob),
                    "box_full_int": xyxy, "p_w": p_w, "p_h": p_h,
                    "crop_tblr": rect, "crop_shape": list(crop.shape),
                    "crop_sha256": sha256_bytes(np.ascontiguousarray(crop).tobytes()),
                })
            faces += len(fr["faces"])
        rec["frames"].append(fr)
        if name == PNG_VIDEO and idx is not None and any(pos == p and f == idx[p] for p in PNG_SAMPLES):
            Image.fromarray(frame).save(out_dir / f"{Path(name).stem}_f{f}.png", compress_level=9)
            img.save(out_dir / f"{Path(name).stem}_f{f}_half.png", compress_level=9)
    rec["frames_with_faces"] = sum(1 for fr in rec["frames"] if not fr["skipped"])
    rec["faces_total"] = faces
    (out_dir / f"{name}.json").write_text(json.dumps(rec, indent=1) + "\n")
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "video")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    det = MTCNN(margin=0, thresholds=THRESHOLDS, device="cpu")
    det.eval()
    header = {
        "generator": "scripts/reference/make_video_fixtures.py",
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "opencv_python_headless": md.version("opencv-python-headless"),
        "opencv_video_io": video_io_build_info(),
        "numpy": np.__version__,
        "pillow": Image.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "facenet_pytorch": md.version("facenet-pytorch"),
        "detector": f"MTCNN(margin=0, thresholds={THRESHOLDS}, device='cpu').detect(img, landmarks=False)",
        "decode_notes": DECODE_NOTES,
    }
    cases = []
    for count, decodable in SAMPLING_CASES:
        idx, kept = simulate_sampling(count, decodable)
        cases.append({"frame_count": count, "decodable": decodable, "sampled_indices": idx, "kept": kept})
    (args.out / "sampling.json").write_text(json.dumps({
        "generator": header["generator"], "numpy": np.__version__,
        "rule": "idx = np.linspace(0, frame_count-1, 32, endpoint=True, dtype=int); frames idx[0]..idx[-1] are "
                "grabbed in order, a failed grab (frame >= decodable) ends the pass, frame f is kept when "
                "f == idx[len(kept)]; frame_count <= 0 -> no frames (sampled_indices null)",
        "cases": cases}, indent=None).replace('}, {', '},\n {') + "\n")
    for name in VIDEOS:
        r = process_video(name, det, args.out, header)
        print(f"{name}: count {r['frame_count']} {r['width']}x{r['height']} kept {len(r['kept_indices'])} "
              f"({r['stop']}), frames with faces {r['frames_with_faces']}, faces {r['faces_total']}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
