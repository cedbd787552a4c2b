//! Opening a file with FFmpeg, choosing its video stream, and the one sequential decode pass that keeps the
//! sampled frames.

use std::ffi::{c_int, CString};
use std::path::Path;
use std::ptr;

use ffmpeg::ffi;
use ffmpeg::format::context::Input;
use ffmpeg::media::Type as Medium;
use ffmpeg_next as ffmpeg;

use crate::video::convert::RgbConverter;
use crate::video::count::{CountMetadata, FrameCountSource};
use crate::video::{SampledFrame, StreamEnd, VideoError, VideoInfo};

/// More decoder threads than this buy nothing (FFmpeg warns above 16) and each costs a frame of memory.
const MAX_THREADS: usize = 64;

/// An opened container and the stream we decode.
pub(crate) struct Opened {
    pub input: Input,
    pub stream_index: usize,
    pub codec_id: ffmpeg::codec::Id,
    pub info: VideoInfo,
    pub meta: CountMetadata,
}

/// Stat the file: `Io` when it cannot be, `Unreadable` when it is not a regular file, `Empty` at 0 bytes.
pub(crate) fn file_size(path: &Path) -> Result<u64, VideoError> {
    let meta = std::fs::metadata(path).map_err(|source| VideoError::Io { path: path.to_path_buf(), source })?;
    if !meta.is_file() {
        return Err(VideoError::Unreadable { path: path.to_path_buf(), reason: "not a regular file".into() });
    }
    if meta.len() == 0 {
        return Err(VideoError::Empty { path: path.to_path_buf() });
    }
    Ok(meta.len())
}

/// `avformat_open_input` + `avformat_find_stream_info`, as OpenCV does, but through the `file:` protocol only: a
/// path is never taken for a URL (`http:`, `concat:`, `pipe:` ...), and nothing else may be opened from inside it.
/// (ffmpeg-next's `format::input` would also panic on a non-UTF-8 path.)
fn open_container(path: &Path) -> Result<Input, VideoError> {
    let unreadable = |reason: String| VideoError::Unreadable { path: path.to_path_buf(), reason };
    let mut url = b"file:".to_vec();
    url.extend_from_slice(&path_bytes(path).ok_or_else(|| unreadable("path is not valid UTF-8".into()))?);
    let url = CString::new(url).map_err(|_| unreadable("path contains a NUL byte".into()))?;

    let mut options = ffmpeg::Dictionary::new();
    options.set("protocol_whitelist", "file");
    // SAFETY: plain FFmpeg calls on pointers we own; on success the context is handed to ffmpeg-next's `Input`,
    // which closes it on drop; on failure avformat_open_input frees it and we close it after find_stream_info.
    unsafe {
        let mut ctx: *mut ffi::AVFormatContext = ptr::null_mut();
        let mut opts = options.disown();
        let opened = ffi::avformat_open_input(&mut ctx, url.as_ptr(), ptr::null(), &mut opts);
        drop(ffmpeg::Dictionary::own(opts));
        if opened < 0 {
            return Err(unreadable(ffmpeg::Error::from(opened).to_string()));
        }
        let found = ffi::avformat_find_stream_info(ctx, ptr::null_mut());
        if found < 0 {
            ffi::avformat_close_input(&mut ctx);
            return Err(unreadable(format!("cannot read stream parameters: {}", ffmpeg::Error::from(found))));
        }
        Ok(Input::wrap(ctx))
    }
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Some(path.as_os_str().as_bytes().to_vec())
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Option<Vec<u8>> {
    path.to_str().map(|s| s.as_bytes().to_vec())
}

/// Opens the container and picks the video stream the way OpenCV does (the first video stream), except that
/// embedded cover art and still-image "containers" (`png_pipe`, `image2`, ...) are not videos.
pub(crate) fn open(path: &Path) -> Result<Opened, VideoError> {
    let input = open_container(path)?;
    let container = input.format().name().to_string();

    let stream = input.streams().find(|s| {
        s.parameters().medium() == Medium::Video
            && !s.disposition().contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC)
    });
    let still_image = container == "image2" || container.ends_with("_pipe");
    let Some(stream) = stream.filter(|_| !still_image) else {
        let mut found: Vec<String> = input
            .streams()
            .map(|s| {
                let p = s.parameters();
                let kind = match p.medium() {
                    Medium::Video if still_image => "still image",
                    Medium::Video => "cover art",
                    Medium::Audio => "audio",
                    Medium::Subtitle => "subtitles",
                    Medium::Data => "data",
                    Medium::Attachment => "attachment",
                    _ => "unknown",
                };
                format!("{kind} ({})", p.id().name())
            })
            .collect();
        if found.is_empty() {
            found.push("no streams".into());
        }
        return Err(VideoError::NoVideoStream {
            path: path.to_path_buf(),
            found: format!("{} in a {container} container", found.join(", ")),
        });
    };

    let stream_index = stream.index();
    let params = stream.parameters();
    // SAFETY: codecpar and the stream are valid while `input` lives; we only read plain fields.
    let (width, height, nb_frames, stream_duration, fps, format_duration) = unsafe {
        let par = params.as_ptr();
        let st = stream.as_ptr() as *mut ffi::AVStream;
        let fps = ffi::av_guess_frame_rate(input.as_ptr() as *mut _, st, ptr::null_mut());
        (
            (*par).width.max(0) as u32,
            (*par).height.max(0) as u32,
            (*st).nb_frames,
            (*st).duration,
            fps,
            (*input.as_ptr()).duration,
        )
    };
    let time_base = f64::from(stream.time_base());
    let meta = CountMetadata {
        nb_frames,
        format_duration_s: format_duration as f64 / f64::from(ffi::AV_TIME_BASE),
        stream_duration_s: stream_duration as f64 * time_base,
        fps: if fps.num == 0 || fps.den == 0 { 0.0 } else { f64::from(fps.num) / f64::from(fps.den) },
    };
    let duration_s = Some(meta.duration_s()).filter(|d| d.is_finite() && *d > 0.0);
    let info = VideoInfo {
        width,
        height,
        codec: params.id().name().to_string(),
        container,
        frame_count: None,
        fps: Some(meta.fps).filter(|f| f.is_finite() && *f > 0.0),
        duration_s,
        frame_count_source: FrameCountSource::Unknown,
    };
    let codec_id = params.id();
    Ok(Opened { input, stream_index, codec_id, info, meta })
}

/// The frame count the sampler uses: OpenCV's `CAP_PROP_FRAME_COUNT` when it is usable, else the number of video
/// packets in a demux-only pass over a second handle of the file.
pub(crate) fn resolve_frame_count(path: &Path, opened: &mut Opened) -> Result<(), VideoError> {
    let (count, source) = match opened.meta.usable_count() {
        Some(found) => (Some(found.0), found.1),
        None => match count_packets(path, opened.stream_index)? {
            0 => (None, FrameCountSource::Unknown),
            n => (Some(n), FrameCountSource::PacketCount),
        },
    };
    opened.info.frame_count = count;
    opened.info.frame_count_source = source;
    Ok(())
}

fn count_packets(path: &Path, stream_index: usize) -> Result<u64, VideoError> {
    let mut input = open_container(path)?;
    Ok(input.packets().filter(|(s, _)| s.index() == stream_index).count() as u64)
}

/// What the sequential pass produced.
pub(crate) struct Pass {
    pub frames: Vec<SampledFrame>,
    pub decoded: u64,
    pub end: StreamEnd,
}

/// One sequential decode pass from the first frame to the last wanted one, like the original's `grab()` loop
/// (dfdc-solution.md §5.2): every decoded frame advances the frame number, only wanted frames are converted.
/// On a decoder error it stops, as OpenCV's `grabFrame` does, and keeps what it has.
pub(crate) fn decode_wanted(
    opened: &mut Opened,
    wanted: &[u64],
    threads: usize,
    max_pixels: Option<u64>,
) -> Result<Pass, String> {
    decode_pass(opened, Select::Wanted(wanted), threads, max_pixels)
}

/// The same pass over every `every`-th frame (0, every, 2·every, …) to the end of the stream, each handed to
/// `sink` instead of being kept; the pass stops early when `sink` returns false. `Pass::frames` stays empty.
pub(crate) fn decode_every(
    opened: &mut Opened,
    every: u64,
    threads: usize,
    max_pixels: Option<u64>,
    sink: &mut dyn FnMut(SampledFrame) -> bool,
) -> Result<Pass, String> {
    decode_pass(opened, Select::Every(every.max(1), sink), threads, max_pixels)
}

/// Which frames a pass converts.
enum Select<'a> {
    /// These indices (ascending), kept in `Pass::frames`.
    Wanted(&'a [u64]),
    /// Every n-th frame, handed to the sink (false = stop).
    Every(u64, &'a mut dyn FnMut(SampledFrame) -> bool),
}

fn decode_pass(
    opened: &mut Opened,
    select: Select<'_>,
    threads: usize,
    max_pixels: Option<u64>,
) -> Result<Pass, String> {
    let stream = opened.input.stream(opened.stream_index).expect("index came from this input");
    let time_base = f64::from(stream.time_base());
    let start_time = match stream.start_time() {
        ffi::AV_NOPTS_VALUE => 0,
        t => t,
    };
    let mut ctx = ffmpeg::codec::Context::from_parameters(stream.parameters()).map_err(|e| e.to_string())?;
    // SAFETY: plain fields of a codec context that is not opened yet.
    unsafe {
        let c = ctx.as_mut_ptr();
        // 0 lets FFmpeg pick (cores + 1, at most 16 for frame threads); OpenCV asks for min(cores, 16).
        // Frame and slice threading are both left enabled (FFmpeg's default thread_type). Threading never changes
        // the decoded pixels, only speed (and how far a corrupt stream gets before the decoder reports an error).
        (*c).thread_count = threads.min(MAX_THREADS) as c_int;
        if let Some(limit) = max_pixels {
            // The decoder itself refuses frames above the limit, whatever the header claimed.
            (*c).max_pixels = limit.min(i64::MAX as u64) as i64;
        }
    }
    let codec = ffmpeg::codec::decoder::find(ctx.id()).ok_or_else(|| "no decoder".to_string())?;
    let mut decoder = ctx
        .decoder()
        .open_as(codec)
        .and_then(|d| d.video())
        .map_err(|e| format!("cannot open the {} decoder: {e}", codec.name()))?;

    let nothing_wanted = matches!(select, Select::Wanted(w) if w.is_empty());
    let mut keep = Keeper {
        frames: Vec::with_capacity(match select {
            Select::Wanted(w) => w.len(),
            Select::Every(..) => 0,
        }),
        select,
        next: 0,
        decoded: 0,
        converter: RgbConverter::new(),
        time_base,
        start_time,
        max_pixels,
    };
    if nothing_wanted {
        return Ok(Pass { frames: keep.frames, decoded: 0, end: StreamEnd::AllWanted });
    }
    let mut frame = ffmpeg::frame::Video::empty();
    let mut end = None;
    for (stream, packet) in opened.input.packets() {
        if stream.index() != opened.stream_index {
            continue;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            end = Some(StreamEnd::DecodeError(format!("decoder rejected a packet: {e}")));
            break;
        }
        match drain(&mut decoder, &mut frame, &mut keep) {
            Step::NeedInput => {}
            Step::Done => end = Some(StreamEnd::AllWanted),
            Step::Eof => end = Some(StreamEnd::EndOfStream),
            Step::Failed(reason) => end = Some(StreamEnd::DecodeError(reason)),
        }
        if end.is_some() {
            break;
        }
    }
    let end = match end {
        Some(end) => end,
        // Demuxing ended (or hit an unrecoverable read error): flush the frames still inside the decoder.
        None => {
            let _ = decoder.send_eof();
            match drain(&mut decoder, &mut frame, &mut keep) {
                Step::Done => StreamEnd::AllWanted,
                Step::NeedInput | Step::Eof => StreamEnd::EndOfStream,
                Step::Failed(reason) => StreamEnd::DecodeError(reason),
            }
        }
    };
    Ok(Pass { frames: keep.frames, decoded: keep.decoded, end })
}

enum Step {
    NeedInput,
    Done,
    Eof,
    Failed(String),
}

fn drain(decoder: &mut ffmpeg::decoder::Video, frame: &mut ffmpeg::frame::Video, keep: &mut Keeper) -> Step {
    loop {
        match decoder.receive_frame(frame) {
            Ok(()) => match keep.take(frame) {
                Ok(true) => return Step::Done,
                Ok(false) => {}
                Err(reason) => return Step::Failed(reason),
            },
            Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => return Step::NeedInput,
            Err(ffmpeg::Error::Eof) => return Step::Eof,
            Err(e) => return Step::Failed(format!("decoding failed: {e}")),
        }
    }
}

struct Keeper<'a> {
    select: Select<'a>,
    next: usize,
    decoded: u64,
    frames: Vec<SampledFrame>,
    converter: RgbConverter,
    time_base: f64,
    start_time: i64,
    max_pixels: Option<u64>,
}

impl Keeper<'_> {
    /// Counts one decoded frame, converts it if it is wanted; `Ok(true)` once the last wanted frame is in.
    fn take(&mut self, frame: &ffmpeg::frame::Video) -> Result<bool, String> {
        let index = self.decoded;
        self.decoded += 1;
        let wanted = match &self.select {
            Select::Wanted(w) => w.get(self.next) == Some(&index),
            Select::Every(n, _) => index % n == 0,
        };
        if !wanted {
            return Ok(false);
        }
        let pixels = u64::from(frame.width()) * u64::from(frame.height());
        if let Some(limit) = self.max_pixels.filter(|&l| pixels > l) {
            return Err(format!("frame {index} has {pixels} pixels, over the limit of {limit}"));
        }
        let image = self.converter.convert(frame)?;
        let timestamp_s = frame.timestamp().map(|t| t.saturating_sub(self.start_time) as f64 * self.time_base);
        let frame = SampledFrame { index, timestamp_s, image };
        self.next += 1;
        match &mut self.select {
            Select::Wanted(w) => {
                self.frames.push(frame);
                Ok(self.next == w.len())
            }
            Select::Every(_, sink) => Ok(!sink(frame)),
        }
    }
}
