#!/usr/bin/env python3
"""Colour-conversion fixtures for the video stage: tiny clips that differ only in how their pixels are coded
(YUV matrix tag, range, chroma layout, bit depth, codec, odd size) and what cv2 5.0 decodes from them,
written to tests/fixtures/video/colour/.

Why: cv2 5.0 converts each decoded frame with sws_scale_frame, so the YUV->RGB matrix and range follow the
frame's colour tags (BT.709 clips are not converted with BT.601, full-range clips are not stretched). The five
test videos only cover BT.601/BT.709 limited-range 4:2:0; these clips cover the rest of what src/video/convert.rs
claims.

Each clip is the first 3 frames of single_face.mp4 scaled to 96x54 (95x53 for the odd-size one) and re-encoded by
the ffmpeg CLI. The clips themselves are committed (a different ffmpeg/x264 would make different bytes); rerunning
this script rewrites them and the JSON together. Reruns give the same decoded frames; the WebM file bytes differ
(Matroska writes a random segment UID), so its file sha256 changes.

Outputs in tests/fixtures/video/colour/:
  <clip>                 the clips (.mp4 / .webm / .avi)
  colour.json            per clip: file sha256, ffprobe's pix_fmt/color_range/color_space, and per frame cv2's RGB
                         sha256 and channel means (cv2.VideoCapture(...).read(), then BGR->RGB)
  <clip stem>_f0.png     cv2's frame 0 (RGB) for the clips whose conversion is not bit-exact across FFmpeg
                         versions (10-bit input goes through swscale's generic path)

Usage (repository root, reference venv active, ffmpeg/ffprobe on PATH):
  python scripts/reference/make_colour_fixtures.py [--out tests/fixtures/video/colour]
Media come from $DEEPFAKE_CACHE/media (default <repo>/.cache/media), fetched by scripts/fetch-media.sh.
"""
import argparse
import hashlib
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
MEDIA = Path(os.environ.get("DEEPFAKE_CACHE", ROOT / ".cache")) / "media"
SOURCE = "single_face.mp4"

X264 = ["-c:v", "libx264", "-threads", "1", "-preset", "medium"]
# name, size, encoder arguments, bit-exact expected across FFmpeg 5.1 (Debian) and 8 (cv2 wheel)
CLIPS = [
    ("untagged.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p"], True),
    ("bt709.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p", "-colorspace", "bt709"], True),
    ("bt470bg.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p", "-colorspace", "bt470bg"], True),
    ("smpte240m.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p", "-colorspace", "smpte240m"], True),
    ("fcc.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p", "-colorspace", "fcc"], True),
    ("bt2020nc.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p", "-colorspace", "bt2020nc"], True),
    ("full_range.mp4", "96:54", X264 + ["-pix_fmt", "yuvj420p"], True),
    ("full_range_bt709.mp4", "96:54", X264 + ["-pix_fmt", "yuvj420p", "-colorspace", "bt709"], True),
    ("yuv422p.mp4", "96:54", X264 + ["-pix_fmt", "yuv422p"], True),
    ("yuv444p.mp4", "96:54", X264 + ["-pix_fmt", "yuv444p"], True),
    ("odd_size_yuv444p.mp4", "95:53", X264 + ["-pix_fmt", "yuv444p"], True),
    ("vp9_full_range.webm", "96:54", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-color_range", "pc"], True),
    ("mpeg4.avi", "96:54", ["-c:v", "mpeg4", "-pix_fmt", "yuv420p"], True),
    ("yuv420p10.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p10le"], False),
    ("yuv420p10_bt709.mp4", "96:54", X264 + ["-pix_fmt", "yuv420p10le", "-colorspace", "bt709"], False),
]


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def ffprobe_tags(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,pix_fmt,color_range,color_space,width,height", "-of", "json", str(path)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["streams"][0]


def cv2_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "video" / "colour")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ffmpeg_version = subprocess.run(["ffmpeg", "-version"], check=True, capture_output=True,
                                    text=True).stdout.splitlines()[0]
    clips = []
    for name, size, enc, exact in CLIPS:
        path = args.out / name
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", "-i", str(MEDIA / SOURCE), "-frames:v", "3",
                        "-vf", f"scale={size}:flags=bicubic", "-an", *enc, str(path)], check=True)
        frames = cv2_frames(path)
        rec = {"file": name, "sha256": sha256_bytes(path.read_bytes()), "ffprobe": ffprobe_tags(path),
               "bit_exact_expected": exact, "frames": []}
        for frame in frames:
            rec["frames"].append({
                "rgb_sha256": sha256_bytes(np.ascontiguousarray(frame).tobytes()),
                "rgb_mean": [float(m) for m in frame.reshape(-1, 3).mean(axis=0, dtype=np.float64)],
            })
        if not exact:
            png = f"{Path(name).stem}_f0.png"
            Image.fromarray(frames[0]).save(args.out / png, compress_level=9)
            rec["png_f0"] = png
        clips.append(rec)
        print(f"{name}: {rec['ffprobe']}, {len(frames)} frames")
    doc = {
        "generator": "scripts/reference/make_colour_fixtures.py",
        "opencv": cv2.__version__,
        "clips_made_with": ffmpeg_version,
        "source": f"{SOURCE}, first 3 frames, scaled with bicubic",
        "clips": clips,
    }
    (args.out / "colour.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
