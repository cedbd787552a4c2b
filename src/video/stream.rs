//! Streaming decode: every n-th frame of a whole video, one at a time, for the dataset stages (`preprocess`
//! reads every frame of a real video for its boxes and every 10th for crops; `synth` cuts clips). Memory stays at
//! one frame, whatever the video's length. Same decoder, threading, size limits and RGB conversion as
//! [`super::sample_frames`].

use std::path::Path;

use super::{decode, SampleOptions, SampledFrame, StreamEnd, VideoError, VideoInfo};

/// What a [`for_each_frame`] pass saw.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    pub info: VideoInfo,
    /// Frames decoded (handed to the sink or not).
    pub decoded_frames: u64,
    /// `Some` when the decoder failed part-way (frames before it were delivered).
    pub error: Option<String>,
    /// The sink asked to stop before the end.
    pub stopped: bool,
}

/// Decodes `path` from the first frame to the last (or until `sink` returns false), handing frames
/// 0, `every`, 2·`every`, … to `sink` in order, full resolution, RGB. `options.frames` is ignored.
pub fn for_each_frame(
    path: impl AsRef<Path>,
    options: &SampleOptions,
    every: u64,
    mut sink: impl FnMut(SampledFrame) -> bool,
) -> Result<StreamSummary, VideoError> {
    let path = path.as_ref();
    let mut opened = super::open_checked(path, options)?;
    let pass = decode::decode_every(&mut opened, every, options.threads, options.max_pixels, &mut sink)
        .map_err(|reason| VideoError::Unreadable { path: path.to_path_buf(), reason })?;
    if pass.decoded == 0 {
        let reason = match &pass.end {
            StreamEnd::DecodeError(e) => e.clone(),
            _ => "the stream has no decodable frames".to_string(),
        };
        return Err(VideoError::NoFrames { path: path.to_path_buf(), reason });
    }
    let (error, stopped) = match pass.end {
        StreamEnd::DecodeError(e) => (Some(e), false),
        StreamEnd::AllWanted => (None, true),
        StreamEnd::EndOfStream => (None, false),
    };
    Ok(StreamSummary { info: opened.info, decoded_frames: pass.decoded, error, stopped })
}
