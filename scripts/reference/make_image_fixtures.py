#!/usr/bin/env python3
"""Reference fixtures for the resamplers in src/imaging/, written to tests/fixtures/imaging/.

Every operation is the Python original the Rust port copies (dfdc-solution.md 5.3, 5.4, 6.2, 6.3):
  * pillow_resize: PIL.Image.fromarray(x).resize((w, h)) -- Pillow's default filter is BICUBIC
    (a = -0.5, antialiased, 22-bit fixed point); the detector input is resize((W//2, H//2)).
  * cv_area / cv_cubic: cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA / cv2.INTER_CUBIC), with the
    library defaults (IPP on: cv2 5.0 sends 8-bit INTER_CUBIC through Intel IPP when both source sides
    are >= 4 pixels, INTER_AREA never).
  * isotropic: isotropically_resize_image(x, 380) and put_to_center(., 380) from kernel_utils.py, copied
    verbatim below.
  * face_crop: the crop rule of FaceExtractor.process_videos on an already doubled float32 box.
  * torch_area: torch.nn.functional.interpolate(x.float(), size, mode="area") on an NCHW crop, as MTCNN's
    imresample does for the pyramid and the 24x24 / 48x48 crops.
  * to_nchw: x/255 then torchvision Normalize(mean, std) per image, float32, NCHW.

Inputs are seeded uniform noise (the worst case for rounding), saved as lossless PNG next to the
expected outputs (PNG for uint8 images, float32 tensors in float.safetensors), all listed in
manifest.json. The real photos (astronaut.png, grace_hopper.jpg, camera.png from $DEEPFAKE_CACHE/media, fetched by
scripts/fetch-media.sh) are not committed: for them manifest.json holds the crop rectangles and the
sha256 of the raw RGB bytes of each expected output; where a face goes through cv2's IPP cubic resize,
also the few values where cv2 differs from the Rust port's f32 model of IPP.

Usage:
  . /root/pyref/bin/activate
  python scripts/reference/make_image_fixtures.py [--out tests/fixtures/imaging]
"""
import argparse
import hashlib
import json
import os
import platform
from pathlib import Path

import cv2
import numpy as np
import PIL
import safetensors
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.numpy import save_file

REPO = Path(__file__).resolve().parents[2]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


# --- the originals, verbatim from the DFDC solution (kernel_utils.py) -------------------------------
def isotropically_resize_image(img, size, interpolation_down=cv2.INTER_AREA, interpolation_up=cv2.INTER_CUBIC):
    h, w = img.shape[:2]
    if max(w, h) == size:
        return img
    if w > h:
        scale = size / w
        h = h * scale
        w = size
    else:
        scale = size / h
        w = w * scale
        h = size
    interpolation = interpolation_up if scale > 1 else interpolation_down
    resized = cv2.resize(img, (int(w), int(h)), interpolation=interpolation)
    return resized


def put_to_center(img, input_size):
    img = img[:input_size, :input_size]
    image = np.zeros((input_size, input_size, 3), dtype=np.uint8)
    start_w = (input_size - img.shape[1]) // 2
    start_h = (input_size - img.shape[0]) // 2
    image[start_h:start_h + img.shape[0], start_w:start_w + img.shape[1], :] = img
    return image


def face_crop_rect(frame_h, frame_w, box):
    """FaceExtractor.process_videos' crop on a doubled float32 box; returns the numpy slice that results
    as [y0, y1, x0, x1] (found by slicing an index grid, so numpy's own clamping decides) or None."""
    xmin, ymin, xmax, ymax = [int(b) for b in np.asarray(box, dtype=np.float32)]
    w = xmax - xmin
    h = ymax - ymin
    p_h = h // 3
    p_w = w // 3
    rows = np.arange(frame_h)[max(ymin - p_h, 0):ymax + p_h]
    cols = np.arange(frame_w)[max(xmin - p_w, 0):xmax + p_w]
    if rows.size == 0 or cols.size == 0:
        return None
    assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)
    return [int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1]


def torch_area(img, rect, size):
    """MTCNN's imresample on a crop, with facenet-pytorch's layout: an NHWC uint8 batch permuted to NCHW
    and cast to float (channels-last strides), sliced, then interpolated."""
    x0, y0, x1, y1 = rect
    x = torch.as_tensor(np.ascontiguousarray(img))[None].permute(0, 3, 1, 2).float()[:, :, y0:y1, x0:x1]
    out = F.interpolate(x, size=size, mode="area")[0].numpy()  # [3, h, w] float32, channels-last strides
    return np.ascontiguousarray(out)  # safetensors writes the raw buffer


def to_nchw(images):
    x = torch.as_tensor(np.stack(images)).float().permute(0, 3, 1, 2).contiguous()
    mean = torch.as_tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(STD, dtype=torch.float32)[:, None, None]
    for i in range(len(x)):
        x[i] = (x[i] / 255.0).sub_(mean).div_(std)  # torchvision Normalize: sub_(mean).div_(std)
    return np.ascontiguousarray(x.numpy())


def pillow_resize(img, w, h):
    return np.asarray(Image.fromarray(img).resize((w, h)))


def ipp_cubic_model(img, w, h):
    """The f32 model of IPP's cubic resize that src/imaging/opencv.rs implements (Keys a = -0.75 at the
    pixel-centre mapping, weights computed in f64 and stored as f32, horizontal pass first, f32 throughout,
    round half to even). Used to list where cv2 differs from the model on the photos."""
    a = -0.75

    def axis(n_in, n_out):
        f = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        s = np.floor(f)
        t = f - s
        idx = np.clip(s[:, None].astype(np.int64) + np.arange(-1, 3)[None, :], 0, n_in - 1)
        x = np.stack([t + 1, t, 1 - t, 2 - t], axis=1)
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return idx, np.where(x < 1, near, far).astype(np.float32)

    xi, xw = axis(img.shape[1], w)
    yi, yw = axis(img.shape[0], h)
    f = img.astype(np.float32)
    p = [f[:, xi[:, k], :] * xw[None, :, k, None] for k in range(4)]
    tmp = ((p[0] + p[1]) + p[2]) + p[3]
    r = [tmp[yi[:, k], :, :] * yw[:, k, None, None] for k in range(4)]
    out = (r[0] + r[1]) + (r[2] + r[3])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def sha256(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).hexdigest()


# --- fixture writer ---------------------------------------------------------------------------------
class Writer:
    def __init__(self, out):
        self.out = out
        self.floats = {}
        self.m = {
            "generator": "scripts/reference/make_image_fixtures.py",
            "versions": {
                "python": platform.python_version(), "numpy": np.__version__, "pillow": PIL.__version__,
                "opencv": cv2.__version__, "opencv_ipp": bool(cv2.ipp.useIPP()), "torch": torch.__version__,
                "safetensors": safetensors.__version__,
            },
            "inputs": {}, "pillow_resize": [], "cv_area": [], "cv_cubic": [], "isotropic": [],
            "face_crop": [], "torch_area": [], "to_nchw": [], "photos": [],
        }
        self.images = {}

    def png(self, name, img):
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, (name, img.shape)
        Image.fromarray(img).save(self.out / f"{name}.png", optimize=True)
        return f"{name}.png"

    def noise(self, w, h, seed):
        name = f"noise_{w}x{h}"
        img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
        self.images[name] = img
        self.m["inputs"][name] = {"png": self.png(name, img), "seed": seed, "width": w, "height": h}
        return name

    def resize_case(self, kind, fn, name, w, h):
        out = fn(self.images[name], w, h)
        assert out.shape == (h, w, 3)
        self.m[kind].append({"input": name, "width": w, "height": h,
                             "expected": self.png(f"{kind}_{name}_to_{w}x{h}", out)})

    def isotropic_case(self, name, size=380):
        img = self.images[name]
        iso = isotropically_resize_image(img, size)
        centered = put_to_center(iso, size)
        same = iso is img
        self.m["isotropic"].append({
            "input": name, "max_side": size,
            "width": int(iso.shape[1]), "height": int(iso.shape[0]),
            "expected": None if same else self.png(f"isotropic_{name}_{size}", iso),
            "centered_sha256": sha256(centered),
        })

    def torch_area_case(self, name, rect, size):
        out = torch_area(self.images[name], rect, size)
        key = f"torch_area/{name}/{rect[0]},{rect[1]},{rect[2]},{rect[3]}/{size[0]}x{size[1]}"
        self.floats[key] = out
        self.m["torch_area"].append({"input": name, "rect": list(rect), "out_h": size[0], "out_w": size[1],
                                     "tensor": key})

    def finish(self):
        save_file(self.floats, str(self.out / "float.safetensors"))
        (self.out / "manifest.json").write_text(json.dumps(self.m, indent=1) + "\n")


def pyramid_sizes(h, w, minsize=20, factor=0.709):
    """facenet-pytorch detect_face's scales and per-scale sizes (dfdc-solution.md 6.2 step 1)."""
    m = 12.0 / minsize
    minl = min(h, w) * m
    scale_i = m
    out = []
    while minl >= 12:
        out.append((int(h * scale_i + 1), int(w * scale_i + 1)))
        scale_i = scale_i * factor
        minl = minl * factor
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "tests/fixtures/imaging"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    wr = Writer(out)

    n1 = wr.noise(1, 1, 1)
    n7 = wr.noise(7, 5, 2)
    n97 = wr.noise(97, 131, 3)
    n240 = wr.noise(240, 180, 4)
    n1000 = wr.noise(1000, 17, 5)
    n3 = wr.noise(3, 20, 6)      # < 4 px wide: cv2 INTER_CUBIC takes OpenCV's own path, not IPP
    n5 = wr.noise(5, 5, 7)
    n11 = wr.noise(11, 7, 8)
    n380 = wr.noise(380, 23, 9)
    n2 = wr.noise(2, 1, 10)
    n33 = wr.noise(33, 131, 11)
    n23 = wr.noise(23, 400, 12)

    # Pillow bicubic: the detector's half size, other shrinks, enlargements, 1-pixel outputs.
    for name, w, h in [(n7, 3, 2), (n97, 48, 65), (n240, 120, 90), (n1000, 500, 8), (n3, 1, 10),
                       (n240, 123, 77), (n97, 96, 131), (n97, 97, 60), (n97, 120, 160), (n7, 20, 13),
                       (n1, 5, 3), (n2, 1, 1), (n1000, 1, 1), (n3, 7, 45), (n23, 11, 200)]:
        wr.resize_case("pillow_resize", pillow_resize, name, w, h)

    area = lambda img, w, h: cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    cubic = lambda img, w, h: cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    # INTER_AREA: integer factors (2x2 has its own rounding), mixed, fractional, one axis kept,
    # and enlargement (which OpenCV emulates with a bilinear variant).
    for name, w, h in [(n240, 120, 90), (n240, 80, 60), (n240, 60, 45), (n240, 120, 60), (n240, 137, 101),
                       (n240, 170, 127), (n240, 240, 70), (n97, 60, 81), (n97, 1, 1), (n1000, 380, 6),
                       (n1000, 7, 17), (n7, 19, 13), (n7, 3, 11), (n3, 9, 7), (n1, 4, 3), (n97, 150, 100),
                       (n23, 21, 380)]:
        wr.resize_case("cv_area", area, name, w, h)
    # INTER_CUBIC: enlarge (IPP path), shrink, sources narrower than 4 px (OpenCV's fixed-point path).
    for name, w, h in [(n97, 130, 170), (n97, 60, 81), (n240, 137, 101), (n11, 97, 61), (n7, 19, 13),
                       (n3, 9, 70), (n3, 2, 7), (n1, 5, 4), (n2, 11, 3), (n1000, 380, 6), (n5, 21, 19)]:
        wr.resize_case("cv_cubic", cubic, name, w, h)

    # isotropic_resize + put_to_center: tall/wide/square enlarge (cubic), wide/tall shrink (area),
    # already 380, tiny inputs (OpenCV's own cubic path and 1x1).
    for name in [n33, n11, n5, n1000, n23, n380, n3, n1, n2]:
        wr.isotropic_case(name)

    # Face crops on a 97x131 frame: inside, touching borders, negative coordinates, negative stops (numpy
    # counts them from the end), degenerate/inverted boxes, fractions that truncate toward zero.
    for box in [[20.7, 30.2, 60.9, 90.5], [-10.5, -20.25, 30.0, 40.0], [80.0, 100.0, 130.0, 170.0],
                [-60.0, -80.0, -5.0, -10.0], [-9.9, -9.9, -0.5, -0.5], [-30.0, -30.0, -3.0, -3.0],
                [50.0, 60.0, 50.0, 60.0], [60.0, 70.0, 50.0, 65.0], [0.0, 0.0, 97.0, 131.0],
                [96.5, 130.5, 200.0, 300.0], [100.0, 140.0, 120.0, 160.0], [-200.0, 10.0, -150.0, 50.0],
                [-1.5, -1.5, 1.5, 1.5], [10.0, 10.0, 12.0, 13.0], [-40.0, 10.0, -20.0, 50.0],
                [10.0, -60.0, 50.0, -30.0], [-40.0, -60.0, -20.9, -30.9]]:
        rect = face_crop_rect(131, 97, box)
        wr.m["face_crop"].append({"frame_width": 97, "frame_height": 131, "box": box, "rect": rect})

    # torch area: the whole-frame pyramid (facenet-pytorch scales), 24x24 / 48x48 crops, enlargement.
    for (name, rect) in [(n97, (0, 0, 97, 131)), (n1000, (0, 0, 1000, 17))]:
        hh, ww = rect[3] - rect[1], rect[2] - rect[0]
        sizes = pyramid_sizes(hh, ww)[::2]  # every other scale keeps the fixture small
        if name == n1000:
            sizes = [(int(hh * 0.3016 + 1), int(ww * 0.3016 + 1))]
        for size in sizes:
            wr.torch_area_case(name, rect, size)
    for name, rect, size in [(n97, (10, 20, 47, 71), (24, 24)), (n97, (10, 20, 47, 71), (48, 48)),
                             (n97, (0, 0, 97, 131), (24, 24)), (n7, (0, 0, 7, 5), (24, 24)),
                             (n7, (1, 1, 6, 4), (48, 48)), (n1, (0, 0, 1, 1), (24, 24)),
                             (n240, (33, 17, 233, 179), (48, 48)), (n97, (5, 5, 6, 9), (3, 1)), (n97, (0, 0, 97, 131), (1, 1))]:
        wr.torch_area_case(name, rect, size)

    # to_nchw
    key = "to_nchw/noise_7x5+noise_7x5_flipped"
    wr.floats[key] = to_nchw([wr.images[n7], np.ascontiguousarray(wr.images[n7][::-1, ::-1])])
    wr.m["to_nchw"].append({"inputs": [n7, n7 + ":flipped"], "mean": MEAN, "std": STD, "tensor": key})

    # Real photos: only checksums and rectangles are committed. The Rust side must decode JPEG with
    # libjpeg-turbo like Pillow (imaging::load); image-rs's own decoder differs by up to 4 levels.
    media = Path(os.environ.get("DEEPFAKE_CACHE", REPO / ".cache")) / "media"
    for photo, boxes in [("astronaut.png", [[170.0, 40.0, 330.0, 250.0], [190.4, 60.6, 290.2, 190.8],
                                            [100.0, 100.0, 400.0, 420.0], [300.0, 300.0, 520.0, 530.0]]),
                         ("grace_hopper.jpg", [[170.0, 80.0, 360.0, 330.0], [10.0, 10.0, 120.0, 90.0],
                                               [60.0, 40.0, 480.0, 560.0]]),
                         ("camera.png", [[180.0, 30.0, 330.0, 240.0], [20.5, -40.5, 500.9, 350.2]])]:
        img = np.asarray(Image.open(media / photo).convert("RGB"))
        h, w = img.shape[:2]
        entry = {"file": photo, "width": w, "height": h, "decoded_sha256": sha256(img),
                 "pillow_half_sha256": sha256(pillow_resize(img, w // 2, h // 2))}
        frame = pillow_resize(img, 1920, 1080)  # a full-HD frame, as the detector sees DFDC videos
        entry["pillow_1920x1080_sha256"] = sha256(frame)
        entry["pillow_1920x1080_half_sha256"] = sha256(pillow_resize(frame, 960, 540))
        entry["faces"] = []
        for box in boxes:
            r = face_crop_rect(h, w, box)
            crop = img[r[0]:r[1], r[2]:r[3]]
            iso = isotropically_resize_image(crop, 380)
            face = {"box": box, "rect": r, "crop_sha256": sha256(crop),
                    "isotropic": [int(iso.shape[1]), int(iso.shape[0])], "isotropic_sha256": sha256(iso),
                    "centered_sha256": sha256(put_to_center(iso, 380)), "ipp_corrections": []}
            if iso is not crop and max(iso.shape[:2]) > max(crop.shape[:2]) and min(crop.shape[:2]) >= 4:
                # Enlarged through IPP: list the values where cv2 differs from the f32 model (by 1 level).
                model = ipp_cubic_model(crop, iso.shape[1], iso.shape[0])
                diff = np.flatnonzero(model.ravel() != iso.ravel())
                assert np.abs(model.astype(int) - iso).max() <= 1
                face["ipp_corrections"] = [[int(i), int(iso.ravel()[i])] for i in diff]
            entry["faces"].append(face)
        entry["cv_area"] = []
        for (w2, h2) in [(w // 2, h // 2), (w // 3, h // 3), (300, 211), (380, 380), (600, 400)]:
            entry["cv_area"].append({"width": w2, "height": h2, "sha256": sha256(area(img, w2, h2))})
        wr.m["photos"].append(entry)

    wr.finish()
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(list(out.iterdir()))} files, {total / 1e6:.2f} MB to {out}")


if __name__ == "__main__":
    main()
