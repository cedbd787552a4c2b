#!/usr/bin/env bash
# Peak resident memory of `deepfake infer` on large frames: a 4096x4096 and a 1920x1080 video (the test clip
# single_face.mp4 scaled up, 3 s, so faces are found and crops are cut), three copies each so that decode-ahead
# holds the next video while the current one is scored. Prints one line per size: peak RSS (GNU time's "Maximum
# resident set size") with the model and frame count used.
#
#   bash scripts/measure-memory.sh [MODEL]     # MODEL: a classifier file; default the tiny fixture classifier b
#
# With the tiny fixture model the figure is the pipeline's own memory (frames, half-size copies, crops, MTCNN);
# a real B7 adds its weights (266 MB in f32) and activations.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -x /usr/bin/time ] || { echo "measure-memory: /usr/bin/time missing (apt-get install time; scripts/setup.sh does)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/deepfake-detector/target}"
cargo build --release --quiet --bin deepfake
bin="$CARGO_TARGET_DIR/release/deepfake"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

model="${1:-}"
if [ -z "$model" ]; then
  # The fixture classifier b as a .bpk (its architecture file comes from the fixture's JSON).
  python3 - "$root/tests/fixtures/effnet/b.json" "$work/b_arch.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
cfg = {"name": "fixture_b", "stages": [b for s in j["block_strings"] for b in s],
       "width_multiplier": j["channel_multiplier"], "depth_multiplier": j["depth_multiplier"],
       "channel_divisor": j["channel_divisor"], "stem_size": j["stem_size"], "num_features": j["num_features"],
       "bn_eps": j["bn_eps"], "drop_path_rate": 0.0}
json.dump(cfg, open(sys.argv[2], "w"))
EOF
  "$bin" import tests/fixtures/effnet/b_dfdc_legacy.pth --arch "$work/b_arch.json" --out "$work/b.bpk" >/dev/null
  model="$work/b.bpk"
fi

for size in 4096x4096 1920x1080; do
  dir="$work/$size"
  mkdir -p "$dir"
  ffmpeg -y -loglevel error -i .cache/media/single_face.mp4 -t 3 -vf "scale=${size/x/:}" -an \
    -c:v libx264 -preset ultrafast -crf 23 -pix_fmt yuv420p "$dir/a.mp4"
  cp "$dir/a.mp4" "$dir/b.mp4"
  cp "$dir/a.mp4" "$dir/c.mp4"
  /usr/bin/time -v "$bin" infer "$dir" -m "$model" --quiet --no-resume --out "$work/$size.csv" \
    2>"$work/$size.time" >/dev/null || { cat "$work/$size.time" >&2; exit 1; }
  rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$size.time")"
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$size.time")"
  echo "$size: peak RSS $((rss_kb / 1024)) MiB over 3 videos of 32 frames ($(basename "$model"), wall $wall)"
done
