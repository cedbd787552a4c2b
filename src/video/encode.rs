//! Writing RGB frames as an H.264 mp4 (libx264 through FFmpeg), for `synth`'s clips.
//!
//! Output is deterministic for given frames and settings: x264 runs with one thread (its output depends on the
//! thread count), and the muxer and encoder are in bit-exact mode (no version strings or creation times). The
//! file appears atomically: written under a temporary name beside the target, then renamed.

use std::path::{Path, PathBuf};

use ffmpeg::{codec, encoder, format, frame, software::scaling, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

/// How to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeOptions {
    /// Frames per second (an integer rate keeps time stamps exact).
    pub fps: u32,
    /// x264's constant rate factor: 0 is lossless, 18 visually lossless, 23 x264's default.
    pub crf: u8,
    /// x264 preset (`ultrafast` … `veryslow`).
    pub preset: String,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self { fps: 25, crf: 18, preset: "fast".into() }
    }
}

/// Why a clip could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{path}: no frames to encode")]
    NoFrames { path: PathBuf },
    #[error("{path}: frame {index} is {found:?}, the first frame is {expected:?} (width, height)")]
    SizeMismatch { path: PathBuf, index: usize, expected: (u32, u32), found: (u32, u32) },
    #[error("{path}: frames must have even, non-zero sides for 4:2:0 H.264, got {width}x{height}")]
    OddSize { path: PathBuf, width: u32, height: u32 },
    #[error("{path}: the path is not valid UTF-8 (FFmpeg's muxer needs it)")]
    BadPath { path: PathBuf },
    #[error("FFmpeg has no libx264 encoder (Debian's libavcodec59 has one); {path} not written")]
    NoEncoder { path: PathBuf },
    #[error("{path}: {stage}: {source}")]
    Ffmpeg { path: PathBuf, stage: &'static str, source: ffmpeg::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Whether this FFmpeg can encode H.264 with libx264.
pub fn has_x264() -> bool {
    super::init();
    encoder::find_by_name("libx264").is_some()
}

/// Encodes `frames` (RGB, all one size with even sides) to `path` as H.264 in mp4.
pub fn write_mp4(path: &Path, frames: &[RgbImage], options: &EncodeOptions) -> Result<(), EncodeError> {
    super::init();
    let first = frames.first().ok_or_else(|| EncodeError::NoFrames { path: path.to_path_buf() })?;
    let (width, height) = first.dimensions();
    if width == 0 || height == 0 || width % 2 == 1 || height % 2 == 1 {
        return Err(EncodeError::OddSize { path: path.to_path_buf(), width, height });
    }
    if let Some((index, f)) = frames.iter().enumerate().find(|(_, f)| f.dimensions() != (width, height)) {
        return Err(EncodeError::SizeMismatch {
            path: path.to_path_buf(),
            index,
            expected: (width, height),
            found: f.dimensions(),
        });
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| EncodeError::Io { path: dir.to_path_buf(), source })?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}.mp4", std::process::id()));
    if tmp.to_str().is_none() {
        return Err(EncodeError::BadPath { path: path.to_path_buf() });
    }
    let result = encode(&tmp, frames, options, width, height).map_err(|(stage, source)| EncodeError::Ffmpeg {
        path: path.to_path_buf(),
        stage,
        source,
    });
    let result = match result {
        Err(EncodeError::Ffmpeg { stage: "encoder", .. }) if !has_x264() => {
            Err(EncodeError::NoEncoder { path: path.to_path_buf() })
        }
        other => other,
    };
    result
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|source| EncodeError::Io { path: path.to_path_buf(), source })
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

type Staged<T> = Result<T, (&'static str, ffmpeg::Error)>;

fn encode(tmp: &Path, frames: &[RgbImage], options: &EncodeOptions, width: u32, height: u32) -> Staged<()> {
    let Some(tmp_str) = tmp.to_str() else {
        return Err(("path", ffmpeg::Error::InvalidData));
    };
    let at = |stage: &'static str| move |e: ffmpeg::Error| (stage, e);
    let mut octx = format::output_as(tmp_str, "mp4").map_err(at("open"))?;
    // SAFETY: plain field writes on the context we just created and own.
    unsafe {
        (*octx.as_mut_ptr()).flags |= ffmpeg::ffi::AVFMT_FLAG_BITEXACT;
    }
    let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
    let codec = encoder::find_by_name("libx264").ok_or(("encoder", ffmpeg::Error::EncoderNotFound))?;
    let mut enc = codec::context::Context::new_with_codec(codec).encoder().video().map_err(at("encoder"))?;
    let fps = options.fps.max(1) as i32;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(Rational(1, fps));
    enc.set_frame_rate(Some(Rational(fps, 1)));
    // No B-frames: decode order is display order and no packet has a negative decode time.
    enc.set_max_b_frames(0);
    let mut flags = codec::Flags::BITEXACT;
    if global_header {
        flags |= codec::Flags::GLOBAL_HEADER;
    }
    enc.set_flags(flags);
    let mut opts = Dictionary::new();
    opts.set("preset", &options.preset);
    opts.set("crf", &options.crf.to_string());
    opts.set("threads", "1");
    let mut enc = enc.open_with(opts).map_err(at("encoder"))?;
    let stream_index = {
        let mut ost = octx.add_stream(codec).map_err(at("stream"))?;
        ost.set_parameters(&enc);
        ost.set_time_base(Rational(1, fps));
        ost.index()
    };
    octx.write_header().map_err(at("header"))?;
    let ost_time_base = octx.stream(stream_index).expect("the stream just added").time_base();

    let mut scaler = scaling::Context::get(
        format::Pixel::RGB24,
        width,
        height,
        format::Pixel::YUV420P,
        width,
        height,
        scaling::Flags::BILINEAR | scaling::Flags::BITEXACT | scaling::Flags::ACCURATE_RND,
    )
    .map_err(at("scaler"))?;
    let mut rgb = frame::Video::new(format::Pixel::RGB24, width, height);
    let mut yuv = frame::Video::empty();
    let row = width as usize * 3;
    let drain = |enc: &mut encoder::Video, octx: &mut format::context::Output| -> Staged<()> {
        let mut packet = Packet::empty();
        while enc.receive_packet(&mut packet).is_ok() {
            packet.set_stream(stream_index);
            // Every frame lasts one tick. libx264 leaves durations at 0, and the mp4 muxer then ends its edit list
            // at the last frame's start, marking that frame discarded (it holds 21 frames, 20 decode).
            if packet.duration() <= 0 {
                packet.set_duration(1);
            }
            packet.rescale_ts(Rational(1, fps), ost_time_base);
            packet.write_interleaved(octx).map_err(at("write"))?;
        }
        Ok(())
    };
    for (i, img) in frames.iter().enumerate() {
        let stride = rgb.stride(0);
        let data = rgb.data_mut(0);
        for (y, src) in img.as_raw().chunks_exact(row).enumerate() {
            data[y * stride..y * stride + row].copy_from_slice(src);
        }
        scaler.run(&rgb, &mut yuv).map_err(at("convert"))?;
        yuv.set_pts(Some(i as i64));
        enc.send_frame(&yuv).map_err(at("encode"))?;
        drain(&mut enc, &mut octx)?;
    }
    enc.send_eof().map_err(at("encode"))?;
    drain(&mut enc, &mut octx)?;
    octx.write_trailer().map_err(at("trailer"))?;
    Ok(())
}
