//! What `infer` writes: `submission.csv` (the Kaggle format), the JSON report, and the journal that makes a long
//! run resumable. Files are written atomically (temporary file, then rename).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Status, VideoJob, VideoResult};
use crate::atomic::write_atomic;
use crate::video::FfmpegVersions;

/// A CSV field, quoted when it has to be (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `filename,label`, one row per video in sorted order. A video without a score gets `on_error` when given (the
/// Kaggle behaviour, 0.5), otherwise `error:<status>` so that nobody mistakes it for a prediction.
pub fn submission_csv(results: &[VideoResult], on_error: Option<f32>) -> String {
    let mut rows: Vec<&VideoResult> = results.iter().collect();
    rows.sort_by(|a, b| a.file.cmp(&b.file));
    let mut out = String::from("filename,label\n");
    for r in rows {
        let label = match (r.score, on_error) {
            (Some(s), _) => s.to_string(),
            (None, Some(fallback)) => fallback.to_string(),
            (None, None) => format!("error:{}", r.status),
        };
        out.push_str(&format!("{},{}\n", csv_field(&r.file), label));
    }
    out
}

/// Totals over a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub videos: usize,
    pub ok: usize,
    /// Count per non-ok status.
    pub failed: BTreeMap<Status, usize>,
    pub decode_s: f64,
    pub detect_s: f64,
    pub classify_s: f64,
    pub wall_s: f64,
}

impl Summary {
    pub fn of(results: &[VideoResult], wall_s: f64) -> Self {
        let mut s = Summary { videos: results.len(), wall_s, ..Summary::default() };
        for r in results {
            if r.status.is_ok() {
                s.ok += 1;
            } else {
                *s.failed.entry(r.status).or_default() += 1;
            }
            s.decode_s += r.timing.decode_s;
            s.detect_s += r.timing.detect_s;
            s.classify_s += r.timing.classify_s;
        }
        s
    }
}

/// The `--report` file.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub tool: String,
    /// The FFmpeg libraries that decoded the videos.
    pub ffmpeg: FfmpegVersions,
    /// Models in the order of every `per_model` and `probabilities` list.
    pub models: Vec<ModelRecord>,
    pub device: String,
    pub settings: serde_json::Value,
    pub summary: Summary,
    pub videos: Vec<&'a VideoResult>,
}

/// A model of the ensemble as the report records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// As given (or found in a `--model` folder).
    pub path: String,
    /// The encoder's name (`tf_efficientnet_b7`, or a custom config's).
    pub arch: String,
    /// Side of the square input the model runs at.
    pub input_size: u32,
    pub parameters: usize,
    /// Of the file itself.
    pub sha256: String,
}

/// Size and modification time, so that a resumed run redoes a video that changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub size: u64,
    pub modified_ns: u128,
}

impl FileStamp {
    pub fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        let modified_ns = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        Some(Self { size: meta.len(), modified_ns })
    }
}

/// Identifies a run's setup: `settings` (every option that can change a result) and the weight files (path, size
/// and modification time), so that a resumed run never mixes results of different setups.
pub fn fingerprint(settings: &serde_json::Value, weight_files: &[&Path]) -> String {
    let mut h = Sha256::new();
    h.update(settings.to_string());
    for f in weight_files {
        h.update(f.display().to_string());
        h.update(format!("{:?}", FileStamp::of(f)));
    }
    format!("{:x}", h.finalize())
}

/// Splits `jobs` into results an earlier run already has (same name, file unchanged) and jobs still to do. Rows
/// that failed with `io_error` (a file system hiccup, a file that was being copied) are redone.
pub fn resumable(
    mut previous: BTreeMap<String, (Option<FileStamp>, VideoResult)>,
    jobs: Vec<VideoJob>,
) -> (Vec<(Option<FileStamp>, VideoResult)>, Vec<VideoJob>) {
    let (mut kept, mut todo) = (Vec::new(), Vec::new());
    for job in jobs {
        match previous.remove(&job.file) {
            Some((stamp, result))
                if stamp.is_some() && stamp == FileStamp::of(&job.path) && result.status != Status::IoError =>
            {
                kept.push((stamp, result))
            }
            _ => todo.push(job),
        }
    }
    (kept, todo)
}

#[derive(Serialize, Deserialize)]
struct JournalHeader {
    fingerprint: String,
}

#[derive(Serialize, Deserialize)]
struct JournalEntry {
    stamp: Option<FileStamp>,
    result: VideoResult,
}

/// Finished videos of a run, one JSON line each, flushed as they finish. A later run with the same models and
/// settings (the fingerprint) skips the videos found here unchanged.
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

impl Journal {
    /// The journal beside the CSV: `.submission.csv.journal`.
    pub fn path_for(csv: &Path) -> PathBuf {
        let name = csv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        csv.with_file_name(format!(".{name}.journal"))
    }

    /// Results of an earlier run with this fingerprint, by file name with their stamps.
    pub fn load(path: &Path, fingerprint: &str) -> BTreeMap<String, (Option<FileStamp>, VideoResult)> {
        let mut done = BTreeMap::new();
        let Ok(file) = std::fs::File::open(path) else { return done };
        let mut lines = std::io::BufReader::new(file).lines();
        let header = lines.next().and_then(Result::ok).and_then(|l| serde_json::from_str::<JournalHeader>(&l).ok());
        if header.is_none_or(|h| h.fingerprint != fingerprint) {
            return done;
        }
        // A torn last line (the run was killed mid-write) is simply not taken.
        for line in lines.map_while(Result::ok) {
            if let Ok(entry) = serde_json::from_str::<JournalEntry>(&line) {
                done.insert(entry.result.file.clone(), (entry.stamp, entry.result));
            }
        }
        done
    }

    /// Starts a journal holding `kept` (results carried over from an earlier run).
    pub fn create(path: &Path, fingerprint: &str, kept: &[(Option<FileStamp>, VideoResult)]) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = serde_json::to_string(&JournalHeader { fingerprint: fingerprint.into() })? + "\n";
        for (stamp, result) in kept {
            text += &serde_json::to_string(&JournalEntry { stamp: stamp.clone(), result: result.clone() })?;
            text.push('\n');
        }
        write_atomic(path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    pub fn append(&mut self, stamp: Option<FileStamp>, result: &VideoResult) -> std::io::Result<()> {
        let line = serde_json::to_string(&JournalEntry { stamp, result: result.clone() })? + "\n";
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }

    /// The run finished and its outputs are written: the journal is no longer needed.
    pub fn finish(self) -> std::io::Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(file: &str, score: Option<f32>, status: Status) -> VideoResult {
        VideoResult { status, score, ..VideoResult::new(file) }
    }

    #[test]
    fn csv_rows_are_sorted_and_failures_explicit() {
        let rows = [result("b.mp4", Some(0.25), Status::Ok), result("a,x.mp4", None, Status::Unreadable)];
        assert_eq!(submission_csv(&rows, None), "filename,label\n\"a,x.mp4\",error:unreadable\nb.mp4,0.25\n");
        assert_eq!(submission_csv(&rows, Some(0.5)), "filename,label\n\"a,x.mp4\",0.5\nb.mp4,0.25\n");
    }

    #[test]
    fn journal_round_trips_and_ignores_other_fingerprints_and_torn_lines() {
        let dir = tempfile_dir();
        let path = dir.join(".s.csv.journal");
        let mut j = Journal::create(&path, "fp1", &[]).unwrap();
        j.append(None, &result("a.mp4", Some(0.1), Status::Ok)).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"stamp\":nul").unwrap();
        let done = Journal::load(&path, "fp1");
        assert_eq!(done.keys().collect::<Vec<_>>(), vec!["a.mp4"]);
        assert!(Journal::load(&path, "fp2").is_empty());
        j.finish().unwrap();
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn resume_keeps_unchanged_rows_and_redoes_io_errors_and_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let job = |name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, name).unwrap();
            VideoJob { file: name.into(), path }
        };
        let jobs = vec![job("ok.mp4"), job("io.mp4"), job("changed.mp4"), job("new.mp4")];
        let stamp = |j: &VideoJob| FileStamp::of(&j.path);
        let mut previous = BTreeMap::new();
        previous.insert("ok.mp4".into(), (stamp(&jobs[0]), result("ok.mp4", Some(0.1), Status::Ok)));
        previous.insert("io.mp4".into(), (stamp(&jobs[1]), result("io.mp4", None, Status::IoError)));
        let changed = FileStamp { size: 1, modified_ns: 1 };
        previous.insert("changed.mp4".into(), (Some(changed), result("changed.mp4", Some(0.2), Status::Ok)));
        let (kept, todo) = resumable(previous, jobs);
        assert_eq!(kept.iter().map(|k| k.1.file.as_str()).collect::<Vec<_>>(), ["ok.mp4"]);
        assert_eq!(todo.iter().map(|j| j.file.as_str()).collect::<Vec<_>>(), ["io.mp4", "changed.mp4", "new.mp4"]);
    }

    #[test]
    fn the_fingerprint_changes_with_settings_and_weight_files() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w.bpk");
        std::fs::write(&w, b"1").unwrap();
        let a = fingerprint(&serde_json::json!({"frames": 32}), &[&w]);
        assert_eq!(a, fingerprint(&serde_json::json!({"frames": 32}), &[&w]));
        assert_ne!(a, fingerprint(&serde_json::json!({"frames": 16}), &[&w]));
        std::fs::write(&w, b"22").unwrap();
        assert_ne!(a, fingerprint(&serde_json::json!({"frames": 32}), &[&w]));
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("deepfake-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
