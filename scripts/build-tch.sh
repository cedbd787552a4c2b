#!/usr/bin/env bash
# Builds `deepfake` with the libtorch backend (`--features tch`), the fastest CPU option (see README,
# Performance): installs PyTorch 2.9.0 from PyPI (the libtorch version burn-tch 0.21 binds; ~7 GB with its CUDA
# wheels) into a venv once, then builds against it. Idempotent.
#
#   bash scripts/build-tch.sh
#   LD_LIBRARY_PATH=<printed path> <printed binary> infer videos/ -m model.bpk --device tch
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
if ! python3 -c 'import ensurepip' 2>/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
venv="${TORCH_VENV:-$HOME/.cache/deepfake-detector/torch-2.9.0}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import torch' 2>/dev/null || "$venv/bin/python" -m pip install -q torch==2.9.0
export LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH"
# A target folder of its own: the tch build must not displace the default (flex) one.
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR-tch"
cd "$root"
cargo build --release --locked --features tch
lib="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
echo "built $CARGO_TARGET_DIR/release/deepfake"
echo "run it with: LD_LIBRARY_PATH=$lib $CARGO_TARGET_DIR/release/deepfake … --device tch"
