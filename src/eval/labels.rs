//! Reading the truth (DFDC `metadata.json` files, `filename,label` CSVs) and the predictions (`submission.csv`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EvalError;

/// Ground truth by file name; `true` = fake.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    by_file: BTreeMap<String, (bool, PathBuf)>,
}

impl Labels {
    pub fn get(&self, file: &str) -> Option<bool> {
        self.by_file.get(file).map(|(l, _)| *l)
    }

    /// `(file, fake)` in file-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, bool)> {
        self.by_file.iter().map(|(f, (l, _))| (f.as_str(), *l))
    }

    pub fn len(&self) -> usize {
        self.by_file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_file.is_empty()
    }

    fn insert(&mut self, file: String, fake: bool, path: &Path) -> Result<(), EvalError> {
        if let Some((prev, prev_path)) = self.by_file.get(&file) {
            if *prev != fake {
                return Err(EvalError::ConflictingLabel {
                    file,
                    first: class_name(*prev),
                    first_path: prev_path.clone(),
                    second: class_name(fake),
                    second_path: path.into(),
                });
            }
            return Ok(());
        }
        self.by_file.insert(file, (fake, path.into()));
        Ok(())
    }
}

pub fn class_name(fake: bool) -> &'static str {
    if fake {
        "FAKE"
    } else {
        "REAL"
    }
}

/// `REAL`/`FAKE` (any case) or `0`/`1`.
fn parse_label(s: &str) -> Option<bool> {
    match s.trim().to_ascii_uppercase().as_str() {
        "FAKE" | "1" => Some(true),
        "REAL" | "0" => Some(false),
        _ => None,
    }
}

#[derive(Deserialize)]
struct MetadataEntry {
    label: String,
}

/// Reads every labels file: a DFDC `metadata.json` (`{"x.mp4": {"label": "FAKE", ...}, ...}`, recognised by its
/// leading `{`) or a CSV `filename,label` (header optional) with `0`/`1` or `REAL`/`FAKE`. A file named in two
/// files must carry the same label in both.
pub fn read_labels(paths: &[PathBuf]) -> Result<Labels, EvalError> {
    let mut labels = Labels::default();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.clone(), source })?;
        if text.trim_start().starts_with('{') {
            let entries: BTreeMap<String, MetadataEntry> = serde_json::from_str(&text).map_err(|e| {
                EvalError::Format { path: path.clone(), reason: format!("not a DFDC metadata.json: {e}") }
            })?;
            for (file, entry) in entries {
                let fake = parse_label(&entry.label).ok_or_else(|| EvalError::Format {
                    path: path.clone(),
                    reason: format!("`{file}`: label `{}` is neither REAL nor FAKE", entry.label),
                })?;
                labels.insert(file, fake, path)?;
            }
        } else {
            for (line, row) in csv_rows(path, &text)? {
                let [file, label] = row;
                match parse_label(&label) {
                    Some(fake) => labels.insert(file, fake, path)?,
                    None if line == 1 => {} // a header
                    None => {
                        return Err(EvalError::Row {
                            path: path.clone(),
                            line,
                            reason: format!("label `{label}` is none of 0, 1, REAL, FAKE"),
                        })
                    }
                }
            }
        }
    }
    Ok(labels)
}

/// `(line, [first, second])` of a two-column CSV.
fn csv_rows(path: &Path, text: &str) -> Result<Vec<(usize, [String; 2])>, EvalError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| EvalError::Format { path: path.into(), reason: e.to_string() })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != 2 {
            return Err(EvalError::Row {
                path: path.into(),
                line,
                reason: format!("{} fields; expected `filename,label`", record.len()),
            });
        }
        rows.push((line, [record[0].trim().to_string(), record[1].trim().to_string()]));
    }
    Ok(rows)
}

/// One row of a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub file: String,
    /// The fake probability, or the status of an `error:<status>` row.
    pub score: Result<f64, String>,
}

/// Reads a `submission.csv` (`filename,label`, header optional): probabilities in [0, 1], or `error:<status>` as
/// `infer` writes for a video it could not score.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.into(), source })?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (line, [file, label]) in csv_rows(path, &text)? {
        let score = if let Some(status) = label.strip_prefix("error:") {
            Err(status.to_string())
        } else {
            match label.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                Ok(p) => {
                    return Err(EvalError::Row {
                        path: path.into(),
                        line,
                        reason: format!("probability {p} of `{file}` is outside [0, 1]"),
                    })
                }
                Err(_) if line == 1 => continue, // a header
                Err(_) => {
                    return Err(EvalError::Row {
                        path: path.into(),
                        line,
                        reason: format!("label `{label}` of `{file}` is neither a probability nor error:<status>"),
                    })
                }
            }
        };
        if let Some(first) = seen.insert(file.clone(), line) {
            return Err(EvalError::Row {
                path: path.into(),
                line,
                reason: format!("`{file}` is predicted twice (also on line {first})"),
            });
        }
        out.push(Prediction { file, score });
    }
    Ok(out)
}
