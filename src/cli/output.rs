//! Output paths: `-` for stdout, and every path checked before any work starts (its folder exists or can be
//! made, it is not a folder, it can be written), with messages naming the flag and the path.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use deepfake_detector::atomic::write_atomic;

/// Where an output goes: stdout for `-`, else a file written atomically ([`write_atomic`], which writes pipes and
/// devices directly and never replaces anything but a regular file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    pub fn new(path: &Path) -> Self {
        if path.as_os_str() == "-" {
            Target::Stdout
        } else {
            Target::File(path.to_path_buf())
        }
    }

    pub fn is_stdout(&self) -> bool {
        *self == Target::Stdout
    }

    /// The file's path, or `None` for stdout.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Target::Stdout => None,
            Target::File(p) => Some(p),
        }
    }

    /// Writes the whole output; `flag` names it in an error.
    pub fn write(&self, flag: &str, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush()).with_context(|| format!("{flag} -: writing stdout"))
            }
            Target::File(p) => write_atomic(p, bytes).with_context(|| format!("{flag} {}: writing", p.display())),
        }
    }
}

/// Checks that `path` can be written by the end of the run, without writing it: not a folder, not a socket, its
/// nearest existing ancestor a writable folder.
pub fn check_output(flag: &str, path: &Path) -> anyhow::Result<Target> {
    let target = Target::new(path);
    let Target::File(path) = &target else { return Ok(target) };
    let shown = path.display();
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_dir() {
            bail!("{flag} {shown}: is a folder; give a file name (e.g. {}/out.csv)", shown);
        }
        if !(kind.is_file() || kind.is_fifo() || kind.is_char_device()) {
            bail!("{flag} {shown}: exists and is not a regular file, a pipe or a device");
        }
        if meta.permissions().readonly() && kind.is_file() {
            bail!("{flag} {shown}: the file is read-only");
        }
        if !kind.is_file() {
            // A pipe or device is written directly; opening it here could block (a FIFO without a reader).
            return Ok(target);
        }
    }
    let parent = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut existing = parent;
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        bail!("{flag} {shown}: {} is not a folder", existing.display());
    }
    // The only sure test of writability is writing: a temporary file, removed at once.
    tempfile::Builder::new()
        .prefix(".deepfake-check.")
        .tempfile_in(existing)
        .with_context(|| format!("{flag} {shown}: cannot write in {}", existing.display()))?;
    Ok(target)
}

/// Checks that files can be written in the folder `dir` by the end of the run, without making it: not an existing
/// file, its nearest existing ancestor a writable folder.
pub fn check_output_dir(flag: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{flag} {}: exists and is not a folder", dir.display());
    }
    // A file inside the folder passes `check_output` exactly when the folder can be made and written.
    check_output(flag, &dir.join(".deepfake-check")).map(drop)
}

/// At most one of the outputs may be stdout.
pub fn one_stdout(outputs: &[(&str, &Target)]) -> anyhow::Result<()> {
    let on_stdout: Vec<&str> = outputs.iter().filter(|(_, t)| t.is_stdout()).map(|(f, _)| *f).collect();
    if on_stdout.len() > 1 {
        bail!("{} all write to stdout (-); at most one output can", on_stdout.join(" and "));
    }
    Ok(())
}
