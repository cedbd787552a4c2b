//! Decoding and frame sampling. FFmpeg (through `ffmpeg-next`) lives only here; nothing here knows about faces.
//!
//! [`sample_frames`] reproduces the original's `VideoReader.read_frames` (dfdc-solution.md §5.2, §9 item 1):
//! the frame count OpenCV reports (`CAP_PROP_FRAME_COUNT`), the indices `trunc(linspace(0, count - 1, 32))`, one
//! sequential decode pass from the first frame to the last wanted one that counts every decoded frame and keeps the
//! wanted ones, each converted to RGB with the pixels cv2 5.0 produces (bit-identical on the test media).
//!
//! Where we differ from the original on purpose, each said again where it happens:
//! - a video shorter than 32 frames gives each of its frames once (the original stops at the first repeated index);
//! - when OpenCV's frame count is not positive (the original gives up) we count the video packets instead;
//! - embedded cover art and still images are not video streams (OpenCV would decode the picture as one frame);
//! - we never apply rotation metadata (cv2 5.0 auto-rotates by the display matrix; the 2020 original's OpenCV
//!   did not).
//!
//! - `decode.rs`: opening the container, choosing the stream, the decode pass.
//! - `count.rs`: OpenCV's `CAP_PROP_FRAME_COUNT` and our fallback.
//! - `sampling.rs`: which indices to keep.
//! - `convert.rs`: YUV -> RGB with cv2 5.0's swscale settings.
//! - `frames.rs`: the frames stage: sampled frames and their half-size copies for the detector.

mod convert;
mod count;
mod decode;
pub mod encode;
mod error;
pub mod frames;
mod sampling;
mod stream;

use std::path::Path;
use std::sync::Once;

use ffmpeg_next as ffmpeg;
use image::RgbImage;

pub use count::FrameCountSource;
pub use error::{SizeLimit, VideoError};
pub use frames::{half_size, read_frames, Frames};
pub use sampling::sample_indices;
pub use stream::{for_each_frame, StreamSummary};

/// What the container says about its video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width from the stream header (rotation metadata is ignored; frames are never rotated).
    pub width: u32,
    /// Frame height from the stream header.
    pub height: u32,
    /// FFmpeg's codec name: `h264`, `hevc`, `vp9`, ...
    pub codec: String,
    /// FFmpeg's demuxer name: `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, ...
    pub container: String,
    /// The frame count sampling uses: OpenCV's `CAP_PROP_FRAME_COUNT` when positive (see
    /// [`FrameCountSource`]); `None` when nothing gave a positive count.
    pub frame_count: Option<u64>,
    /// `av_guess_frame_rate`, what OpenCV reports as `CAP_PROP_FPS`; `None` when unknown. FFmpeg 5.1 and cv2 5.0's
    /// FFmpeg 8 disagree on variable-frame-rate files (face_noface.mov: 30 here, 26.4 = average rate in cv2).
    pub fps: Option<f64>,
    /// OpenCV's duration: the container's, else the stream's; `None` when unknown.
    pub duration_s: Option<f64>,
    /// Where `frame_count` came from.
    pub frame_count_source: FrameCountSource,
}

/// How to sample a video, and what to refuse.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleOptions {
    /// How many evenly spaced frames to keep (the original: 32).
    pub frames: usize,
    /// Refuse files larger than this many bytes (checked before opening).
    pub max_file_bytes: Option<u64>,
    /// Refuse videos whose frames have more than this many pixels (width × height), from the header and again
    /// for every decoded frame.
    pub max_pixels: Option<u64>,
    /// Decoder threads; 0 lets FFmpeg choose (number of cores + 1, at most 16); capped at 64.
    pub threads: usize,
    /// Whether far-apart frames are reached by seeking (see [`SeekMode`]).
    pub seek: SeekMode,
    /// FFmpeg demuxers the file may be opened with (FFmpeg's `format_whitelist`, comma-separated short names,
    /// e.g. [`VIDEO_FORMATS`]); `None` allows every demuxer. A service set it for uploads: demuxers such as `hls`
    /// or `concat` open further files named inside the upload. Left out of the serialised options when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formats: Option<String>,
}

/// The demuxers of the video containers we score (MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV), for
/// [`SampleOptions::formats`].
pub const VIDEO_FORMATS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv";

/// How the wanted frames are reached. Seeking gives the same frames as the single pass: the decoder starts at the
/// keyframe before each wanted frame and decodes forward (`decode.rs`, `plan_seeks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeekMode {
    /// Seek where it pays: wanted frames on average 32 or more frames apart and a plan that decodes at most half
    /// the frames of the single pass (a long file); otherwise the original's single pass.
    #[default]
    Auto,
    /// Always the original's single sequential pass.
    Never,
    /// Seek whenever the file allows it (its packet table maps frame numbers to packets), even where it does not
    /// pay; for tests.
    Always,
}

/// How [`sample_frames`] got its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingMethod {
    /// One pass from the first frame to the last wanted one.
    Sequential,
    /// Seeks to keyframes, decoding forward from each.
    Seek { seeks: u64 },
    /// A seek plan was made but the file did not follow its packet table; the single pass was run instead.
    SeekFellBack,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            frames: 32,
            // DFDC clips are ~10 MB; 4 GiB leaves room for long high-bitrate footage.
            max_file_bytes: Some(4 << 30),
            // 4096 x 4096 admits 4K UHD/DCI in either orientation; 32 RGB frames of that are 1.6 GB.
            max_pixels: Some(4096 * 4096),
            threads: 0,
            seek: SeekMode::Auto,
            formats: None,
        }
    }
}

impl SampleOptions {
    /// Frames in 1..=[`MAX_FRAMES`](crate::config::MAX_FRAMES), limits at least 1, threads at most 64.
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        use crate::config::{in_range, MAX_FRAMES};
        in_range("frames", self.frames, 1..=MAX_FRAMES)?;
        if let Some(b) = self.max_file_bytes {
            in_range("max_file_bytes", b, 1..=u64::MAX)?;
        }
        if let Some(p) = self.max_pixels {
            in_range("max_pixels", p, 1..=u64::MAX)?;
        }
        in_range("threads", self.threads, 0..=64)?;
        Ok(())
    }
}

/// One kept frame.
#[derive(Debug, Clone)]
pub struct SampledFrame {
    /// 0-based position in decode output order, the index OpenCV's `grab()` loop counts.
    pub index: u64,
    /// Presentation time from the stream start, when the frame has one.
    pub timestamp_s: Option<f64>,
    /// The frame, full resolution, RGB.
    pub image: RgbImage,
}

/// How the decode pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every wanted frame was decoded.
    AllWanted,
    /// The stream ran out before the last wanted index: the frame count was larger than the frames that decode
    /// (the original returns what was read, and so do we).
    EndOfStream,
    /// The decoder failed; what was decoded before is kept (OpenCV's `grab()` stops at the same point).
    DecodeError(String),
}

/// The result of [`sample_frames`].
#[derive(Debug, Clone)]
pub struct SampledVideo {
    pub info: VideoInfo,
    /// The indices asked for ([`sample_indices`] of the frame count), ascending.
    pub wanted: Vec<u64>,
    /// The frames obtained, ascending by index: a prefix of `wanted`; empty only when
    /// `SampleOptions::frames` is 0.
    pub frames: Vec<SampledFrame>,
    /// Frames decoded by the pass (wanted or not).
    pub decoded_frames: u64,
    pub end: StreamEnd,
    /// Sequential or by seeking.
    pub method: SamplingMethod,
}

/// How much FFmpeg may print to stderr (its `av_log` level). The default is [`FfmpegLog::Quiet`]: errors reach
/// callers as [`VideoError`]s, not as log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfmpegLog {
    Quiet,
    Errors,
    Warnings,
    Verbose,
}

static INIT: Once = Once::new();

fn init() {
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

/// Changes FFmpeg's log level for the whole process (it is global in FFmpeg).
pub fn set_ffmpeg_log(level: FfmpegLog) {
    init();
    use ffmpeg::util::log::Level;
    ffmpeg::util::log::set_level(match level {
        FfmpegLog::Quiet => Level::Quiet,
        FfmpegLog::Errors => Level::Error,
        FfmpegLog::Warnings => Level::Warning,
        FfmpegLog::Verbose => Level::Verbose,
    });
}

/// The FFmpeg libraries this process decodes with (run-time versions, `major.minor.micro`), for reports: decoded
/// pixels can differ between FFmpeg releases.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FfmpegVersions {
    pub avformat: String,
    pub avcodec: String,
    pub avutil: String,
    pub swscale: String,
}

/// See [`FfmpegVersions`].
pub fn ffmpeg_versions() -> FfmpegVersions {
    // AV_VERSION_INT: major << 16 | minor << 8 | micro.
    let v = |n: u32| format!("{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff);
    FfmpegVersions {
        avformat: v(ffmpeg::format::version()),
        avcodec: v(ffmpeg::codec::version()),
        avutil: v(ffmpeg::util::version()),
        swscale: v(ffmpeg::software::scaling::version()),
    }
}

/// Reads the container header; counts video packets only when OpenCV's frame count is not positive.
pub fn probe(path: impl AsRef<Path>) -> Result<VideoInfo, VideoError> {
    let path = path.as_ref();
    init();
    decode::file_size(path)?;
    let mut opened = decode::open(path, None)?;
    decode::resolve_frame_count(path, &mut opened)?;
    Ok(opened.info)
}

/// Opens `path` for decoding after the checks every reader shares: the file-size and frame-pixel limits of
/// `options`, and a decoder for the stream's codec.
fn open_checked(path: &Path, options: &SampleOptions) -> Result<decode::Opened, VideoError> {
    init();
    let too_large = |what, actual, limit| VideoError::TooLarge { path: path.to_path_buf(), what, actual, limit };
    let bytes = decode::file_size(path)?;
    if let Some(limit) = options.max_file_bytes.filter(|&l| bytes > l) {
        return Err(too_large(SizeLimit::FileBytes, bytes, limit));
    }
    let opened = decode::open(path, options.formats.as_deref())?;
    let pixels = u64::from(opened.info.width) * u64::from(opened.info.height);
    if let Some(limit) = options.max_pixels.filter(|&l| pixels > l) {
        return Err(too_large(SizeLimit::FramePixels, pixels, limit));
    }
    if ffmpeg::codec::decoder::find(opened.codec_id).is_none() {
        return Err(VideoError::UnsupportedCodec { path: path.to_path_buf(), codec: opened.info.codec.clone() });
    }
    Ok(opened)
}

/// Samples `options.frames` evenly spaced frames in one sequential decode pass (see the module docs), or by seeking
/// to the keyframe before far-apart wanted frames (same frames, see [`SeekMode`]).
///
/// Returns at least one frame or an error; never panics on any input. A frame count larger than the frames that
/// actually decode gives fewer frames (`end == StreamEnd::EndOfStream`), as in the original.
pub fn sample_frames(path: impl AsRef<Path>, options: &SampleOptions) -> Result<SampledVideo, VideoError> {
    let path = path.as_ref();
    let mut opened = open_checked(path, options)?;
    decode::resolve_frame_count(path, &mut opened)?;
    let Some(frame_count) = opened.info.frame_count else {
        return Err(VideoError::NoFrames {
            path: path.to_path_buf(),
            reason: "the video stream has no packets".into(),
        });
    };

    let wanted = sample_indices(frame_count, options.frames);
    let pass = decode::decode_sampled(path, &mut opened, &wanted, options.threads, options.max_pixels, options.seek)
        .map_err(|reason| VideoError::Unreadable { path: path.to_path_buf(), reason })?;
    if pass.frames.is_empty() && !wanted.is_empty() {
        let reason = match &pass.end {
            StreamEnd::DecodeError(e) => e.clone(),
            _ => format!("the stream ended after {} decoded frames", pass.decoded),
        };
        return Err(VideoError::NoFrames { path: path.to_path_buf(), reason });
    }
    Ok(SampledVideo {
        info: opened.info,
        wanted,
        frames: pass.frames,
        decoded_frames: pass.decoded,
        end: pass.end,
        method: pass.method,
    })
}
