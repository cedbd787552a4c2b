//! The frames stage: a video's sampled frames at full resolution and the half-size copies the detector sees.
//!
//! This is the first stage every consumer shares (`infer`, `detect`, preprocessing, a server): decoding and
//! sampling ([`sample_frames`]) followed by Pillow's bicubic halving, as `FaceExtractor` does:
//! `Image.fromarray(frame).resize(size=[s // 2 for s in img.size])` (dfdc-solution.md §5.3).

use std::path::Path;

use image::RgbImage;

use super::{sample_frames, SampleOptions, SampledFrame, StreamEnd, VideoError, VideoInfo};
use rayon::prelude::*;

use crate::imaging::pillow::resize_bicubic;

/// A video's sampled frames, ready for face detection.
#[derive(Debug, Clone)]
pub struct Frames {
    pub info: VideoInfo,
    /// Full-resolution frames, ascending by index (crops are cut from these).
    pub frames: Vec<SampledFrame>,
    /// `frames[i]` at half size (Pillow bicubic, `size // 2`): the detector's input.
    pub halves: Vec<RgbImage>,
    /// Why decoding stopped before the last wanted frame, if it did; the video is still usable.
    pub short: Option<String>,
}

impl Frames {
    /// Full-resolution `(width, height)` of each frame.
    pub fn sizes(&self) -> Vec<(u32, u32)> {
        self.frames.iter().map(|f| f.image.dimensions()).collect()
    }
}

/// Pillow's `img.resize([s // 2 for s in img.size])` with its default (bicubic) filter.
pub fn half_size(image: &RgbImage) -> RgbImage {
    resize_bicubic(image, image.width() / 2, image.height() / 2)
}

/// Samples `options.frames` frames of `path` (see [`sample_frames`]) and halves each one.
pub fn read_frames(path: impl AsRef<Path>, options: &SampleOptions) -> Result<Frames, VideoError> {
    let sampled = sample_frames(path, options)?;
    // The halvings are independent (and bit-exact whatever the order): side by side on the CPU's threads.
    let halves = sampled.frames.par_iter().map(|f| half_size(&f.image)).collect();
    let short = match &sampled.end {
        StreamEnd::AllWanted => None,
        StreamEnd::EndOfStream => Some(format!(
            "the stream ended after {} decoded frame(s); {} of {} wanted frames read",
            sampled.decoded_frames,
            sampled.frames.len(),
            sampled.wanted.len()
        )),
        StreamEnd::DecodeError(e) => Some(format!(
            "decoding failed after {} frame(s) ({e}); {} of {} wanted frames read",
            sampled.decoded_frames,
            sampled.frames.len(),
            sampled.wanted.len()
        )),
    };
    Ok(Frames { info: sampled.info, frames: sampled.frames, halves, short })
}
