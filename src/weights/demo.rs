//! The demo classifier built into the binary (`models/demo.bpk`): the model `infer`, `classify` and `serve` use
//! when no `--model` is given. What it was trained on, and how good it is, is in README ("Models") and
//! `models/demo.md`.
//!
//! The bytes are compiled in, so the binary works wherever it is copied. Everything downstream reads models
//! from files (size, sha256, the resume fingerprint, the report), so the first use writes them once to the
//! cache (`$DEEPFAKE_CACHE`, else `$XDG_CACHE_HOME/deepfake-detector`, else `~/.cache/deepfake-detector`, else
//! the temporary folder) under a name that carries their sha256; later uses find the file and check it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::WeightsError;

/// The file, as committed.
pub static DEMO_MODEL: &[u8] = include_bytes!("../../models/demo.bpk");

/// How the reports name it.
pub const DEMO_MODEL_NAME: &str = "models/demo.bpk";

/// sha256 of [`DEMO_MODEL`].
pub fn demo_sha256() -> String {
    format!("{:x}", Sha256::digest(DEMO_MODEL))
}

fn cache_dirs() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut dirs = Vec::new();
    dirs.extend(env("DEEPFAKE_CACHE"));
    dirs.extend(env("XDG_CACHE_HOME").map(|d| d.join("deepfake-detector")));
    dirs.extend(env("HOME").map(|d| d.join(".cache/deepfake-detector")));
    dirs.push(std::env::temp_dir().join("deepfake-detector"));
    dirs
}

fn holds_demo(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == DEMO_MODEL.len() as u64)
        && std::fs::read(path).is_ok_and(|bytes| bytes == DEMO_MODEL)
}

/// A file holding the built-in model: found in the cache, or written there now (atomically).
pub fn demo_model_path() -> Result<PathBuf, WeightsError> {
    let name = format!("demo-{}.bpk", &demo_sha256()[..16]);
    let mut last = None;
    for dir in cache_dirs() {
        let path = dir.join("models").join(&name);
        if holds_demo(&path) {
            return Ok(path);
        }
        let written = std::fs::create_dir_all(path.parent().expect("a file in a folder"))
            .and_then(|()| crate::atomic::write_atomic(&path, DEMO_MODEL));
        match written {
            Ok(()) if holds_demo(&path) => return Ok(path),
            Ok(()) => last = Some((path, std::io::Error::other("the file written does not read back"))),
            Err(e) => last = Some((path, e)),
        }
    }
    let (path, source) = last.expect("at least the temporary folder was tried");
    Err(WeightsError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_once_then_found_and_a_damaged_copy_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // The process environment is shared by the tests of this binary; only this test sets DEEPFAKE_CACHE.
        std::env::set_var("DEEPFAKE_CACHE", dir.path());
        let path = demo_model_path().unwrap();
        assert!(path.starts_with(dir.path()), "{}", path.display());
        assert_eq!(std::fs::read(&path).unwrap(), DEMO_MODEL);
        let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(demo_model_path().unwrap(), path);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), stamp, "found, not rewritten");
        std::fs::write(&path, b"damaged").unwrap();
        assert_eq!(demo_model_path().unwrap(), path);
        assert_eq!(std::fs::read(&path).unwrap(), DEMO_MODEL, "a damaged copy is rewritten");
        std::env::remove_var("DEEPFAKE_CACHE");
    }
}
