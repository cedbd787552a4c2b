//! Inference split over machines: `infer --shard K/N` keeps a deterministic 1/N of the inputs, and `merge` joins
//! the parts back into one `submission.csv` (and one report), checking that every video appears exactly once.
//!
//! A video's shard follows from a stable hash of its name in the CSV (SHA-256 of the name), never from its
//! position in a listing: adding or removing files moves no other file to another shard, and shards stay balanced
//! however the folders are laid out. The schedulers that run the parts number them from 0 (Kubernetes' Indexed
//! Jobs, `JOB_COMPLETION_INDEX`) or from 1 (a Slurm array `--array=1-N`): both are accepted, `0/N` and `N/N` being
//! the same shard.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::report::{ModelRecord, Summary};
use super::VideoResult;

/// Largest N of `--shard K/N`.
pub const MAX_SHARDS: u32 = 1 << 20;

/// One of `count` parts of the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based: the K of `K/N` modulo N.
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard {given:?}: {reason} (expected K/N with 1 <= N <= {MAX_SHARDS} and 0 <= K <= N, e.g. 1/4)")]
pub struct ShardParseError {
    pub given: String,
    pub reason: &'static str,
}

impl FromStr for Shard {
    type Err = ShardParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ShardParseError { given: s.to_string(), reason };
        let (k, n) = s.trim().split_once('/').ok_or_else(|| err("no '/'"))?;
        let k: u32 = k.trim().parse().map_err(|_| err("K is not a whole number"))?;
        let n: u32 = n.trim().parse().map_err(|_| err("N is not a whole number"))?;
        if n == 0 || n > MAX_SHARDS {
            return Err(err("N out of range"));
        }
        if k > n {
            return Err(err("K is larger than N"));
        }
        Ok(Shard { index: k % n, count: n })
    }
}

impl fmt::Display for Shard {
    /// 1-based, as people count: the shard `0/3` and `3/3` name is shown as `3/3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = if self.index == 0 { self.count } else { self.index };
        write!(f, "{k}/{}", self.count)
    }
}

/// The shard (0-based) a video of this CSV name belongs to among `count`.
pub fn shard_of(name: &str, count: u32) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    let head = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"));
    (head % u64::from(count.max(1))) as u32
}

impl Shard {
    pub fn contains(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }
}

/// Why parts cannot be merged. Every case names the files involved.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: line {line}: {reason}")]
    Row { path: PathBuf, line: u64, reason: String },
    #[error("{video:?} appears in both {first} and {second}")]
    Duplicate { video: String, first: PathBuf, second: PathBuf },
    #[error("the reports do not match the CSV parts: {0}")]
    ReportMismatch(String),
    #[error("the parts ran with different {what}: {first} and {second}")]
    Inconsistent { what: &'static str, first: String, second: String },
    #[error("shards missing: {missing} (the parts cover {found} of {count})")]
    MissingShards { missing: String, found: usize, count: u32 },
}

/// One row of a part: the label exactly as written (a probability, or `error:<status>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub file: String,
    pub label: String,
}

/// Reads one `filename,label` part (the header is required, as `infer` writes it).
pub fn read_part(path: &Path) -> Result<Vec<Row>, MergeError> {
    let read_err = |reason: String| MergeError::Read { path: path.to_path_buf(), reason };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).from_path(path).map_err(|e| read_err(e.to_string()))?;
    let headers = reader.headers().map_err(|e| read_err(e.to_string()))?.clone();
    if headers.len() != 2 || &headers[0] != "filename" || &headers[1] != "label" {
        return Err(read_err(format!("header is {:?}, not \"filename,label\"", headers.iter().collect::<Vec<_>>())));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| read_err(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let row_err = |reason: String| MergeError::Row { path: path.to_path_buf(), line, reason };
        if record.len() != 2 {
            return Err(row_err(format!("{} fields, expected 2", record.len())));
        }
        let (file, label) = (record[0].to_string(), record[1].to_string());
        if file.is_empty() {
            return Err(row_err("empty file name".into()));
        }
        let valid = label.strip_prefix("error:").is_some_and(|s| !s.is_empty())
            || label.parse::<f64>().is_ok_and(|p| (0.0..=1.0).contains(&p));
        if !valid {
            return Err(row_err(format!("label {label:?} is neither a probability nor error:<status>")));
        }
        rows.push(Row { file, label });
    }
    Ok(rows)
}

/// The rows of all parts, sorted by name; a video in two parts (or twice in one) is an error.
pub fn merge_parts(parts: &[PathBuf]) -> Result<Vec<Row>, MergeError> {
    let mut seen: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for path in parts {
        // A part may hold no rows: with few videos, some shards get none.
        for row in read_part(path)? {
            if let Some((first, _)) = seen.get(&row.file) {
                return Err(MergeError::Duplicate { video: row.file, first: first.clone(), second: path.clone() });
            }
            seen.insert(row.file, (path.clone(), row.label));
        }
    }
    Ok(seen.into_iter().map(|(file, (_, label))| Row { file, label }).collect())
}

/// The CSV `merge` writes: the header and the rows, sorted, fields quoted as `infer` quotes them.
pub fn rows_csv(rows: &[Row]) -> String {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    w.write_record(["filename", "label"]).expect("writing to memory");
    for r in rows {
        w.write_record([&r.file, &r.label]).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("the fields are UTF-8")
}

/// A part's `--report`, as far as merging needs it.
#[derive(Debug, Deserialize)]
pub struct PartReport {
    pub tool: String,
    pub ffmpeg: serde_json::Value,
    pub models: Vec<ModelRecord>,
    pub device: String,
    pub settings: serde_json::Value,
    pub summary: Summary,
    pub videos: Vec<VideoResult>,
}

/// The merged report: the parts' shared setup, every video once (sorted), totals over all parts.
#[derive(Debug, Serialize)]
pub struct MergedReport {
    pub tool: String,
    pub ffmpeg: serde_json::Value,
    pub models: Vec<ModelRecord>,
    /// The device of each part, in the order given.
    pub devices: Vec<String>,
    pub settings: serde_json::Value,
    /// The parts merged, in the order given.
    pub parts: Vec<String>,
    pub summary: Summary,
    pub videos: Vec<VideoResult>,
}

pub fn read_report(path: &Path) -> Result<PartReport, MergeError> {
    let read_err = |reason: String| MergeError::Read { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| read_err(format!("not an infer report: {e}")))
}

/// Merges the reports of the parts whose CSV rows are `rows`: same models and settings (but the shard), every
/// video of the rows exactly once, and, when the parts ran with `--shard`, every shard present.
pub fn merge_reports(reports: &[(PathBuf, PartReport)], rows: &[Row]) -> Result<MergedReport, MergeError> {
    let (first_path, first) = reports.first().ok_or_else(|| MergeError::ReportMismatch("no reports".into()))?;
    let without_shard = |s: &serde_json::Value| {
        let mut s = s.clone();
        if let Some(o) = s.as_object_mut() {
            o.remove("shard");
        }
        s
    };
    let base_settings = without_shard(&first.settings);
    let mut videos: BTreeMap<String, (PathBuf, VideoResult)> = BTreeMap::new();
    let mut shards: BTreeMap<u32, PathBuf> = BTreeMap::new();
    let mut count: Option<u32> = None;
    let mut wall_s: f64 = 0.0;
    for (path, r) in reports {
        if r.models != first.models {
            return Err(MergeError::Inconsistent {
                what: "models",
                first: first_path.display().to_string(),
                second: path.display().to_string(),
            });
        }
        if without_shard(&r.settings) != base_settings {
            return Err(MergeError::Inconsistent {
                what: "settings",
                first: first_path.display().to_string(),
                second: path.display().to_string(),
            });
        }
        if let Some(shard) = r.settings.get("shard").and_then(|s| serde_json::from_value::<Shard>(s.clone()).ok()) {
            if count.is_some_and(|c| c != shard.count) {
                return Err(MergeError::Inconsistent {
                    what: "shard counts",
                    first: first_path.display().to_string(),
                    second: path.display().to_string(),
                });
            }
            count = Some(shard.count);
            if let Some(other) = shards.insert(shard.index, path.clone()) {
                return Err(MergeError::Inconsistent {
                    what: "runs of one shard",
                    first: other.display().to_string(),
                    second: path.display().to_string(),
                });
            }
        }
        wall_s = wall_s.max(r.summary.wall_s);
        for v in &r.videos {
            if let Some((other, _)) = videos.get(&v.file) {
                return Err(MergeError::Duplicate {
                    video: v.file.clone(),
                    first: other.clone(),
                    second: path.clone(),
                });
            }
            videos.insert(v.file.clone(), (path.clone(), v.clone()));
        }
    }
    if let Some(count) = count {
        if shards.len() != reports.len() {
            return Err(MergeError::ReportMismatch("some reports were made with --shard and some without".into()));
        }
        let missing: Vec<String> =
            (0..count).filter(|i| !shards.contains_key(i)).map(|index| Shard { index, count }.to_string()).collect();
        if !missing.is_empty() {
            return Err(MergeError::MissingShards { missing: missing.join(", "), found: shards.len(), count });
        }
    }
    let in_rows: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    let in_reports: Vec<&str> = videos.keys().map(String::as_str).collect();
    if in_rows != in_reports {
        let only_csv: Vec<_> = in_rows.iter().filter(|f| !videos.contains_key(**f)).take(5).collect();
        let only_report: Vec<_> = in_reports.iter().filter(|f| !in_rows.contains(f)).take(5).collect();
        return Err(MergeError::ReportMismatch(format!(
            "only in the CSV parts: {only_csv:?}; only in the reports: {only_report:?}"
        )));
    }
    let videos: Vec<VideoResult> = videos.into_values().map(|(_, v)| v).collect();
    Ok(MergedReport {
        tool: first.tool.clone(),
        ffmpeg: first.ffmpeg.clone(),
        models: first.models.clone(),
        devices: reports.iter().map(|(_, r)| r.device.clone()).collect(),
        settings: base_settings,
        parts: reports.iter().map(|(p, _)| p.display().to_string()).collect(),
        // Parts run side by side: the merged wall time is the longest part's.
        summary: Summary::of(&videos, wall_s),
        videos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_numberings() {
        assert_eq!("1/3".parse::<Shard>().unwrap(), Shard { index: 1, count: 3 });
        assert_eq!("3/3".parse::<Shard>().unwrap(), Shard { index: 0, count: 3 });
        assert_eq!("0/3".parse::<Shard>().unwrap(), Shard { index: 0, count: 3 });
        assert_eq!(" 2 / 5 ".parse::<Shard>().unwrap(), Shard { index: 2, count: 5 });
        for bad in ["", "3", "4/3", "1/0", "-1/3", "a/3", "1/b", "1/3/4", "1/2000000"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Shard { index: 0, count: 3 }.to_string(), "3/3");
        assert_eq!(Shard { index: 2, count: 3 }.to_string(), "2/3");
    }

    #[test]
    fn every_name_is_in_exactly_one_shard_and_shards_balance() {
        let names: Vec<String> = (0..3000).map(|i| format!("dfdc_train_part_{}/{i:06}.mp4", i % 7)).collect();
        let mut sizes = [0usize; 3];
        for name in &names {
            let holders: Vec<u32> = (0..3).filter(|&k| Shard { index: k, count: 3 }.contains(name)).collect();
            assert_eq!(holders.len(), 1, "{name}");
            sizes[holders[0] as usize] += 1;
        }
        for s in sizes {
            assert!((900..=1100).contains(&s), "unbalanced shards: {sizes:?}");
        }
        // Stable across builds and machines (parts of one job may run different builds): the values of
        // `int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 1000` in Python.
        assert_eq!(shard_of("aaqaifqrwn.mp4", 1000), 975);
        assert_eq!(shard_of("dfdc_train_part_0/abc.mp4", 1000), 586);
        assert_ne!(
            (0..20).map(|i| shard_of(&format!("{i}.mp4"), 4)).collect::<Vec<_>>(),
            vec![0; 20],
            "the hash must spread names"
        );
    }

    #[test]
    fn rows_csv_round_trips_through_read_part() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            Row { file: "a,b.mp4".into(), label: "0.25".into() },
            Row { file: "q\"uote.mp4".into(), label: "error:no_face".into() },
        ];
        let path = dir.path().join("p.csv");
        std::fs::write(&path, rows_csv(&rows)).unwrap();
        assert_eq!(read_part(&path).unwrap(), rows);
    }
}
