#!/usr/bin/env python3
"""End-to-end reference for the DFDC per-video path (predict_folder.py + kernel_utils.py), written to
tests/fixtures/infer/videos.json.

Each of the five test videos goes through the solution's path as dfdc-solution.md 5.2-5.5 states it,
re-expressed here (on CPU in float32 instead of the original's CUDA float16):
  1. frames: make_video_fixtures.read_frames (cv2 CAP_PROP_FRAME_COUNT, 32 linspace indices truncated,
     one sequential grab()/retrieve() pass, BGR->RGB);
  2. per frame: PIL.Image.fromarray(frame).resize((W//2, H//2)) (Pillow default bicubic),
     MTCNN(margin=0, thresholds=[0.7,0.8,0.8], device='cpu').detect(img, landmarks=False);
     a frame without boxes is skipped;
  3. per box (all of them, largest area first as MTCNN returns them): int(b*2), margins h//3 / w//3,
     crop = frame[max(y1-p_h,0):y2+p_h, max(x1-p_w,0):x2+p_w] (make_video_fixtures.crop_rect);
  4. faces of all frames pooled in order, at most 127 (the original fills a 128-slot batch while
     n+1 < 128); isotropically_resize_image(face, 380) (INTER_AREA when shrinking, INTER_CUBIC when
     enlarging) and put_to_center(., 380) (make_image_fixtures' copies of the originals);
  5. x/255 then torchvision-style Normalize(ImageNet mean/std) per image, float32, NCHW
     (make_image_fixtures.to_nchw); one forward of all n faces per model;
  6. per model: sigmoid(model(x).squeeze()) -> numpy float32 -> confident_strategy(p, t=0.8)
     (make_strategy_fixtures.confident_strategy); video score = np.mean over the models' scores.

The models are the two tiny fixture classifiers tests/fixtures/effnet/{a,b}_dfdc_legacy.pth, rebuilt with
make_effnet_fixtures' builders and loaded as predict_folder.py loads its weights (torch.load, take
'state_dict', strip '^module.', strict load, eval); no .half(). Scores are recorded for the ensemble (a, b)
and for a and b alone.

Deviations from the original, recorded in the header: float32 instead of float16; a video without a face
gets score null / status "no_face" (the original writes 0.5); a video with exactly one face would hit the
original's squeeze() bug (0-d tensor, [:n] raises, 0.5) -- none of the five test videos has exactly one
face, so the fixture does not need to decide.

Each video also records ffprobe's colour tags ('colour'; null without ffprobe on PATH).
Deterministic (torch.set_num_threads(1)); two runs give byte-identical JSON. ~25 s on 2 vCPUs.

Usage:
  . /root/pyref/bin/activate
  python scripts/reference/make_infer_fixtures.py [--out tests/fixtures/infer/videos.json]
Media come from $DEEPFAKE_CACHE/media (default <repo>/.cache/media), fetched by scripts/fetch-media.sh.
"""
import argparse
import hashlib
import importlib.metadata as md
import json
import platform
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import PIL
import timm
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_effnet_fixtures as effnet  # noqa: E402
import make_image_fixtures as imaging  # noqa: E402
import make_strategy_fixtures as strategy  # noqa: E402
import make_video_fixtures as video  # noqa: E402
from facenet_pytorch import MTCNN  # noqa: E402

ROOT = video.ROOT
MEDIA = video.MEDIA
VIDEOS = video.VIDEOS
THRESHOLDS = video.THRESHOLDS
INPUT_SIZE = 380
BATCH_SIZE = 32 * 4          # predict_on_video's batch; faces are stored while n + 1 < BATCH_SIZE
MAX_FACES = BATCH_SIZE - 1   # = 127
STRATEGY_T = 0.8
EFFNET = ROOT / "tests" / "fixtures" / "effnet"
FIXTURE_MODELS = {"a": effnet.build_encoder_a, "b": effnet.build_encoder_b}


# --- the per-video path, one function per stage (bench_infer.py times the same functions) ---------------
def halve(frame):
    """The detector input: PIL half size with Pillow's default (bicubic) filter."""
    h, w = frame.shape[:2]
    return Image.fromarray(frame).resize((w // 2, h // 2))


def make_detector():
    det = MTCNN(margin=0, thresholds=THRESHOLDS, device="cpu")
    det.eval()
    return det


def detect(det, img):
    """(boxes float32 [k,4] in half-size pixels, probs float32 [k]) or (None, None)."""
    boxes, probs = det.detect(img, landmarks=False)
    return boxes, probs


def crops(frame, boxes):
    """The solution's face crops of one frame: [(rect dict, RGB crop view)]."""
    h, w = frame.shape[:2]
    out = []
    for box in boxes:
        xyxy, p_w, p_h, rows, cols, tblr = video.crop_rect(box, h, w)
        out.append(({"box_full_int": xyxy, "p_w": p_w, "p_h": p_h, "crop_tblr": tblr}, frame[rows, cols]))
    return out


def face_batch(faces):
    """Pooled faces -> (uint8 [n,380,380,3], per-face resize info); at most MAX_FACES faces are kept."""
    x = np.zeros((BATCH_SIZE, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    info, n = [], 0
    for face in faces:
        resized = imaging.isotropically_resize_image(face, INPUT_SIZE)
        h, w = face.shape[:2]
        if max(w, h) == INPUT_SIZE:
            interp = "none"
        else:
            scale = INPUT_SIZE / w if w > h else INPUT_SIZE / h
            interp = "cubic" if scale > 1 else "area"
        centred = imaging.put_to_center(resized, INPUT_SIZE)
        if n + 1 < BATCH_SIZE:
            x[n] = centred
            n += 1
            info.append({"resized_wh": [resized.shape[1], resized.shape[0]], "interp": interp,
                         "centred_sha256": video.sha256_bytes(np.ascontiguousarray(centred).tobytes())})
    return x[:n], info


def to_input(batch):
    """uint8 NHWC -> float32 NCHW, x/255 then (x - mean)/std per image."""
    return torch.from_numpy(imaging.to_nchw(list(batch)))


def load_classifier(build, path):
    """predict_folder.py's loading: torch.load, 'state_dict' if present, strip '^module.', strict, eval."""
    model = effnet.DeepFakeClassifier(build())
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    sd = ckpt.get("state_dict", ckpt)
    model.load_state_dict({re.sub("^module.", "", k): v for k, v in sd.items()}, strict=True)
    return model.eval()


def predict(model, x):
    """(logits, probs) as float32 numpy [n]; sigmoid(model(x).squeeze()) of the original."""
    with torch.inference_mode():
        logits = model(x).squeeze(1)   # squeeze(1), not squeeze(): n == 1 stays a 1-element vector
        return logits.numpy(), torch.sigmoid(logits).numpy()


def strategy_branch(p, t=STRATEGY_T):
    sz = len(p)
    fakes = np.count_nonzero(p > t)
    if fakes > sz // 2.5 and fakes > 11:
        return "fake"
    if np.count_nonzero(p < 0.2) > 0.9 * sz:
        return "real"
    return "mean"


# --- fixture ------------------------------------------------------------------------------------------
def colour_tags(path):
    """ffprobe's colour tags of the first video stream (null when ffprobe is not installed)."""
    if shutil.which("ffprobe") is None:
        return None
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt,color_range,color_space,color_transfer,color_primaries",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


def process_video(name, det, models):
    path = MEDIA / name
    meta, idx, kept, stop = video.read_frames(path)
    rec = {"file": name, "sha256": video.sha256_bytes(path.read_bytes()), "colour": colour_tags(path),
           "frame_count": meta["frame_count"], "width": meta["width"], "height": meta["height"],
           "sampled_indices": None if idx is None else [int(i) for i in idx], "stop": stop,
           "frames_read": len(kept), "frames": []}
    faces = []
    for f, frame in kept:
        img = halve(frame)
        boxes, probs = detect(det, img)
        fr = {"index": f, "half_size": list(img.size), "faces": []}
        if boxes is not None:
            for box, prob, (rect, crop) in zip(boxes, probs, crops(frame, boxes)):
                fr["faces"].append({"box_half": [video.f32(v) for v in box], "prob": video.f32(prob), **rect,
                                    "crop_shape": list(crop.shape)})
                faces.append(crop)
        rec["frames"].append(fr)
    rec["frames_with_faces"] = sum(1 for fr in rec["frames"] if fr["faces"])
    rec["faces_detected"] = len(faces)
    batch, info = face_batch(faces)
    rec["faces_used"] = len(batch)
    rec["faces"] = info
    if not kept:
        rec.update(status="no_frames", models=None, scores=None)
        return rec
    if len(batch) == 0:
        rec.update(status="no_face", models=None, scores=None)
        return rec
    rec["status"] = "ok" if len(batch) > 1 else "one_face_original_returns_0.5"
    x = to_input(batch)
    rec["models"], per_model = {}, {}
    for key, model in models.items():
        logits, p = predict(model, x)
        s = strategy.confident_strategy(p, STRATEGY_T)
        assert s.dtype == np.float32, s.dtype
        per_model[key] = s
        rec["models"][key] = {"logits": [video.f32(v) for v in logits], "probs": [video.f32(v) for v in p],
                              "n_gt_t": int(np.count_nonzero(p > STRATEGY_T)),
                              "n_lt_0.2": int(np.count_nonzero(p < 0.2)),
                              "branch": strategy_branch(p), "score": float(s)}
    ens = np.mean([per_model[k] for k in models])
    assert ens.dtype == np.float32, ens.dtype
    rec["scores"] = {"ensemble": float(ens), **{k: float(np.mean([per_model[k]])) for k in models}}
    return rec


def header(det_threads):
    sha = {k: hashlib.sha256((EFFNET / f"{k}_dfdc_legacy.pth").read_bytes()).hexdigest() for k in FIXTURE_MODELS}
    return {
        "generator": "scripts/reference/make_infer_fixtures.py",
        "versions": {
            "python": platform.python_version(), "numpy": np.__version__, "pillow": PIL.__version__,
            "opencv": cv2.__version__, "opencv_python_headless": md.version("opencv-python-headless"),
            "torch": torch.__version__, "timm": timm.__version__,
            "facenet_pytorch": md.version("facenet-pytorch"),
        },
        "torch_threads": det_threads,
        "frames_per_video": video.FRAMES_PER_VIDEO,
        "detector": f"MTCNN(margin=0, thresholds={THRESHOLDS}, device='cpu').detect(PIL half, landmarks=False)",
        "thresholds": THRESHOLDS,
        "input_size": INPUT_SIZE, "max_faces": MAX_FACES,
        "normalise": {"mean": imaging.MEAN, "std": imaging.STD, "rule": "(x/255 - mean)/std, float32, NCHW"},
        "strategy": f"confident_strategy(p, t={STRATEGY_T}) on float32 probs; ensemble = np.mean over "
                    "models' float32 scores (float32 result)",
        "models": {k: {"checkpoint": f"tests/fixtures/effnet/{k}_dfdc_legacy.pth", "sha256": sha[k],
                       "architecture": f"tests/fixtures/effnet/{k}.json"} for k in FIXTURE_MODELS},
        "model_order": list(FIXTURE_MODELS),
        "precision": "float32 on CPU (the original ran .half() on CUDA)",
        "decode_note": "cv2 5.0 converts YUV with the stream's tagged matrix: BT.709 for bt709-tagged files "
                       "(face_noface.mov, noface_face.mov), BT.601 otherwise (see tests/fixtures/video/*.json "
                       "decode_notes); 'colour' per video is ffprobe's view of the tags",
        "deviations": [
            "no face in any frame: the original returns 0.5; here status 'no_face', models/scores null",
            "no frame read: the original returns 0.5; here status 'no_frames', scores null",
            "exactly one face in the whole video: the original's sigmoid(model(x).squeeze()) is 0-d, [:n] raises "
            "and the video gets 0.5; none of these videos has exactly one face (status would say so)",
            "the original drops faces beyond 127; none of these videos has more than 32",
        ],
        "fields": {
            "frames[].faces[]": "per MTCNN box in detect() order: box_half (float32, half-size px), prob, "
                                "box_full_int = int(b*2) (b*2 is exact in float32, int() truncates toward 0), "
                                "p_w = w//3, p_h = h//3, crop_tblr = [top, bottom, left, right) after numpy's "
                                "slice clamping, crop_shape [h, w, 3]",
            "faces[]": "pooled faces in order (frame order, then detect() order): resized_wh after "
                       "isotropically_resize_image, interp (area|cubic|none), sha256 of the put_to_center "
                       "380x380x3 uint8 image",
            "models.X": "per face logits and sigmoid probs (float32), count > t and < 0.2, strategy branch "
                        "(fake|real|mean), strategy score",
            "scores": "ensemble = np.mean([score_a, score_b]); a, b = that model alone",
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "infer" / "videos.json")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    det = make_detector()
    models = {k: load_classifier(b, EFFNET / f"{k}_dfdc_legacy.pth") for k, b in FIXTURE_MODELS.items()}
    doc = {"header": header(torch.get_num_threads()), "videos": []}
    for name in VIDEOS:
        t = time.perf_counter()
        r = process_video(name, det, models)
        doc["videos"].append(r)
        sc = r["scores"] or {}
        print(f"{name}: read {r['frames_read']}, faces {r['faces_used']}, status {r['status']}, "
              f"ensemble {sc.get('ensemble')}, a {sc.get('a')}, b {sc.get('b')} "
              f"({time.perf_counter() - t:.1f} s)", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {args.out} ({args.out.stat().st_size} bytes, {time.perf_counter() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
