//! The one error type of the `video` stage; every message names the file.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which configured limit a video went over (see [`crate::video::SampleOptions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    /// `max_file_bytes`: the size of the file on disk.
    FileBytes,
    /// `max_pixels`: width × height of one frame.
    FramePixels,
}

impl fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SizeLimit::FileBytes => "file size in bytes",
            SizeLimit::FramePixels => "frame size in pixels (width x height)",
        })
    }
}

/// Why a file could not be probed or sampled.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The file has zero bytes.
    #[error("{}: the file is empty (0 bytes)", path.display())]
    Empty { path: PathBuf },

    /// FFmpeg cannot open it as a media container (not a media file, truncated header, not a regular file, ...).
    #[error("{}: not a readable video: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },

    /// The container holds no video stream: audio only, a still image, only cover art.
    #[error("{}: no video stream (found: {found})", path.display())]
    NoVideoStream { path: PathBuf, found: String },

    /// The video stream's codec has no decoder in this FFmpeg build.
    #[error("{}: no decoder for the video codec `{codec}`", path.display())]
    UnsupportedCodec { path: PathBuf, codec: String },

    /// Over a limit configured in [`crate::video::SampleOptions`].
    #[error("{}: {what} is {actual}, over the limit of {limit}", path.display())]
    TooLarge { path: PathBuf, what: SizeLimit, actual: u64, limit: u64 },

    /// The container opened but not one frame decoded.
    #[error("{}: no frame could be decoded ({reason})", path.display())]
    NoFrames { path: PathBuf, reason: String },

    /// The file system refused (missing file, permissions, ...).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl VideoError {
    /// The status name the per-video report uses for this failure.
    pub fn status(&self) -> &'static str {
        match self {
            VideoError::Empty { .. } => "empty",
            VideoError::Unreadable { .. } => "unreadable",
            VideoError::NoVideoStream { .. } => "no_video_stream",
            VideoError::UnsupportedCodec { .. } => "unsupported_codec",
            VideoError::TooLarge { .. } => "too_large",
            VideoError::NoFrames { .. } => "no_frames",
            VideoError::Io { .. } => "io_error",
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            VideoError::Empty { path }
            | VideoError::Unreadable { path, .. }
            | VideoError::NoVideoStream { path, .. }
            | VideoError::UnsupportedCodec { path, .. }
            | VideoError::TooLarge { path, .. }
            | VideoError::NoFrames { path, .. }
            | VideoError::Io { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_names_the_file_and_every_variant_has_a_status() {
        let p = || PathBuf::from("/videos/clip.mp4");
        let errors = [
            VideoError::Empty { path: p() },
            VideoError::Unreadable { path: p(), reason: "x".into() },
            VideoError::NoVideoStream { path: p(), found: "audio (aac)".into() },
            VideoError::UnsupportedCodec { path: p(), codec: "none".into() },
            VideoError::TooLarge { path: p(), what: SizeLimit::FileBytes, actual: 2, limit: 1 },
            VideoError::NoFrames { path: p(), reason: "x".into() },
            VideoError::Io { path: p(), source: std::io::Error::other("x") },
        ];
        let statuses: Vec<_> = errors.iter().map(VideoError::status).collect();
        assert_eq!(
            statuses,
            ["empty", "unreadable", "no_video_stream", "unsupported_codec", "too_large", "no_frames", "io_error"]
        );
        for e in &errors {
            assert!(e.to_string().starts_with("/videos/clip.mp4: "), "{e}");
            assert_eq!(e.path(), Path::new("/videos/clip.mp4"));
        }
    }
}
