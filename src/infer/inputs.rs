//! Which files a run works on: the videos of the inputs (folders expanded) and the model files of `--model`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::VideoJob;
use crate::weights::WeightFormat;

/// Why the inputs of a run could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading folder {}: {source}", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("two inputs share the name `{name}` ({} and {})", first.display(), second.display())]
    DuplicateName { name: String, first: PathBuf, second: PathBuf },
    #[error("no weight files in {}", path.display())]
    NoWeights { path: PathBuf },
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The regular, non-hidden files of a folder, sorted.
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| InputError::Folder { path: dir.into(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_hidden(p))
        .collect();
    files.sort();
    Ok(files)
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Videos of the inputs: a folder contributes its regular, non-hidden files (except those in `skip`, e.g. the
/// run's own outputs), named relative to it; a file is named by its file name. A missing file is kept: it is
/// reported like any unreadable video, not fatal to the run. Two inputs with one name are an error.
pub fn collect_videos(inputs: &[PathBuf], skip: &[PathBuf]) -> Result<Vec<VideoJob>, InputError> {
    let mut jobs = Vec::new();
    for input in inputs {
        if input.is_dir() {
            for path in files_in(input)?.into_iter().filter(|p| !skip.iter().any(|s| same_file(s, p))) {
                let file = path.strip_prefix(input).unwrap_or(&path).to_string_lossy().into_owned();
                jobs.push(VideoJob { file, path });
            }
        } else {
            let file = input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into());
            jobs.push(VideoJob { file, path: input.clone() });
        }
    }
    let mut seen = BTreeMap::new();
    for job in &jobs {
        if let Some(first) = seen.insert(job.file.clone(), job.path.clone()) {
            return Err(InputError::DuplicateName { name: job.file.clone(), first, second: job.path.clone() });
        }
    }
    Ok(jobs)
}

/// Model files: the paths given, folders expanded to the weight files inside them (told by their first bytes,
/// sorted).
pub fn collect_models(models: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for m in models {
        if m.is_dir() {
            let files: Vec<PathBuf> = files_in(m)?
                .into_iter()
                .filter(|p| {
                    let mut head = [0u8; 16];
                    std::fs::File::open(p)
                        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                        .is_ok_and(|n| WeightFormat::sniff(&head[..n]).is_some())
                })
                .collect();
            if files.is_empty() {
                return Err(InputError::NoWeights { path: m.clone() });
            }
            out.extend(files);
        } else {
            out.push(m.clone());
        }
    }
    Ok(out)
}
