"""SSIM / diff fixtures: scikit-image's structural_similarity and the solution's generate_diffs.py formula.

For a few (original, fake) pairs of small BGR crops cut from real photos, with fake-like edits (blurred patch,
colour shift, pasted patch, inverted patch for S < 0), writes to tests/fixtures/ssim/:
  <name>_orig.png, <name>_fake.png      the pair (PNG of the BGR arrays via cv2.imwrite, so they read back as BGR)
  <name>_ssim.npy                       S = structural_similarity(orig, fake, channel_axis=2, full=True,
                                        data_range=255)[1], float64 (H, W, 3)
  <name>_diff.png                       cv2.cvtColor(((1 - S) * 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
                                        exactly as generate_diffs.py (dfdc-solution.md §4.4)

    python scripts/reference/make_ssim_fixtures.py
Deterministic; < 2 s.
"""
import os

import cv2
import numpy as np
from skimage.metrics import structural_similarity

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEDIA = os.path.join(ROOT, ".cache", "media")
OUT = os.path.join(ROOT, "tests", "fixtures", "ssim")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(9)
    astro = cv2.imread(os.path.join(MEDIA, "astronaut.png"))
    grace = cv2.imread(os.path.join(MEDIA, "grace_hopper.jpg"))
    pairs = {}
    o = astro[100:156, 180:236].copy()                      # 56 x 56 face crop
    f = o.copy()
    f[15:45, 10:40] = cv2.GaussianBlur(o, (9, 9), 0)[15:45, 10:40]
    pairs["blur"] = (o, f)
    o = grace[160:208, 200:248].copy()                      # 48 x 48
    f = o.copy().astype(np.int16)
    f[10:40, 8:40] += np.array([12, -8, 20], np.int16)
    pairs["colour"] = (o, np.clip(f, 0, 255).astype(np.uint8))
    o = astro[300:340, 100:144].copy()                      # 40 x 44, inverted patch: S < 0, wrap-around
    f = o.copy()
    f[10:30, 15:40] = 255 - f[10:30, 15:40]
    f[5:10, 5:40] = rng.integers(0, 256, (5, 35, 3), dtype=np.uint8)
    pairs["invert"] = (o, f)
    o = grace[300:307, 200:208].copy()                      # 7 x 8: the smallest size scikit-image accepts
    pairs["tiny"] = (o, np.clip(o.astype(np.int16) + rng.integers(-30, 30, o.shape), 0, 255).astype(np.uint8))
    for name, (o, f) in pairs.items():
        _, s = structural_similarity(o, f, channel_axis=2, full=True, data_range=255)
        d = cv2.cvtColor(((1 - s) * 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
        cv2.imwrite(os.path.join(OUT, f"{name}_orig.png"), o)
        cv2.imwrite(os.path.join(OUT, f"{name}_fake.png"), f)
        np.save(os.path.join(OUT, f"{name}_ssim.npy"), s.astype(np.float64))
        cv2.imwrite(os.path.join(OUT, f"{name}_diff.png"), d)
        print(name, o.shape, "min S", float(s.min()), "diff max", int(d.max()))


if __name__ == "__main__":
    main()
