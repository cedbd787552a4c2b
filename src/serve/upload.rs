//! Uploads: the multipart field `video` streamed chunk by chunk into the job's folder, never held whole in
//! memory, and cut off as soon as it passes the size limit.

use std::path::{Path, PathBuf};

use axum::extract::multipart::{Multipart, MultipartError};
use tokio::io::AsyncWriteExt;

/// What went wrong with an upload, each with its HTTP answer (see [`super::api`]).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no `video` field in the form (send the file as multipart/form-data, field `video`)")]
    NoVideo,
    #[error("the `video` field is empty")]
    Empty,
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    #[error("writing the upload to {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The stored upload.
#[derive(Debug)]
pub struct Uploaded {
    /// The file name the client gave (its last path component), or `upload`.
    pub file: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// The form's `plots` field: `1`/`true`/`on` asks for pictures.
    pub plots: bool,
}

fn from_multer(e: MultipartError, limit: u64) -> UploadError {
    // axum names the body-limit error by its status.
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        UploadError::TooLarge { limit }
    } else {
        UploadError::Malformed(e.body_text())
    }
}

/// Reads the form: the first `video` field is written to `dir/video.<ext>` (the client's extension, when it is
/// short and alphanumeric: some demuxers' probes weigh it), other fields are read and dropped except `plots`.
pub async fn receive(mut form: Multipart, dir: &Path, limit: u64) -> Result<Uploaded, UploadError> {
    let mut stored: Option<(String, PathBuf, u64)> = None;
    let mut plots = false;
    while let Some(mut field) = form.next_field().await.map_err(|e| from_multer(e, limit))? {
        match field.name() {
            Some("video") if stored.is_none() => {
                let file = field.file_name().map_or_else(|| "upload".to_string(), clean_name);
                let path = dir.join(match extension(&file) {
                    Some(ext) => format!("video.{ext}"),
                    None => "video".to_string(),
                });
                let io = |source| UploadError::Io { path: path.clone(), source };
                let mut out = tokio::fs::File::create(&path).await.map_err(io)?;
                let mut bytes = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(|e| from_multer(e, limit))? {
                    bytes += chunk.len() as u64;
                    if bytes > limit {
                        // Read (and drop) the rest, which the body limit bounds: a client still sending when the
                        // answer comes would see a reset connection instead of the 413.
                        drop(out);
                        while field.chunk().await.map_err(|e| from_multer(e, limit))?.is_some() {}
                        return Err(UploadError::TooLarge { limit });
                    }
                    out.write_all(&chunk).await.map_err(io)?;
                }
                out.flush().await.map_err(io)?;
                stored = Some((file, path, bytes));
            }
            Some("plots") => {
                let text = field.text().await.map_err(|e| from_multer(e, limit))?;
                plots = matches!(text.trim(), "1" | "true" | "on" | "yes");
            }
            _ => while field.chunk().await.map_err(|e| from_multer(e, limit))?.is_some() {},
        }
    }
    let (file, path, bytes) = stored.ok_or(UploadError::NoVideo)?;
    if bytes == 0 {
        return Err(UploadError::Empty);
    }
    Ok(Uploaded { file, path, bytes, plots })
}

/// The last component of a client's file name, without control characters, at most 200 characters; `upload`
/// when nothing is left.
pub fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "upload".into()
    } else {
        clean.to_string()
    }
}

/// A short alphanumeric extension of `name`, lower-cased.
fn extension(name: &str) -> Option<String> {
    let (_, ext) = name.rsplit_once('.')?;
    (!ext.is_empty() && ext.len() <= 8 && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| ext.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_file_names_lose_their_folders_and_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name(r"C:\clips\a b.mp4"), "a b.mp4");
        assert_eq!(clean_name("x\n\ty.mov"), "xy.mov");
        assert_eq!(clean_name(".."), "upload");
        assert_eq!(clean_name("dir/"), "upload");
        assert_eq!(extension("a.MP4").as_deref(), Some("mp4"));
        assert_eq!(extension("a.tar/../x"), None);
        assert_eq!(extension("noext"), None);
    }
}
