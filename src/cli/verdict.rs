//! The verdict table a person reads at the end of `infer`: file, verdict, probability, faces used, and for a
//! video that could not be scored the reason in words.

use deepfake_detector::infer::{Status, VideoResult};

/// The solution's decision threshold: a probability of at least this is called FAKE. Kaggle scored the
/// probabilities themselves with log loss, which rewards calibrated values, not only the side of 0.5.
pub const THRESHOLD: f32 = 0.5;

/// A status in words.
pub fn reason(status: Status) -> &'static str {
    match status {
        Status::Ok => "",
        Status::NoFace => "no face found in any sampled frame",
        Status::Empty => "the file is empty (0 bytes)",
        Status::Unreadable => "not a readable media file",
        Status::NoVideoStream => "no video stream (audio only or a still image)",
        Status::UnsupportedCodec => "no decoder for its video codec",
        Status::TooLarge => "over a size limit (--max-file-mb, --max-pixels)",
        Status::NoFrames => "no frame could be decoded",
        Status::IoError => "the file could not be read (rerun to retry)",
    }
}

/// FAKE / REAL, or the status's name for a video without a score.
pub fn verdict(result: &VideoResult) -> String {
    match result.score {
        Some(p) if p >= THRESHOLD => "FAKE".into(),
        Some(_) => "REAL".into(),
        None => result.status.as_str().to_uppercase(),
    }
}

/// The table, one row per result, columns padded to their widest cell.
pub fn table(results: &[VideoResult]) -> String {
    let header = ["file", "verdict", "probability", "faces", "reason"].map(String::from);
    let mut rows = vec![header.to_vec()];
    for r in results {
        let probability = r.score.map_or_else(|| "-".to_string(), |p| format!("{p:.4}"));
        let why = match (&r.warning, r.status) {
            (Some(w), Status::Ok) => format!("scored on fewer frames: {w}"),
            (_, s) => reason(s).to_string(),
        };
        rows.push(vec![r.file.clone(), verdict(r), probability, r.faces_used.to_string(), why]);
    }
    let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| if c == 4 { cell.clone() } else { format!("{cell:<w$}", w = widths[c]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
