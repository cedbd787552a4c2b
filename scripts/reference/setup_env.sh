#!/usr/bin/env bash
# Create (or update) the Python reference venv used by the scripts in scripts/reference/.
#
#   scripts/reference/setup_env.sh            # venv at $PYREF_VENV or $HOME/.cache/deepfake-pyref
#   . "${PYREF_VENV:-$HOME/.cache/deepfake-pyref}/bin/activate"
#
# Idempotent: re-running reuses the venv and pip skips what is already installed.
# Needs network access to PyPI (about 3 GB of wheels: torch pulls the CUDA runtime wheels
# even though everything here runs on CPU).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PYREF_VENV:-$HOME/.cache/deepfake-pyref}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating venv at $venv"
    "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install -r "$here/requirements.txt"
# facenet-pytorch 2.6.0 declares torch<2.3, torchvision<0.18, numpy<2, Pillow<10.3; with its
# dependencies pip would downgrade the whole stack. It works unchanged with the versions above.
"$venv/bin/python" -m pip install --no-deps facenet-pytorch==2.6.0

"$venv/bin/python" - <<'PY'
import torch, timm, cv2, numpy, PIL, skimage, safetensors, facenet_pytorch
print("torch", torch.__version__, "timm", timm.__version__, "cv2", cv2.__version__,
      "numpy", numpy.__version__, "pillow", PIL.__version__, "skimage", skimage.__version__,
      "safetensors", safetensors.__version__)
PY
echo "ok: . $venv/bin/activate"
