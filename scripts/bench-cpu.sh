#!/usr/bin/env bash
# The CPU speed comparison of README's Performance table in one command: the default build (flex, fused kernels)
# beside the Python original at its best (PyTorch with OMP_WAIT_POLICY=PASSIVE and glibc's trimming off), same
# machine, same session, interleaved in rounds, minimum over the rounds.
#
#   bash scripts/bench-cpu.sh [ROUNDS]          # default 2 rounds; writes artifacts/bench-cpu-<date>.jsonl
#
# Cases: EfficientNet-B7 @380 (random weights) per crop at batch 1 and 8; MTCNN per 960×540 and 640×360 frame
# (Python at 1 and 2 threads, the better kept); the whole per-video `infer` path with one B7 on the 640×360
# WolfgangLanger_Pexels.mp4 and on a 1920×1080 copy of it (made here with FFmpeg, lanczos, x264 CRF 18), stage by
# stage. Rust runs on 2 threads (RAYON_NUM_THREADS=2), PyTorch with torch.set_num_threads(2). Needs the media
# (scripts/fetch-media.sh) and the Python reference (scripts/reference/setup_env.sh). Report the load average
# printed at the start: on a busy machine the ratios, not the absolute times, are what carries over.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-2}"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/deepfake-detector/target}"
venv="${PYREF_VENV:-$HOME/.cache/deepfake-pyref}"
[ -x "$venv/bin/python" ] || { echo "bench-cpu: no Python reference at $venv (bash scripts/reference/setup_env.sh)" >&2; exit 1; }
cache="${DEEPFAKE_CACHE:-$root/.cache}"
[ -f "$cache/media/WolfgangLanger_Pexels.mp4" ] || { echo "bench-cpu: media missing (bash scripts/fetch-media.sh)" >&2; exit 1; }

# A media folder with the sample clips and the 1080p copy, used by both sides.
bench_cache="$cache/bench-cpu"
mkdir -p "$bench_cache/media"
for f in "$cache"/media/*; do ln -sf "$f" "$bench_cache/media/$(basename "$f")"; done
hd="$bench_cache/media/WolfgangLanger_1080p.mp4"
if [ ! -f "$hd" ]; then
  ffmpeg -y -loglevel error -i "$cache/media/WolfgangLanger_Pexels.mp4" -vf scale=1920:1080:flags=lanczos -an \
    -c:v libx264 -preset medium -crf 18 -pix_fmt yuv420p "$hd.tmp.mp4"
  mv "$hd.tmp.mp4" "$hd"
fi
export DEEPFAKE_CACHE="$bench_cache"

bin() { cargo bench --locked --bench "$1" --no-run 2>&1 | grep -o "$CARGO_TARGET_DIR/release/deps/$1-[0-9a-f]*" | tail -1; }
classifier="$(bin classifier)"; mtcnn="$(bin mtcnn)"; infer="$(bin infer)"
[ -x "$classifier" ] && [ -x "$mtcnn" ] && [ -x "$infer" ] || { echo "bench-cpu: benches did not build" >&2; exit 1; }

mkdir -p artifacts
out="artifacts/bench-cpu-$(date -u +%Y%m%dT%H%M).jsonl"
: >"$out"
py() {
  OMP_WAIT_POLICY=PASSIVE \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295:glibc.malloc.top_pad=268435456 \
    "$venv/bin/python" "$@"
}
tag() { "$venv/bin/python" -c 'import json,sys
side, rnd = sys.argv[1], int(sys.argv[2])
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        d = json.loads(line); d["side"] = side; d["round"] = rnd; print(json.dumps(d), flush=True)' "$1" "$2" >>"$out"; }
videos=WolfgangLanger_Pexels.mp4,WolfgangLanger_1080p.mp4
echo "bench-cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $rounds round(s) -> $out" >&2
for r in $(seq 1 "$rounds"); do
  echo "round $r: classifier" >&2
  RAYON_NUM_THREADS=2 BENCH_BATCHES=1,8 BENCH_REPEATS=5 BENCH_WARMUP=1 "$classifier" 2>/dev/null | tag rust "$r"
  py scripts/reference/bench_classifier.py --threads 2 --batch 1,8 --repeats 5 --warmup 1 2>/dev/null | tag python "$r"
  echo "round $r: mtcnn" >&2
  py scripts/reference/bench_mtcnn.py --threads 1 --cases detect_960x540,detect_640x360 2>/dev/null | tag python "$r"
  RAYON_NUM_THREADS=2 BENCH_CASES=detect_960x540,detect_640x360 BENCH_REPEATS=20 "$mtcnn" 2>/dev/null | tag rust "$r"
  py scripts/reference/bench_mtcnn.py --threads 2 --cases detect_960x540,detect_640x360 2>/dev/null | tag python "$r"
  echo "round $r: infer" >&2
  py scripts/reference/bench_infer.py --threads 2 --models 1 --videos "$videos" 2>/dev/null | tag python "$r"
  RAYON_NUM_THREADS=2 BENCH_VIDEOS="$videos" "$infer" 2>/dev/null | tag rust "$r"
done
echo "bench-cpu: load $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2

"$venv/bin/python" - "$out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def best(pred, key):
    vals = [r[key] for r in rows if pred(r)]
    return min(vals) if vals else float("nan")
table = []
for b in (1, 8):
    # Cases are `<arch>_380_batch<b>_<device>` (the device is `cpu`); `_composed` ones are another path.
    rust = best(lambda r: r["side"] == "rust" and f"_batch{b}_" in r.get("case", "")
                and not r["case"].endswith("_composed"), "min_per_s")
    python = best(lambda r: r["side"] == "python" and r.get("batch") == b, "min_s_per_image")
    table.append((f"B7 @380, batch {b}, s per crop", rust, python))
for case in ("detect_960x540", "detect_640x360"):
    rust = best(lambda r: r["side"] == "rust" and r.get("case") == case, "min_per_s")
    python = best(lambda r: r["side"] == "python" and r.get("case") == case, "min_s")
    table.append((f"MTCNN {case}, s per frame", rust, python))
for video in ("WolfgangLanger_Pexels.mp4", "WolfgangLanger_1080p.mp4"):
    for stage in ("decode", "detect", "classify", "total"):
        rust = best(lambda r: r["side"] == "rust" and r.get("video") == video, f"{stage}_s")
        python = best(lambda r: r["side"] == "python" and r.get("video") == video, f"{stage}_s")
        table.append((f"infer {video}: {stage}, s", rust, python))
print("| what | Rust (flex) | Python original | Rust / Python |")
print("|---|---|---|---|")
for name, rust, python in table:
    print(f"| {name} | {rust:.4g} | {python:.4g} | {rust / python:.2f} |")
EOF
