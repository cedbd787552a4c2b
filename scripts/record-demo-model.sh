#!/usr/bin/env bash
# Records a trained demo model: copies it to models/demo.bpk, its training log to models/demo-metrics.jsonl, and
# writes models/demo.json (sha256, the held-out metrics of the chosen epoch, and the AUC on a synth set made from
# the test media, identities the model never saw: the figure tests/demo_model.rs checks).
#   bash scripts/record-demo-model.sh artifacts/demo_lite0 epoch-N.bpk
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
cd "$root"
run="${1:?run folder}"
epoch="${2:?epoch file in the run folder}"
cp "$run/$epoch" models/demo.bpk
chmod 644 models/demo.bpk
cp "$run/metrics.jsonl" models/demo-metrics.jsonl
# The binary embeds models/demo.bpk: rebuild it before scoring.
cargo build --release --locked --quiet --bin deepfake
bin="$CARGO_TARGET_DIR/release/deepfake"
media="${DEEPFAKE_CACHE:-$root/.cache}/media"
test_media=(single_face.mp4 WolfgangLanger_Pexels.mp4 single_face.jpg 0-f1-su-ph.jpg 45-m7-di-ph.jpg grace_hopper.jpg
  astronaut.png)
seed=1
frames=32
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
real=()
for m in "${test_media[@]}"; do real+=("$media/$m"); done
"$bin" synth --real "${real[@]}" --out "$work/set" --seed "$seed" --frames "$frames" --clips-per-video 1 \
  --holdout 0 --train-parts 1 >/dev/null
"$bin" infer "$work/set/dfdc_train_part_3" --quiet --out "$work/submission.csv" || [ $? -eq 1 ]
"$bin" eval --predictions "$work/submission.csv" --labels "$work/set/dfdc_train_part_3/metadata.json" --json \
  > "$work/eval.json"
python3 - "$run/metrics.jsonl" "$epoch" "$work/eval.json" "$seed" "$frames" "${test_media[@]}" <<'PY'
import hashlib, json, sys
metrics, epoch, eval_path, seed, frames, media = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:]
rows = [json.loads(l) for l in open(metrics) if l.strip()]
chosen = next(r for r in rows if r["model"] == epoch)
e = json.load(open(eval_path))
out = {
    "file": "models/demo.bpk",
    "sha256": hashlib.sha256(open("models/demo.bpk", "rb").read()).hexdigest(),
    "config": "configs/demo.toml",
    "epoch": chosen["epoch"],
    "holdout": {k: chosen["valid"][k] for k in ("log_loss", "auc", "fake_loss", "real_loss", "videos_real", "videos_fake", "crops")},
    "synth_test": {"media": media, "seed": seed, "frames": frames,
                   **{k: e[k] for k in ("n", "n_real", "n_fake", "roc_auc", "log_loss", "average_precision", "eer", "accuracy", "balanced_accuracy")}},
}
json.dump(out, open("models/demo.json", "w"), indent=2)
open("models/demo.json", "a").write("\n")
print(json.dumps(out, indent=2))
PY
