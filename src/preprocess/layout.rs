//! A DFDC-layout data root: `dfdc_train_part_N/{*.mp4, metadata.json}` (dfdc-solution.md §4), and where the
//! steps write: `boxes/`, `crops/`, `landmarks/`, `diffs/`, `folds.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PreprocessError;

/// One video of the data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Video {
    /// The file name without `.mp4` (the solution's id).
    pub id: String,
    pub path: PathBuf,
    pub fake: bool,
    /// The original's id (a real video's is its own).
    pub original: String,
    /// The part number: the last `_` token of the folder name.
    pub part: u32,
}

/// All videos of a data root, sorted by id.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub videos: Vec<Video>,
}

#[derive(serde::Deserialize)]
struct Meta {
    label: String,
    #[serde(default)]
    original: Option<String>,
}

fn strip_ext(name: &str) -> &str {
    // The solution cuts the last four characters (`k[:-4]`); for "x.mp4" that is the same as dropping ".mp4".
    name.strip_suffix(".mp4").unwrap_or_else(|| name.get(..name.len().saturating_sub(4)).unwrap_or(name))
}

impl Dataset {
    /// Reads every `metadata.json` of the folders whose name contains "dfdc" (as generate_folds.py does).
    pub fn scan(root: &Path) -> Result<Self, PreprocessError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PreprocessError::Io { path, source }
        };
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .map_err(io(root))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir() && e.file_name().to_string_lossy().contains("dfdc"))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        let mut videos = BTreeMap::new();
        for dir in dirs {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let part: u32 = name.rsplit('_').next().and_then(|t| t.parse().ok()).ok_or_else(|| {
                PreprocessError::Layout { path: dir.clone(), reason: "no part number after the last `_`".into() }
            })?;
            let meta_path = dir.join("metadata.json");
            if !meta_path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&meta_path).map_err(io(&meta_path))?;
            let meta: BTreeMap<String, Meta> = serde_json::from_str(&text)
                .map_err(|e| PreprocessError::Layout { path: meta_path.clone(), reason: e.to_string() })?;
            for (file, m) in meta {
                let id = strip_ext(&file).to_string();
                let fake = match m.label.as_str() {
                    "FAKE" => true,
                    "REAL" => false,
                    other => {
                        return Err(PreprocessError::Layout {
                            path: meta_path.clone(),
                            reason: format!("{file}: label `{other}` (REAL or FAKE)"),
                        })
                    }
                };
                let original = match (&m.original, fake) {
                    (Some(o), true) => strip_ext(o).to_string(),
                    (None, true) => {
                        return Err(PreprocessError::Layout {
                            path: meta_path.clone(),
                            reason: format!("{file}: a FAKE without an original"),
                        })
                    }
                    _ => id.clone(),
                };
                videos.insert(id.clone(), Video { path: dir.join(&file), id, fake, original, part });
            }
        }
        Ok(Self { root: root.to_path_buf(), videos: videos.into_values().collect() })
    }

    pub fn reals(&self) -> impl Iterator<Item = &Video> {
        self.videos.iter().filter(|v| !v.fake)
    }

    /// (original id, fake id) for every fake.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.videos.iter().filter(|v| v.fake).map(|v| (v.original.clone(), v.id.clone())).collect()
    }

    pub fn boxes_path(&self, id: &str) -> PathBuf {
        self.root.join("boxes").join(format!("{id}.json"))
    }

    pub fn crop_path(&self, id: &str, frame: u64, face: usize) -> PathBuf {
        self.root.join("crops").join(id).join(format!("{frame}_{face}.png"))
    }

    pub fn landmarks_path(&self, id: &str, frame: u64, face: usize, suffix: &str) -> PathBuf {
        self.root.join("landmarks").join(id).join(format!("{frame}_{face}{suffix}.npy"))
    }

    pub fn diff_path(&self, id: &str, frame: u64, face: usize) -> PathBuf {
        self.root.join("diffs").join(id).join(format!("{frame}_{face}_diff.png"))
    }
}

/// The solution's folds (generate_folds.py, `--n_splits 16`): `sz = 50 // 16 = 3`, fold i = parts 3i…3i+2 for
/// i < 15, fold 15 = parts 45–49; parts past 49 have no fold in the original and get none here either.
pub fn fold_of(part: u32) -> Option<u32> {
    const SPLITS: u32 = 16;
    const SZ: u32 = 50 / SPLITS;
    (0..SPLITS).find(|&f| {
        let start = SZ * f;
        let end = if f < SPLITS - 1 { start + SZ } else { 50 };
        (start..end).contains(&part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_follow_part_numbers() {
        assert_eq!(fold_of(0), Some(0));
        assert_eq!(fold_of(2), Some(0));
        assert_eq!(fold_of(3), Some(1));
        assert_eq!(fold_of(44), Some(14));
        assert_eq!(fold_of(45), Some(15));
        assert_eq!(fold_of(49), Some(15));
        assert_eq!(fold_of(50), None);
    }
}
