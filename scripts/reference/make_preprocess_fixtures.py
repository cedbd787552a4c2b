"""Preprocess fixtures: the solution's five preprocessing scripts (dfdc-solution.md §4), re-run in Python with
facenet-pytorch, OpenCV, scikit-image and numpy, on a small data set made by `deepfake synth`.

First make the data set exactly as tests/preprocess.rs does (same flags):

    target/release/deepfake synth --real .cache/media/single_face.mp4 .cache/media/single_face.jpg \
        .cache/media/0-f1-su-ph.jpg --out /tmp/pp-data --seed 7 --frames 21 --clips-per-video 1 \
        --holdout 0.34 --train-parts 1
    python scripts/reference/make_preprocess_fixtures.py /tmp/pp-data

Writes tests/fixtures/preprocess/:
  reference.json   sha256 of every input mp4 and metadata.json (the test checks it re-made the same set), the boxes
                   json of every real video (as json.dump wrote it), per crop its size and the sha256 of its BGR
                   pixels, per original crop the (5, 2) landmarks and dlib's 68 points (dlib-bin on the same
                   rectangle mapping as rect.rs), the folds.csv rows (sorted; the original shuffles unseeded);
  diffs/<fake>/<frame>_<face>_diff.png   the diff images.
The five steps follow detect_original_faces.py, extract_crops.py, generate_landmarks.py, generate_diffs.py and
generate_folds.py line by line (single process, CPU); outputs go to a scratch folder, not into the data set.
Deterministic; ~30 s.
"""
import glob
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile

import cv2
import dlib
import numpy as np
import torch
from facenet_pytorch import MTCNN
from PIL import Image
from skimage.metrics import structural_similarity

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "preprocess")
MODEL = os.environ.get("DEEPFAKE_DLIB_68", "/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_landmark_fixtures import rect_from_mtcnn  # noqa: E402  (the same mapping as src/face/landmarks/rect.rs)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def metadata(root):
    out = {}
    for json_path in sorted(glob.glob(os.path.join(root, "*/metadata.json"))):
        with open(json_path) as f:
            for k, v in json.load(f).items():
                out[k[:-4]] = (os.path.join(os.path.dirname(json_path), k), v)
    return out


def boxes_step(root, work, meta):
    """detect_original_faces.py (FacenetDetector + VideoDataset), batch 32."""
    detector = MTCNN(margin=0, thresholds=[0.85, 0.95, 0.95], device="cpu")
    out = {}
    for vid, (path, v) in sorted(meta.items()):
        if v["label"] != "REAL":
            continue
        capture = cv2.VideoCapture(path)
        frames_num = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        for i in range(frames_num):
            capture.grab()
            success, frame = capture.retrieve()
            if not success:
                continue
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            frame = Image.fromarray(frame)
            frame = frame.resize(size=[s // 2 for s in frame.size])
            frames.append(frame)
        result = {}
        indices = list(range(len(frames)))
        batches = [frames[i:i + 32] for i in range(0, len(frames), 32)]
        for j, batch in enumerate(batches):
            batch_boxes, *_ = detector.detect(batch, landmarks=False)
            found = [b.tolist() if b is not None else None for b in batch_boxes]
            result.update({int(j * 32) + i: b for i, b in zip(indices, found)})
        os.makedirs(os.path.join(work, "boxes"), exist_ok=True)
        with open(os.path.join(work, "boxes", f"{vid}.json"), "w") as f:
            json.dump(result, f)
        out[vid] = open(os.path.join(work, "boxes", f"{vid}.json")).read()
    return out


def crops_step(work, meta):
    """extract_crops.py."""
    for vid, (path, v) in sorted(meta.items()):
        ori = v["original"][:-4] if v["label"] == "FAKE" else vid
        with open(os.path.join(work, "boxes", ori + ".json")) as f:
            bboxes_dict = json.load(f)
        capture = cv2.VideoCapture(path)
        frames_num = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for i in range(frames_num):
            capture.grab()
            if i % 10 != 0:
                continue
            success, frame = capture.retrieve()
            if not success or str(i) not in bboxes_dict:
                continue
            bboxes = bboxes_dict[str(i)]
            if bboxes is None:
                continue
            crops = []
            for bbox in bboxes:
                xmin, ymin, xmax, ymax = [int(b * 2) for b in bbox]
                w = xmax - xmin
                h = ymax - ymin
                p_h = h // 3
                p_w = w // 3
                crop = frame[max(ymin - p_h, 0):ymax + p_h, max(xmin - p_w, 0):xmax + p_w]
                crops.append(crop)
            img_dir = os.path.join(work, "crops", vid)
            os.makedirs(img_dir, exist_ok=True)
            for j, crop in enumerate(crops):
                cv2.imwrite(os.path.join(img_dir, "{}_{}.png".format(i, j)), crop)


def landmarks_step(work, meta):
    """generate_landmarks.py, plus dlib's 68 points on the rect.rs mapping of the same face."""
    detector = MTCNN(margin=0, thresholds=[0.65, 0.75, 0.75], device="cpu")
    predictor = dlib.shape_predictor(MODEL)
    out = {}
    for vid, (_, v) in sorted(meta.items()):
        if v["label"] != "REAL":
            continue
        for frame in range(320):
            if frame % 10 != 0:
                continue
            for actor in range(2):
                ori_path = os.path.join(work, "crops", vid, "{}_{}.png".format(frame, actor))
                if not os.path.exists(ori_path):
                    continue
                image_ori = cv2.imread(ori_path, cv2.IMREAD_COLOR)[..., ::-1]
                frame_img = Image.fromarray(image_ori)
                batch_boxes, conf, landmarks = detector.detect(frame_img, landmarks=True)
                if landmarks is None:
                    continue
                # facenet-pytorch 2.6 with numpy 2 returns an object array; its values are MTCNN's float32s.
                first = np.asarray(landmarks[0]).astype(np.float32)
                five = np.around(first).astype(np.int16)
                rect = rect_from_mtcnn(first)
                shape = predictor(np.ascontiguousarray(image_ori), dlib.rectangle(*rect))
                pts = [[p.x, p.y] for p in shape.parts()]
                out[f"{vid}/{frame}_{actor}"] = {"five": five.tolist(), "rect": list(rect), "points68": pts}
    return out


def diffs_step(work, meta):
    """generate_diffs.py (compare_ssim is structural_similarity(channel_axis=2) in scikit-image >= 0.19)."""
    out = {}
    for vid, (_, v) in sorted(meta.items()):
        if v["label"] != "FAKE":
            continue
        ori_id, fake_id = v["original"][:-4], vid
        diff_dir = os.path.join(OUT, "diffs", fake_id)
        for frame in range(320):
            if frame % 10 != 0:
                continue
            for actor in range(2):
                ori_path = os.path.join(work, "crops", ori_id, "{}_{}.png".format(frame, actor))
                fake_path = os.path.join(work, "crops", fake_id, "{}_{}.png".format(frame, actor))
                if os.path.exists(ori_path) and os.path.exists(fake_path):
                    img1 = cv2.imread(ori_path, cv2.IMREAD_COLOR)
                    img2 = cv2.imread(fake_path, cv2.IMREAD_COLOR)
                    try:
                        d, a = structural_similarity(img1, img2, channel_axis=2, full=True, data_range=255)
                        a = 1 - a
                        diff = (a * 255).astype(np.uint8)
                        diff = cv2.cvtColor(diff, cv2.COLOR_BGR2GRAY)
                        os.makedirs(diff_dir, exist_ok=True)
                        cv2.imwrite(os.path.join(diff_dir, "{}_{}_diff.png".format(frame, actor)), diff)
                        out[f"{fake_id}/{frame}_{actor}"] = int(diff.max())
                    except ValueError:
                        pass
    return out


def folds_step(root, work, meta):
    """generate_folds.py, rows sorted instead of shuffled."""
    pairs = [(v["original"][:-4], k) for k, (_, v) in sorted(meta.items()) if v["label"] == "FAKE"]
    sz = 50 // 16
    folds = [list(range(sz * f, sz * f + sz if f < 16 - 1 else 50)) for f in range(16)]
    video_fold = {}
    for d in os.listdir(root):
        if "dfdc" in d:
            part = int(d.split("_")[-1])
            with open(os.path.join(root, d, "metadata.json")) as f:
                for k in json.load(f):
                    video_fold[k[:-4]] = next(i for i, fd in enumerate(folds) if part in fd)
    rows = []

    def paths(ori, vid, label):
        for frame in range(320):
            if frame % 10 != 0:
                continue
            for actor in range(2):
                p = os.path.join(work, "crops", vid, "{}_{}.png".format(frame, actor))
                if os.path.exists(p):
                    assert video_fold[vid] == video_fold[ori]
                    file = os.path.basename(p)
                    rows.append([vid, file, label, ori, int(file.split("_")[0]), video_fold[vid]])

    for ori in sorted(set(o for o, _ in pairs)):
        paths(ori, ori, 0)
    for ori, fake in pairs:
        paths(ori, fake, 1)
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3], r[4], r[5]))
    return ["video,file,label,original,frame,fold"] + [",".join(str(x) for x in r) for r in rows]


def main():
    root = sys.argv[1]
    torch.set_num_threads(1)
    meta = metadata(root)
    work = tempfile.mkdtemp(prefix="pp-ref-")
    shutil.rmtree(os.path.join(OUT, "diffs"), ignore_errors=True)
    os.makedirs(OUT, exist_ok=True)
    boxes = boxes_step(root, work, meta)
    crops_step(work, meta)
    crops = {}
    for p in sorted(glob.glob(os.path.join(work, "crops", "*", "*.png"))):
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        key = os.path.relpath(p, os.path.join(work, "crops"))
        crops[key] = {"size": [img.shape[1], img.shape[0]], "bgr_sha256": hashlib.sha256(img.tobytes()).hexdigest()}
    landmarks = landmarks_step(work, meta)
    diffs = diffs_step(work, meta)
    folds = folds_step(root, work, meta)
    inputs = {os.path.relpath(p, root): sha(p) for p in sorted(glob.glob(os.path.join(root, "*", "*")))}
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump({"inputs": inputs, "boxes": boxes, "crops": crops, "landmarks": landmarks,
                   "diffs": diffs, "folds": folds}, f, indent=0)
    shutil.rmtree(work)
    print(len(boxes), "boxes files,", len(crops), "crops,", len(landmarks), "landmarks,", len(diffs), "diffs,",
          len(folds) - 1, "fold rows")


if __name__ == "__main__":
    main()
