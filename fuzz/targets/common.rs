//! What the targets share: the input written to a scratch file (the video and weight readers take paths).

use std::path::PathBuf;

/// A scratch file for this target in `$TMPDIR` (`scripts/fuzz.sh` gives each run its own directory). AFL runs one
/// input at a time per instance, so one file per target is enough.
pub fn scratch(target: &str) -> PathBuf {
    std::env::temp_dir().join(format!("deepfake-fuzz-{target}-{}", std::process::id()))
}
