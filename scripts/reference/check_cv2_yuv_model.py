#!/usr/bin/env python3
"""Checks an integer model of OpenCV 5.0's YUV->BGR conversion against cv2.VideoCapture, frame by frame.

cv2 5.0 (opencv-python-headless 5.0.0.93, bundled FFmpeg: swscale 9.5) converts each decoded yuv420p
frame with sws_scale_frame at the same size (flags SWS_BICUBIC, no explicit colourspace details, so the
matrix comes from the frame's colourspace tag). At the same size swscale takes its unscaled yuv2rgb path;
on x86 that is the SIMD kernel of libswscale/x86/yuv_2_rgb.asm, which computes, per pixel, with the
chroma sample of its 2x2 block and 16-bit arithmetic (pmulhw(a, b) = (a*b) >> 16, floor):
    Y' = pmulhw(8*y - y_off, cy);  U' = 8*u - 1024;  V' = 8*v - 1024
    B = sat8(Y' + pmulhw(U', ub));  R = sat8(Y' + pmulhw(V', vr));  G = sat8(Y' + pmulhw(U', ug) + pmulhw(V', vg))
with the coefficients from swscale's tables (limited range), printed below. This script decodes the
YUV planes with the `ffmpeg` command-line tool (H.264/HEVC decoding is bit-exact across FFmpeg
versions), applies the model and compares with cv2's frames. Full-range (yuvj420p) input is not modelled.

Usage:
  . /root/pyref/bin/activate
  python scripts/reference/check_cv2_yuv_model.py [video ...]     # default: the five test videos
Needs `ffmpeg` and `ffprobe` on PATH (not part of the pinned Python stack); prints one JSON line per video.
Media come from $DEEPFAKE_CACHE/media (default <repo>/.cache/media).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MEDIA = Path(os.environ.get("DEEPFAKE_CACHE", ROOT / ".cache")) / "media"
VIDEOS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"]

# swscale's inverse matrices (ff_yuv2rgb_coeffs: crv, cbu, cgu, cgv in 16.16) for the two matrices seen here.
INV_TABLE = {"bt601": (104597, 132201, 25675, 53279), "bt709": (117489, 138438, 13975, 34925)}
BT709_TAGS = {"bt709"}


def round_to_int16(f):
    r = (f + (1 << 15)) >> 16
    return max(-0x7FFF, min(0x7FFF, r))


def coefficients(matrix):
    """The 16-bit SIMD coefficients swscale derives for limited-range input (contrast/saturation 1)."""
    crv, cbu, cgu, cgv = INV_TABLE[matrix]
    cy = (1 << 16) * 255 // 219
    oy = 16 << 16
    return {"cy": round_to_int16(cy << 13), "y_off": round_to_int16(oy << 3),
            "vr": round_to_int16(crv << 13), "ub": round_to_int16(cbu << 13),
            "ug": round_to_int16(-cgu << 13), "vg": round_to_int16(-cgv << 13)}


def yuv420p_to_bgr(y, u, v, c):
    pm = lambda a, b: (a * b) >> 16
    sat16 = lambda a: np.clip(a, -32768, 32767)
    up = lambda p: p.repeat(2, 0).repeat(2, 1)[: y.shape[0], : y.shape[1]].astype(np.int64)
    uu, vv = (up(u) << 3) - 1024, (up(v) << 3) - 1024
    yy = pm((y.astype(np.int64) << 3) - c["y_off"], c["cy"])
    b = sat16(yy + pm(uu, c["ub"]))
    r = sat16(yy + pm(vv, c["vr"]))
    g = sat16(yy + sat16(pm(uu, c["ug"]) + pm(vv, c["vg"])))
    return np.clip(np.stack([b, g, r], -1), 0, 255).astype(np.uint8)


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt,width,height,color_range,color_space,nb_frames,"
                          "r_frame_rate,avg_frame_rate", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


def yuv_frames(path, w, h):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    cw, ch = (w + 1) // 2, (h + 1) // 2
    size = w * h + 2 * cw * ch
    for k in range(len(raw) // size):
        a = np.frombuffer(raw, np.uint8, size, k * size)
        yield (a[: w * h].reshape(h, w), a[w * h: w * h + cw * ch].reshape(ch, cw),
               a[w * h + cw * ch:].reshape(ch, cw))


def check(path):
    s = probe(path)
    matrix = "bt709" if s.get("color_space") in BT709_TAGS else "bt601"
    c = coefficients(matrix)
    cap = cv2.VideoCapture(str(path))
    n = bad = 0
    worst = 0
    for y, u, v in yuv_frames(path, s["width"], s["height"]):
        ok, frame = cap.read()
        if not ok:
            break
        d = np.abs(yuv420p_to_bgr(y, u, v, c).astype(np.int16) - frame.astype(np.int16)).max()
        n, bad, worst = n + 1, bad + int(d > 0), max(worst, int(d))
    return {"file": path.name, "stream": s, "matrix": matrix, "coefficients": c,
            "cv2_frame_count": cap.get(cv2.CAP_PROP_FRAME_COUNT), "cv2_fps": cap.get(cv2.CAP_PROP_FPS),
            "frames_compared": n, "frames_differing": bad, "max_abs_diff": worst}


def main():
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        sys.exit("check_cv2_yuv_model: needs ffmpeg and ffprobe on PATH")
    names = sys.argv[1:] or VIDEOS
    for name in names:
        p = Path(name)
        print(json.dumps(check(p if p.exists() else MEDIA / name)), flush=True)


if __name__ == "__main__":
    main()
