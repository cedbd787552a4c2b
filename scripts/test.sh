#!/usr/bin/env bash
# Runs every test: installs what is missing (see scripts/setup.sh), then `cargo test --release` (the parity tests
# run real networks; debug builds would be tens of times slower).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
cd "$root"
cargo test --release --locked "$@"
