"""68-point landmark fixtures: dlib's own shape predictor (dlib-bin 20.0.1) on real photos.

Writes tests/fixtures/landmarks/cases.json: for each case an image (a file in .cache/media), whether it is fed as
grey ((r+g+b)//3) or RGB, a dlib rectangle and the 68 points dlib returns. Rectangles come from
  - dlib's HOG detector (upsample 0 and 1), the boxes the model was trained on;
  - facenet-pytorch MTCNN (thresholds 0.7/0.8/0.8, the solution's inference setting) mapped by the 5-point fit of
    src/face/landmarks/rect.rs (the same arithmetic, re-written here), with MTCNN's landmarks stored so the Rust
    mapping can be checked too;
  - seeded random boxes, some partly outside the image.
It also measures what the MTCNN -> dlib mapping costs (mean landmark distance / inter-ocular distance against the
landmarks from the HOG box of the same face) on the photos, their mirror images and frames of two test videos,
and writes that to tests/fixtures/landmarks/mapping_effect.json (README quotes it).

    python scripts/reference/make_landmark_fixtures.py      (needs dlib-bin==20.0.1.post1 and libdlib-data)
Deterministic; ~20 s.
"""
import json
import math
import os
import sys

import cv2
import dlib
import numpy as np
import torch
from facenet_pytorch import MTCNN
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEDIA = os.path.join(ROOT, ".cache", "media")
OUT = os.path.join(ROOT, "tests", "fixtures", "landmarks")
MODEL = os.environ.get("DEEPFAKE_DLIB_68", "/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
PHOTOS = ["astronaut.png", "grace_hopper.jpg", "single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "45-m7-di-ph.jpg"]
VIDEOS = ["single_face.mp4", "WolfgangLanger_Pexels.mp4"]

MEAN_FIVE = [(0.2945, 0.3152), (0.7055, 0.3152), (0.5, 0.5470), (0.3171, 0.7511), (0.6829, 0.7511)]


def rnd(v):
    return int(math.floor(v + 0.5))


def rect_from_mtcnn(lm):
    """Same arithmetic and order as rect.rs `rect_from_mtcnn`."""
    to = [(float(x), float(y)) for x, y in lm]
    fx = sum(p[0] for p in MEAN_FIVE) / 5.0
    fy = sum(p[1] for p in MEAN_FIVE) / 5.0
    tx = sum(p[0] for p in to) / 5.0
    ty = sum(p[1] for p in to) / 5.0
    num_a = num_b = den = 0.0
    for p, q in zip(MEAN_FIVE, to):
        x, y = p[0] - fx, p[1] - fy
        x2, y2 = q[0] - tx, q[1] - ty
        num_a += x * x2 + y * y2
        num_b += x * y2 - y * x2
        den += x * x + y * y
    a, b = num_a / den, num_b / den
    s = math.hypot(a, b)
    dx, dy = 0.5 - fx, 0.5 - fy
    cx, cy = tx + a * dx - b * dy, ty + b * dx + a * dy
    side = 0.964 * s
    cx, cy = cx + -0.006 * side, cy + 0.026 * side
    l, t = rnd(cx - side / 2.0), rnd(cy - side / 2.0)
    n = rnd(side)
    return (l, t, l + n, t + n)


def rect_from_box(b):
    x1, y1, x2, y2 = [float(v) for v in b]
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2.0 + 0.002 * w, (y1 + y2) / 2.0 + 0.0545 * h
    side = 1.095 * w
    l, t = rnd(cx - side / 2.0), rnd(cy - side / 2.0)
    n = rnd(side)
    return (l, t, l + n, t + n)


def points(pred, img, r):
    shape = pred(img, dlib.rectangle(*r))
    return [[p.x, p.y] for p in shape.parts()]


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def err_iod(p, ref):
    p, ref = np.asarray(p, float), np.asarray(ref, float)
    iod = np.linalg.norm(ref[42:48].mean(0) - ref[36:42].mean(0))
    return float(np.linalg.norm(p - ref, axis=1).mean() / iod)


def main():
    torch.set_num_threads(1)
    pred = dlib.shape_predictor(MODEL)
    hog = dlib.get_frontal_face_detector()
    mtcnn = MTCNN(margin=0, thresholds=[0.7, 0.8, 0.8], keep_all=True, device="cpu")
    rng = np.random.default_rng(20260)
    cases = []
    effect = {"5-point fit": [], "box rule": [], "raw MTCNN box": []}

    def measure(img, keep_cases, name):
        boxes, _, lms = mtcnn.detect(Image.fromarray(img), landmarks=True)
        hogs = {}
        for up in (0, 1):
            for d in hog(img, up):
                r = (d.left(), d.top(), d.right(), d.bottom())
                hogs.setdefault(r, up)
        for r, up in hogs.items():
            pts = points(pred, img, r)
            if keep_cases:
                cases.append({"image": name, "gray": False, "rect": list(r), "source": f"hog{up}", "points": pts})
            if boxes is None:
                continue
            ious = [iou(r, b) for b in boxes]
            k = int(np.argmax(ious))
            if ious[k] <= 0.3:
                continue
            mapped = rect_from_mtcnn(lms[k])
            raw = tuple(int(v) for v in boxes[k])
            effect["5-point fit"].append(err_iod(points(pred, img, mapped), pts))
            effect["box rule"].append(err_iod(points(pred, img, rect_from_box(boxes[k])), pts))
            effect["raw MTCNN box"].append(err_iod(points(pred, img, raw), pts))
        if keep_cases and boxes is not None:
            for b, lm in zip(boxes, lms):
                r = rect_from_mtcnn(lm)
                cases.append({
                    "image": name, "gray": False, "rect": list(r), "source": "mtcnn",
                    "mtcnn_landmarks": [[float(np.float32(x)), float(np.float32(y))] for x, y in lm],
                    "mtcnn_box": [float(np.float32(v)) for v in b],
                    "box_rect": list(rect_from_box(np.float32(b))),
                    "points": points(pred, img, r),
                })

    for name in PHOTOS:
        img = np.asarray(Image.open(os.path.join(MEDIA, name)).convert("RGB"))
        h, w = img.shape[:2]
        measure(img, True, name)
        measure(np.ascontiguousarray(img[:, ::-1]), False, name)
        # random rectangles, some partly outside the image, some non-square
        for _ in range(4):
            side = int(rng.integers(40, max(41, min(w, h))))
            l = int(rng.integers(-side // 3, w - side // 2))
            t = int(rng.integers(-side // 3, h - side // 2))
            r = (l, t, l + side + int(rng.integers(-5, 6)), t + side)
            cases.append({"image": name, "gray": False, "rect": list(r), "source": "random",
                          "points": points(pred, img, r)})
        # grey input ((r+g+b)//3 as dlib converts RGB) on the first HOG/MTCNN rect of this image
        gray = (img.astype(np.uint32).sum(axis=2) // 3).astype(np.uint8)
        first = next(c for c in cases if c["image"] == name)
        cases.append({"image": name, "gray": True, "rect": first["rect"], "source": "gray",
                      "points": points(pred, gray, tuple(first["rect"]))})

    for name in VIDEOS:
        cap = cv2.VideoCapture(os.path.join(MEDIA, name))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for i in np.linspace(0, n - 1, 12).astype(int):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
            ok, frame = cap.read()
            if not ok:
                continue
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            measure(rgb, False, name)
            measure(np.ascontiguousarray(rgb[:, ::-1]), False, name)

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"dlib": dlib.__version__, "model": os.path.basename(MODEL), "cases": cases}, f)
    summary = {k: {"faces": len(v), "mean": round(float(np.mean(v)), 4), "median": round(float(np.median(v)), 4),
                   "p90": round(float(np.percentile(v, 90)), 4), "max": round(float(np.max(v)), 4)}
               for k, v in effect.items()}
    summary["_what"] = ("mean landmark distance / inter-ocular distance against the landmarks from dlib's HOG box "
                        "of the same face (IoU > 0.3); photos + mirrors + 12 frames of each test video + mirrors")
    with open(os.path.join(OUT, "mapping_effect.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(len(cases), "cases;", json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
