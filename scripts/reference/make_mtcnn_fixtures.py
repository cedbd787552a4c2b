#!/usr/bin/env python3
"""Reference fixtures for the MTCNN face detector (facenet-pytorch 2.6.0), written to tests/fixtures/mtcnn/.

Outputs (all deterministic: seeded inputs, single CPU thread, no timestamps):
  nets_io.safetensors  PNet/RNet/ONet with the real weights on seeded uniform[-1,1] inputs (float32):
                       pnet_input [2,3,31,45] -> pnet_reg, pnet_prob; rnet_input [5,3,24,24] -> rnet_reg,
                       rnet_prob; onet_input [5,3,48,48] -> onet_reg, onet_landmarks, onet_prob.
  photos.json          MTCNN(margin=0, thresholds=[0.7,0.8,0.8]).detect(img, landmarks=True) on each photo
                       at full resolution ("full") and on PIL's default (bicubic) half resize ("half", the
                       DFDC detector input, dfdc-solution.md 5.3), plus full resolution with facenet's
                       default thresholds [0.6,0.7,0.7] ("defaults"). Boxes are in detect()'s order
                       (largest area first); floats are float32 values written as Python floats.
  stages.json          per photo and stage, how many candidate boxes enter and leave each step of
                       detect_face (counted with forward hooks on pnet/rnet/onet and wrappers around its
                       two NMS functions; the package itself is not modified), and the image pyramid
                       (scales and scaled sizes) for a few image sizes, checked against PNet's input shapes.

Usage:
  . /root/pyref/bin/activate
  python scripts/reference/make_mtcnn_fixtures.py [--out tests/fixtures/mtcnn]
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

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

import facenet_pytorch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils import detect_face as df

ROOT = Path(__file__).resolve().parents[2]
MEDIA = Path(os.environ.get("DEEPFAKE_CACHE", ROOT / ".cache")) / "media"
PHOTOS = [
    "astronaut.png", "camera.png", "grace_hopper.jpg", "single_face.jpg",
    "multi_face.jpg", "0-f1-su-ph.jpg", "45-m7-di-ph.jpg",
]
DFDC_THRESHOLDS = [0.7, 0.8, 0.8]        # dfdc-solution.md 5.3 (inference detector)
FACENET_THRESHOLDS = [0.6, 0.7, 0.7]     # MTCNN constructor default
SEED = 20200601


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def f32(x):
    """A float32 value as the Python float that holds it exactly (json writes its shortest repr)."""
    return float(np.float32(x))


def tolist32(a):
    return [tolist32(v) for v in a] if np.ndim(a) > 0 else f32(a)


def detector(thresholds):
    return MTCNN(margin=0, thresholds=thresholds, device="cpu")


def detect(det, img):
    boxes, probs, points = det.detect(img, landmarks=True)
    if boxes is None:
        return {"n": 0, "boxes": [], "probs": [], "landmarks": []}
    return {
        "n": int(len(boxes)),
        "boxes": tolist32(np.asarray(boxes, dtype=np.float32)),
        "probs": tolist32(np.asarray(probs, dtype=np.float32)),
        "landmarks": tolist32(np.asarray(points, dtype=np.float32)),
    }


def half(img):
    w, h = img.size
    return img.resize((w // 2, h // 2))  # Pillow default filter = BICUBIC, as the DFDC solution calls it


def load_rgb(name):
    img = Image.open(MEDIA / name)
    mode = img.mode
    return img.convert("RGB"), mode


def pyramid(h, w, minsize=20, factor=0.709):
    """The scale loop of detect_face (facenet-pytorch 2.6.0) — accumulated products in float64."""
    m = 12.0 / minsize
    minl = min(h, w) * m
    scale, scales = m, []
    while minl >= 12:
        scales.append(scale)
        scale = scale * factor
        minl = minl * factor
    return [{"scale": s, "size_hw": [int(h * s + 1), int(w * s + 1)]} for s in scales]


class StageProbe:
    """Counts boxes through detect_face with hooks on the three nets and wrappers around the NMS calls."""

    def __init__(self, det, thresholds):
        self.det, self.thr = det, thresholds
        self.events = []
        self._handles = []
        self._orig = (df.batched_nms, df.batched_nms_numpy)

    def __enter__(self):
        thr = self.thr

        def pnet_hook(_m, inp, out):
            prob = out[1][:, 1]
            self.events.append(("pnet", list(inp[0].shape[2:]), list(prob.shape[1:]),
                                int((prob >= thr[0]).sum())))

        def rnet_hook(_m, inp, out):
            self.events.append(("rnet", int(inp[0].shape[0]), int((out[1][:, 1] > thr[1]).sum())))

        def onet_hook(_m, inp, out):
            self.events.append(("onet", int(inp[0].shape[0]), int((out[2][:, 1] > thr[2]).sum())))

        self._handles = [
            self.det.pnet.register_forward_hook(pnet_hook),
            self.det.rnet.register_forward_hook(rnet_hook),
            self.det.onet.register_forward_hook(onet_hook),
        ]
        orig_nms, orig_nms_np = self._orig

        def nms(boxes, scores, idxs, iou):
            keep = orig_nms(boxes, scores, idxs, iou)
            self.events.append(("nms", float(iou), int(boxes.shape[0]), int(keep.shape[0])))
            return keep

        def nms_np(boxes, scores, idxs, thr_, method):
            keep = orig_nms_np(boxes, scores, idxs, thr_, method)
            self.events.append(("nms_" + method, float(thr_), int(boxes.shape[0]), int(keep.shape[0])))
            return keep

        df.batched_nms, df.batched_nms_numpy = nms, nms_np
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        df.batched_nms, df.batched_nms_numpy = self._orig

    def summary(self):
        """Folds the event list into per-stage counts (the order of calls is fixed by detect_face)."""
        ev = list(self.events)
        scales = []
        while ev and ev[0][0] == "pnet":
            _, size, out_hw, cand = ev.pop(0)
            _, iou, n_in, n_out = ev.pop(0)
            assert iou == 0.5 and n_in == cand
            scales.append({"size_hw": size, "pnet_out_hw": out_hw, "candidates": cand, "after_nms_0.5": n_out})
        s = {"pyramid": scales}
        _, iou, n_in, n_out = ev.pop(0)
        assert iou == 0.7
        s["stage1_in_all_scale_nms_0.7"] = n_in
        s["stage1_out"] = n_out
        s["rnet_in"] = s["rnet_pass"] = s["rnet_nms_0.7_out"] = 0
        s["onet_in"] = s["onet_pass"] = s["final"] = 0
        rnet = [e for e in ev if e[0] == "rnet"]
        if rnet:  # RNet runs in chunks of 512 boxes
            s["rnet_in"] = sum(e[1] for e in rnet)
            s["rnet_pass"] = sum(e[2] for e in rnet)
            ev = [e for e in ev if e[0] != "rnet"]
            _, iou, n_in, n_out = ev.pop(0)
            assert iou == 0.7 and n_in == s["rnet_pass"]
            s["rnet_nms_0.7_out"] = n_out
        onet = [e for e in ev if e[0] == "onet"]
        if onet:
            s["onet_in"] = sum(e[1] for e in onet)
            s["onet_pass"] = sum(e[2] for e in onet)
            ev = [e for e in ev if e[0] != "onet"]
            _, thr_, n_in, n_out = ev.pop(0)
            assert n_in == s["onet_pass"]
            s["final"] = n_out
        assert not ev, ev
        return s


def run_stages(det, img, thresholds):
    with StageProbe(det, thresholds) as probe:
        boxes, _ = det.detect(img)
    s = probe.summary()
    assert s["final"] == (0 if boxes is None else len(boxes))
    return s


def nets_io(det, out_dir):
    g = torch.Generator().manual_seed(SEED)
    uni = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float32) * 2 - 1
    t = {"pnet_input": uni(2, 3, 31, 45), "rnet_input": uni(5, 3, 24, 24), "onet_input": uni(5, 3, 48, 48)}
    with torch.no_grad():
        t["pnet_reg"], t["pnet_prob"] = det.pnet(t["pnet_input"])
        t["rnet_reg"], t["rnet_prob"] = det.rnet(t["rnet_input"])
        t["onet_reg"], t["onet_landmarks"], t["onet_prob"] = det.onet(t["onet_input"])
    t = {k: v.contiguous().to(torch.float32) for k, v in t.items()}
    # One metadata key only: safetensors writes a multi-key map in random order, which would make the file
    # differ from run to run.
    meta = {"generator": f"scripts/reference/make_mtcnn_fixtures.py; torch.Generator seed {SEED}, rand*2-1; "
                         f"torch {torch.__version__}; facenet-pytorch {md.version('facenet-pytorch')}"}
    save_file(t, str(out_dir / "nets_io.safetensors"), metadata=meta)
    return {k: list(v.shape) for k, v in t.items()}


def header():
    data = Path(facenet_pytorch.__file__).parent / "data"
    return {
        "generator": "scripts/reference/make_mtcnn_fixtures.py",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "facenet_pytorch": md.version("facenet-pytorch"),
        "pillow": Image.__version__,
        "numpy": np.__version__,
        "weights_sha256": {n: sha256(data / n) for n in ("pnet.pt", "rnet.pt", "onet.pt")},
        "detector": "MTCNN(margin=0, thresholds=T, device='cpu'), min_face_size 20, factor 0.709",
        "float_note": "all boxes/probs/landmarks are float32 values written as the Python float equal to them",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "mtcnn")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # one thread: reproducible float sums
    torch.manual_seed(0)

    det = detector(DFDC_THRESHOLDS)
    det_default = detector(FACENET_THRESHOLDS)
    det.eval(), det_default.eval()
    hdr = header()

    shapes = nets_io(det, args.out)
    print("nets_io.safetensors", shapes, file=sys.stderr)

    photos, stages = [], []
    for name in PHOTOS:
        img, mode = load_rgb(name)
        w, h = img.size
        small = half(img)
        rec = {
            "file": name, "sha256": sha256(MEDIA / name), "mode": mode, "width": w, "height": h,
            "full": detect(det, img),
            "half": dict(width=small.size[0], height=small.size[1], **detect(det, small)),
            "defaults": detect(det_default, img),
        }
        photos.append(rec)
        stages.append({
            "file": name,
            "full": dict(width=w, height=h, **run_stages(det, img, DFDC_THRESHOLDS)),
            "half": dict(width=small.size[0], height=small.size[1], **run_stages(det, small, DFDC_THRESHOLDS)),
        })
        print(f"{name}: full {rec['full']['n']} half {rec['half']['n']} defaults {rec['defaults']['n']}",
              file=sys.stderr)

    # Pyramids: formula above, cross-checked against the sizes PNet is actually fed.
    pyramids = []
    astro, _ = load_rgb("astronaut.png")
    cases = [("astronaut.png full", astro), ("astronaut.png half", half(astro))]
    cases += [(f"blank {w}x{h}", Image.new("RGB", (w, h))) for w, h in ((960, 540), (480, 270), (320, 180))]
    for label, img in cases:
        w, h = img.size
        p = pyramid(h, w)
        with StageProbe(det, DFDC_THRESHOLDS) as probe:
            det.detect(img)
        fed = [e[1] for e in probe.events if e[0] == "pnet"]
        assert fed == [s["size_hw"] for s in p], (label, fed, p)
        pyramids.append({"image": label, "width": w, "height": h, "scales": p})

    (args.out / "photos.json").write_text(json.dumps({"header": hdr, "thresholds": {
        "full": DFDC_THRESHOLDS, "half": DFDC_THRESHOLDS, "defaults": FACENET_THRESHOLDS}, "photos": photos},
        indent=1) + "\n")
    (args.out / "stages.json").write_text(json.dumps({
        "header": hdr,
        "thresholds": DFDC_THRESHOLDS,
        "note": ("pyramid[i]: PNet input size, PNet output map, cells with prob >= t0, kept by per-scale NMS 0.5; "
                 "stage1_*: all-scale NMS 0.7; rnet_in counts crops actually fed (pad() may drop empty ones); "
                 "rnet_pass: prob > t1; onet_pass: prob > t2; final: after 'Min' NMS 0.7 = detect() count"),
        "photos": stages,
        "pyramids": pyramids,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
