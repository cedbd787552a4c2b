//! Which files a run works on: the media files of the inputs (folders expanded, DFDC's `dfdc_train_part_N/`
//! layout with `recursive`) and the weight files of `--model`. Everything is checked before any work starts: a
//! path that is not there is an error, not a row of the results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::VideoJob;
use crate::weights::WeightFormat;

/// Why the inputs of a run could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("input not found: {}", path.display())]
    Missing { path: PathBuf },
    #[error("reading folder {}: {source}", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("two inputs share the name `{name}` ({} and {})", first.display(), second.display())]
    DuplicateName { name: String, first: PathBuf, second: PathBuf },
    #[error("nothing to do: no media files in {inputs}")]
    Empty { inputs: String },
    #[error("model not found: {}", path.display())]
    MissingModel { path: PathBuf },
    #[error("no weight files in {}", path.display())]
    NoWeights { path: PathBuf },
    #[error("{} in model folder {} is not a weight file ({reason}); remove it or pass --skip-bad-models", file.display(), folder.display())]
    BadModelFile { folder: PathBuf, file: PathBuf, reason: String },
}

/// A file or folder of the inputs that is not worked on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A subfolder of an input folder, without `recursive`.
    Subfolder,
    /// Plainly not media (`metadata.json`, text, archives, weights).
    NotMedia,
    /// A bad file in a model folder, dropped on request (`--skip-bad-models`).
    BadModel,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Subfolder => "a folder (use --recursive to search it)",
            SkipReason::NotMedia => "not a media file",
            SkipReason::BadModel => "not a weight file",
        }
    }
}

/// The files of a run and what was left out.
#[derive(Debug, Clone, Default)]
pub struct InputList {
    pub jobs: Vec<VideoJob>,
    pub skipped: Vec<Skipped>,
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Extensions that are never media: DFDC's `metadata.json`, notes, listings, archives, weights. Anything else is
/// tried and, if it does not decode, gets its status (`unreadable`, `no_video_stream`, …) like any bad video.
const NOT_MEDIA: [&str; 20] = [
    "json",
    "csv",
    "txt",
    "md",
    "html",
    "htm",
    "xml",
    "yaml",
    "yml",
    "toml",
    "log",
    "py",
    "sh",
    "zip",
    "tar",
    "gz",
    "pth",
    "bpk",
    "safetensors",
    "journal",
];

/// Plainly not a media file, told by its extension.
pub fn is_plainly_not_media(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| NOT_MEDIA.iter().any(|n| n.eq_ignore_ascii_case(e)))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| InputError::Folder { path: dir.into(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !is_hidden(p))
        .collect();
    paths.sort();
    Ok(paths)
}

/// The regular, non-hidden files of a folder, sorted.
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    Ok(read_dir_sorted(dir)?.into_iter().filter(|p| p.is_file()).collect())
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Media files of the inputs. A folder contributes its non-hidden files (except the files and folders in `skip`,
/// e.g. the run's own outputs), named relative to it, and with `recursive` those of its subfolders
/// (`part_0/abc.mp4`); without it, subfolders are listed as skipped. A file is named by its file name. Files that are plainly not media are
/// listed as skipped, once. A missing input, two inputs with one name and an empty result are errors.
pub fn collect_inputs(inputs: &[PathBuf], recursive: bool, skip: &[PathBuf]) -> Result<InputList, InputError> {
    let list = collect_files(inputs, recursive, skip)?;
    let mut seen = BTreeMap::new();
    for job in &list.jobs {
        if let Some(first) = seen.insert(job.file.clone(), job.path.clone()) {
            return Err(InputError::DuplicateName { name: job.file.clone(), first, second: job.path.clone() });
        }
    }
    Ok(list)
}

/// [`collect_inputs`] where two files may share a name (`detect` and `classify` name them by their path).
pub fn collect_files(inputs: &[PathBuf], recursive: bool, skip: &[PathBuf]) -> Result<InputList, InputError> {
    let mut list = InputList::default();
    for input in inputs {
        if input.is_dir() {
            walk(input, input, recursive, skip, &mut list)?;
        } else if input.exists() {
            let file = input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into());
            list.jobs.push(VideoJob { file, path: input.clone() });
        } else {
            return Err(InputError::Missing { path: input.clone() });
        }
    }
    if list.jobs.is_empty() {
        let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(InputError::Empty { inputs: inputs.join(", ") });
    }
    Ok(list)
}

fn walk(root: &Path, dir: &Path, recursive: bool, skip: &[PathBuf], list: &mut InputList) -> Result<(), InputError> {
    for path in read_dir_sorted(dir)? {
        if path.is_dir() {
            if skip.iter().any(|s| same_file(s, &path)) {
                continue;
            }
            if recursive {
                walk(root, &path, recursive, skip, list)?;
            } else {
                list.skipped.push(Skipped { path, reason: SkipReason::Subfolder });
            }
        } else if !path.is_file() || skip.iter().any(|s| same_file(s, &path)) {
            continue;
        } else if is_plainly_not_media(&path) {
            list.skipped.push(Skipped { path, reason: SkipReason::NotMedia });
        } else {
            let file = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            list.jobs.push(VideoJob { file, path });
        }
    }
    Ok(())
}

/// Model files: the paths given, folders expanded to the files inside them (sorted). Every file of a model folder
/// must be a weight file (told by its first bytes): one that is not is an error naming it, or, with
/// `skip_bad`, listed in the returned skips (the caller warns loudly). Plain notes (`README.md`, `*.txt`) are
/// skipped either way.
pub fn collect_models(models: &[PathBuf], skip_bad: bool) -> Result<(Vec<PathBuf>, Vec<Skipped>), InputError> {
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for m in models {
        if m.is_dir() {
            let mut found = 0;
            for p in files_in(m)? {
                if matches!(p.extension().and_then(|e| e.to_str()), Some("md" | "txt")) {
                    skipped.push(Skipped { path: p, reason: SkipReason::NotMedia });
                    continue;
                }
                let mut head = [0u8; 16];
                let read = std::fs::File::open(&p).and_then(|mut f| std::io::Read::read(&mut f, &mut head));
                let reason = match read {
                    Ok(n) if WeightFormat::sniff(&head[..n]).is_some() => None,
                    Ok(_) => Some("its first bytes are no PyTorch, safetensors or Burnpack header".to_string()),
                    Err(e) => Some(e.to_string()),
                };
                match reason {
                    None => {
                        out.push(p);
                        found += 1;
                    }
                    Some(_) if skip_bad => skipped.push(Skipped { path: p, reason: SkipReason::BadModel }),
                    Some(reason) => return Err(InputError::BadModelFile { folder: m.clone(), file: p, reason }),
                }
            }
            if found == 0 {
                return Err(InputError::NoWeights { path: m.clone() });
            }
        } else if m.exists() {
            out.push(m.clone());
        } else {
            return Err(InputError::MissingModel { path: m.clone() });
        }
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_listing_names_files_by_their_path_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("dfdc_train_part_0");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(part.join("b.mp4"), b"x").unwrap();
        std::fs::write(part.join("metadata.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("a.mp4"), b"x").unwrap();
        let flat = collect_inputs(&[dir.path().into()], false, &[]).unwrap();
        assert_eq!(flat.jobs.iter().map(|j| j.file.as_str()).collect::<Vec<_>>(), ["a.mp4"]);
        assert_eq!(flat.skipped, [Skipped { path: part.clone(), reason: SkipReason::Subfolder }]);
        // The run's own output folder (`--plots`) inside an input folder is neither searched nor listed.
        let pictures = dir.path().join("plots");
        std::fs::create_dir_all(pictures.join("a.mp4")).unwrap();
        std::fs::write(pictures.join("a.mp4/timeline.png"), b"png").unwrap();
        let skipping = collect_inputs(&[dir.path().into()], true, std::slice::from_ref(&pictures)).unwrap();
        assert_eq!(skipping.jobs.len(), 2);
        std::fs::remove_dir_all(&pictures).unwrap();
        let deep = collect_inputs(&[dir.path().into()], true, &[]).unwrap();
        assert_eq!(deep.jobs.iter().map(|j| j.file.as_str()).collect::<Vec<_>>(), ["a.mp4", "dfdc_train_part_0/b.mp4"]);
        assert_eq!(deep.skipped, [Skipped { path: part.join("metadata.json"), reason: SkipReason::NotMedia }]);
    }

    #[test]
    fn missing_and_empty_inputs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("singel_face.mp4");
        assert!(matches!(collect_inputs(&[missing], false, &[]), Err(InputError::Missing { .. })));
        assert!(matches!(collect_inputs(&[dir.path().into()], true, &[]), Err(InputError::Empty { .. })));
    }
}
