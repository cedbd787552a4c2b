#!/usr/bin/env bash
# Runs one fuzz target under AFL++ for a fixed time:  scripts/fuzz.sh TARGET SECONDS
#   TARGET: video_detect (bytes -> decode -> frames -> MTCNN), checkpoint (bytes -> weight reader -> strict load),
#           image_decode (bytes -> header check -> decode)
# Seeds: the test media and fixture checkpoints (files under 1 MB, AFL's limit), fuzz/seeds/, and every committed
# regression input in tests/fixtures/fuzz/TARGET/. Findings land in $FUZZ_OUT (default .cache/fuzz/TARGET/):
# crashes/ and hangs/; the script exits 1 when there are any, printing their names.
# Installs cargo-afl 0.18.2 (crates.io) into ~/.cache/deepfake-detector/tools and builds AFL++ from that crate's
# own sources on first use; the instrumented build lives in ~/.cache/deepfake-detector/fuzz-target.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:?usage: scripts/fuzz.sh video_detect|checkpoint|image_decode SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS}"
case "$target" in
  video_detect) timeout_ms=10000 ;;
  checkpoint) timeout_ms=5000 ;;
  image_decode) timeout_ms=2000 ;;
  *) echo "fuzz: unknown target $target (video_detect, checkpoint, image_decode)" >&2; exit 2 ;;
esac

[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
tools="$HOME/.cache/deepfake-detector/tools"
export PATH="$tools/bin:$PATH"
if ! command -v cargo-afl >/dev/null; then
  echo "fuzz: installing cargo-afl 0.18.2" >&2
  cargo install cargo-afl --version 0.18.2 --locked --root "$tools" >&2
fi
# AFL++ itself, built once per Rust toolchain (a second call says it is already built).
cargo afl config --build >/dev/null 2>&1 || true
[ -n "$(ls "$HOME"/.local/share/afl.rs/rustc-*/afl.rs-*/afl/bin/afl-fuzz 2>/dev/null)" ] || {
  echo "fuzz: AFL++ did not build; run 'cargo afl config --build --verbose'" >&2; exit 1; }

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/deepfake-detector/fuzz-target}"
(cd "$root/fuzz" && cargo afl build --release --bin "$target" >&2)

media="${DEEPFAKE_CACHE:-$root/.cache}/media"
seeds="$(mktemp -d)"
scratch="$(mktemp -d)"
trap 'rm -rf "$seeds" "$scratch"' EXIT
add() { for f in "$@"; do [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 1000000 ] && cp "$f" "$seeds/" || true; done; }
case "$target" in
  video_detect) add "$root"/tests/fixtures/video/colour/*.{mp4,avi,webm} "$media"/*.mp4 "$media"/*.mov ;;
  checkpoint) add "$root"/fuzz/seeds/checkpoint/* "$media"/pnet.pt "$root"/tests/fixtures/effnet/*.pth \
    "$root"/tests/fixtures/mtcnn/*.safetensors ;;
  image_decode) add "$root"/tests/fixtures/imaging/*.png "$media"/*.jpg "$media"/camera.png ;;
esac
add "$root"/tests/fixtures/fuzz/"$target"/*
[ -n "$(ls -A "$seeds")" ] || { echo "fuzz: no seeds for $target (run scripts/fetch-media.sh)" >&2; exit 1; }

out="${FUZZ_OUT:-$root/.cache/fuzz/$target}"
mkdir -p "$out"
# Resume an earlier run's queue when there is one ('-i -'), else start from the seeds.
input="$seeds"
[ -d "$out/default/queue" ] && [ "${FUZZ_FRESH:-0}" != 1 ] && input=-
# One core, no CPU binding (the machine is shared), no UI; each target gets its own scratch $TMPDIR.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_SKIP_CRASHES=1 AFL_IGNORE_SEED_PROBLEMS=1 RAYON_NUM_THREADS=1 TMPDIR="$scratch"
echo "fuzz: $target for ${seconds}s, $(ls "$seeds" | wc -l) seeds, findings in $out" >&2
nice -n 10 cargo afl fuzz -i "$input" -o "$out" -V "$seconds" -t "$timeout_ms" -m none \
  -- "$CARGO_TARGET_DIR/release/$target" >"$out/afl.log" 2>&1 || { tail -20 "$out/afl.log" >&2; exit 1; }
grep -E "execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|run_time" "$out/default/fuzzer_stats" >&2 || true
findings="$(find "$out/default/crashes" "$out/default/hangs" -type f ! -name README.txt 2>/dev/null)"
if [ -n "$findings" ]; then
  echo "fuzz: $target found $(echo "$findings" | wc -l) input(s) that crash or hang:" >&2
  echo "$findings" >&2
  exit 1
fi
echo "fuzz: $target: no crashes or hangs in ${seconds}s" >&2
