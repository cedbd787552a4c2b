//! Opening a file with FFmpeg, choosing its video stream, and the one sequential decode pass that keeps the
//! sampled frames.

use std::collections::HashMap;
use std::ffi::{c_int, CString};
use std::path::Path;
use std::ptr;

use ffmpeg::ffi;
use ffmpeg::format::context::Input;
use ffmpeg::media::Type as Medium;
use ffmpeg_next as ffmpeg;

use crate::video::convert::RgbConverter;
use crate::video::count::{CountMetadata, FrameCountSource};
use crate::video::{SampledFrame, SamplingMethod, SeekMode, StreamEnd, VideoError, VideoInfo};

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
/// (ffmpeg-next's `format::input` would also panic on a non-UTF-8 path.) `formats` limits the demuxers
/// (`format_whitelist`); the second handles opened later on the same file leave it out, as the file was first
/// opened through the same, deterministic probe.
fn open_container(path: &Path, formats: Option<&str>) -> Result<Input, VideoError> {
    let unreadable = |reason: String| VideoError::Unreadable { path: path.to_path_buf(), reason };
    let mut url = b"file:".to_vec();
    url.extend_from_slice(&path_bytes(path).ok_or_else(|| unreadable("path is not valid UTF-8".into()))?);
    let url = CString::new(url).map_err(|_| unreadable("path contains a NUL byte".into()))?;

    let mut options = ffmpeg::Dictionary::new();
    options.set("protocol_whitelist", "file");
    if let Some(formats) = formats {
        options.set("format_whitelist", formats);
    }
    // SAFETY: plain FFmpeg calls on pointers we own; on success the context is handed to ffmpeg-next's `Input`,
    // which closes it on drop; on failure avformat_open_input frees it and we close it after find_stream_info.
    unsafe {
        let mut ctx: *mut ffi::AVFormatContext = ptr::null_mut();
        let mut opts = options.disown();
        let opened = ffi::avformat_open_input(&mut ctx, url.as_ptr(), ptr::null(), &mut opts);
        drop(ffmpeg::Dictionary::own(opts));
        if opened < 0 {
            let reason = ffmpeg::Error::from(opened).to_string();
            // A demuxer outside the whitelist fails with EINVAL ("Invalid argument"): say which are accepted.
            return Err(unreadable(match formats {
                Some(formats) => format!("{reason} (accepted containers: {formats})"),
                None => reason,
            }));
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
pub(crate) fn open(path: &Path, formats: Option<&str>) -> Result<Opened, VideoError> {
    let input = open_container(path, formats)?;
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
    Ok(packet_table(path, stream_index)?.len() as u64)
}

/// One packet of the video stream, in demux (= decode) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketEntry {
    /// Presentation time stamp, `None` when the container gives none.
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    /// The container marks it as a random access point (keyframe).
    pub key: bool,
    /// The demuxer asks for its frame to be dropped (`AV_PKT_FLAG_DISCARD`, e.g. before an MP4 edit list's start).
    pub discard: bool,
}

/// `AV_PKT_FLAG_DISCARD` (libavcodec/packet.h), which ffmpeg-next's packet flags do not name.
const PKT_FLAG_DISCARD: c_int = 0x0004;

/// Every packet of the video stream, from a demux-only pass over a second handle of the file (no decoding: a
/// demux pass reads ~10^5 packets per second, a decoder 10^2 to 10^3 frames).
pub(crate) fn packet_table(path: &Path, stream_index: usize) -> Result<Vec<PacketEntry>, VideoError> {
    let mut input = open_container(path, None)?;
    Ok(input
        .packets()
        .filter(|(s, _)| s.index() == stream_index)
        .map(|(_, p)| {
            // SAFETY: reading the flags field of a packet we own.
            let flags = unsafe { (*ffmpeg::packet::Ref::as_ptr(&p)).flags };
            PacketEntry { pts: p.pts(), dts: p.dts(), key: p.is_key(), discard: flags & PKT_FLAG_DISCARD != 0 }
        })
        .collect())
}

/// What a decode pass produced.
pub(crate) struct Pass {
    pub frames: Vec<SampledFrame>,
    pub decoded: u64,
    pub end: StreamEnd,
    pub method: SamplingMethod,
}

/// Opens the stream's decoder with `threads` threads and FFmpeg's own refusal of frames over `max_pixels`.
fn open_decoder(opened: &Opened, threads: usize, max_pixels: Option<u64>) -> Result<ffmpeg::decoder::Video, String> {
    let stream = opened.input.stream(opened.stream_index).expect("index came from this input");
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
    ctx.decoder()
        .open_as(codec)
        .and_then(|d| d.video())
        .map_err(|e| format!("cannot open the {} decoder: {e}", codec.name()))
}

fn keeper(opened: &Opened, wanted: &[u64], max_pixels: Option<u64>) -> Keeper {
    let stream = opened.input.stream(opened.stream_index).expect("index came from this input");
    let start_time = match stream.start_time() {
        ffi::AV_NOPTS_VALUE => 0,
        t => t,
    };
    Keeper {
        next: 0,
        decoded: 0,
        frames: Vec::with_capacity(wanted.len()),
        converter: RgbConverter::new(),
        time_base: f64::from(stream.time_base()),
        start_time,
        max_pixels,
    }
}

/// Decodes the wanted frames, sequentially or by seeking as `seek` and the file allow (see [`SeekMode`]; the rule:
/// `Auto` plans seeks only when wanted frames are on average [`MIN_MEAN_GAP`] or more frames apart, and seeks only
/// when the plan decodes at most half the frames of the single pass).
pub(crate) fn decode_sampled(
    path: &Path,
    opened: &mut Opened,
    wanted: &[u64],
    threads: usize,
    max_pixels: Option<u64>,
    seek: SeekMode,
) -> Result<Pass, String> {
    let plan = match (seek, opened.info.frame_count) {
        (SeekMode::Never, _) | (_, None) => None,
        (mode, Some(count)) => {
            let mean_gap = count / (wanted.len() as u64).max(1);
            if mode == SeekMode::Auto && mean_gap < MIN_MEAN_GAP {
                None
            } else {
                let table = packet_table(path, opened.stream_index).map_err(|e| e.to_string())?;
                plan_seeks(&table, wanted).filter(|p| mode == SeekMode::Always || p.pays()).map(|plan| (table, plan))
            }
        }
    };
    if let Some((table, plan)) = plan {
        if let Some(pass) = decode_seeking(opened, &table, &plan, threads, max_pixels)? {
            return Ok(pass);
        }
        // The file did not behave as its packet table said: start again the exact way.
        opened.input = open_container(path, None).map_err(|e| e.to_string())?;
        let mut pass = decode_wanted(opened, wanted, threads, max_pixels)?;
        pass.method = SamplingMethod::SeekFellBack;
        return Ok(pass);
    }
    decode_wanted(opened, wanted, threads, max_pixels)
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
    let mut decoder = open_decoder(opened, threads, max_pixels)?;
    let mut keep = keeper(opened, wanted, max_pixels);
    let method = SamplingMethod::Sequential;
    if wanted.is_empty() {
        return Ok(Pass { frames: keep.frames, decoded: 0, end: StreamEnd::AllWanted, method });
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
        match drain(&mut decoder, &mut frame, &mut keep, wanted) {
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
            match drain(&mut decoder, &mut frame, &mut keep, wanted) {
                Step::Done => StreamEnd::AllWanted,
                Step::NeedInput | Step::Eof => StreamEnd::EndOfStream,
                Step::Failed(reason) => StreamEnd::DecodeError(reason),
            }
        }
    };
    Ok(Pass { frames: keep.frames, decoded: keep.decoded, end, method })
}

/// The same single pass over every `every`-th frame (0, every, 2·every, …) to the end of the stream, each handed to
/// `sink` instead of being kept; the pass stops early when `sink` returns false. `Pass::frames` stays empty.
pub(crate) fn decode_every(
    opened: &mut Opened,
    every: u64,
    threads: usize,
    max_pixels: Option<u64>,
    sink: &mut dyn FnMut(SampledFrame) -> bool,
) -> Result<Pass, String> {
    let every = every.max(1);
    let mut decoder = open_decoder(opened, threads, max_pixels)?;
    let mut keep = keeper(opened, &[], max_pixels);
    let mut frame = ffmpeg::frame::Video::empty();
    // Takes the frames the decoder has ready; `Some(end)` once the pass is over.
    let mut take = |decoder: &mut ffmpeg::decoder::Video, keep: &mut Keeper| -> Option<StreamEnd> {
        loop {
            match decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    let index = keep.decoded;
                    keep.decoded += 1;
                    if !index.is_multiple_of(every) {
                        continue;
                    }
                    if let Err(reason) = keep.keep(&frame, index) {
                        return Some(StreamEnd::DecodeError(reason));
                    }
                    let kept = keep.frames.pop().expect("just kept");
                    if !sink(kept) {
                        return Some(StreamEnd::AllWanted);
                    }
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => return None,
                Err(ffmpeg::Error::Eof) => return Some(StreamEnd::EndOfStream),
                Err(e) => return Some(StreamEnd::DecodeError(format!("decoding failed: {e}"))),
            }
        }
    };
    let mut end = None;
    for (stream, packet) in opened.input.packets() {
        if stream.index() != opened.stream_index {
            continue;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            end = Some(StreamEnd::DecodeError(format!("decoder rejected a packet: {e}")));
            break;
        }
        end = take(&mut decoder, &mut keep);
        if end.is_some() {
            break;
        }
    }
    let end = match end {
        Some(end) => end,
        None => {
            let _ = decoder.send_eof();
            take(&mut decoder, &mut keep).unwrap_or(StreamEnd::EndOfStream)
        }
    };
    Ok(Pass { frames: Vec::new(), decoded: keep.decoded, end, method: SamplingMethod::Sequential })
}

enum Step {
    NeedInput,
    Done,
    Eof,
    Failed(String),
}

fn drain(
    decoder: &mut ffmpeg::decoder::Video,
    frame: &mut ffmpeg::frame::Video,
    keep: &mut Keeper,
    wanted: &[u64],
) -> Step {
    loop {
        match decoder.receive_frame(frame) {
            Ok(()) => match keep.take(frame, wanted) {
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

struct Keeper {
    /// Position in `wanted` of the next frame to keep (sequential pass).
    next: usize,
    decoded: u64,
    frames: Vec<SampledFrame>,
    converter: RgbConverter,
    time_base: f64,
    start_time: i64,
    max_pixels: Option<u64>,
}

impl Keeper {
    /// Counts one decoded frame, converts it if it is wanted; `Ok(true)` once the last wanted frame is in.
    fn take(&mut self, frame: &ffmpeg::frame::Video, wanted: &[u64]) -> Result<bool, String> {
        let index = self.decoded;
        self.decoded += 1;
        if wanted.get(self.next) != Some(&index) {
            return Ok(false);
        }
        self.keep(frame, index)?;
        self.next += 1;
        Ok(self.next == wanted.len())
    }

    /// Converts `frame` and keeps it as frame `index`.
    fn keep(&mut self, frame: &ffmpeg::frame::Video, index: u64) -> Result<(), String> {
        let pixels = u64::from(frame.width()) * u64::from(frame.height());
        if let Some(limit) = self.max_pixels.filter(|&l| pixels > l) {
            return Err(format!("frame {index} has {pixels} pixels, over the limit of {limit}"));
        }
        let image = self.converter.convert(frame)?;
        let timestamp_s = frame.timestamp().map(|t| t.saturating_sub(self.start_time) as f64 * self.time_base);
        self.frames.push(SampledFrame { index, timestamp_s, image });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Seeking

/// `Auto` does not look for seeks when wanted frames are on average closer than this: decoding everything
/// between them is then about as cheap, and a DFDC clip (300 frames, 32 wanted: gap 9.4) keeps the original's
/// single pass without even the demux pass a plan needs.
pub const MIN_MEAN_GAP: u64 = 32;

/// Where the decoder starts for some wanted frames, and which frames it then keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    /// Decode-order position of the keyframe to start from.
    pub start: usize,
    /// Decode-order position of the last packet of a wanted frame in this run.
    pub end: usize,
    /// `(frame index, pts)` of the wanted frames the run decodes.
    pub targets: Vec<(u64, i64)>,
}

/// The seeks that decode every wanted frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeekPlan {
    pub runs: Vec<Run>,
    /// Frames the sequential pass would decode: up to the last wanted frame's packet.
    pub sequential_decodes: u64,
    /// Some wanted frames are past the last packet: the stream ends before them.
    pub beyond_end: bool,
}

impl SeekPlan {
    /// Frames the runs decode (packets from each run's keyframe to its last wanted frame).
    pub fn decodes(&self) -> u64 {
        self.runs.iter().map(|r| (r.end - r.start + 1) as u64).sum()
    }

    /// The rule [`SeekMode::Auto`] applies: seek when that decodes at most half the frames of the single pass.
    pub fn pays(&self) -> bool {
        self.decodes().saturating_mul(2) <= self.sequential_decodes
    }
}

/// Plans the seeks for `wanted` (frame indices in decode output order) from the packet table, or `None` when the
/// table does not let frame indices be mapped to packets for certain. Frame `k` of the sequential pass is the
/// packet with the `k`-th smallest pts only if every packet gives exactly one frame, so this needs every packet
/// with a pts, no two alike, none flagged for discarding, the first one a keyframe. (A stream that still decodes
/// fewer frames than packets is caught while decoding: a wanted pts that never comes out makes [`decode_sampled`]
/// start again sequentially.) Wanted frames past the last packet (a frame count estimated from the duration) are
/// left out, as the single pass would run out of frames before them.
///
/// Each wanted frame is decoded from the last keyframe before it in decode order whose pts is not after it; a
/// frame whose keyframe the previous run has already passed joins that run (decoding on is cheaper than seeking).
pub(crate) fn plan_seeks(table: &[PacketEntry], wanted: &[u64]) -> Option<SeekPlan> {
    if table.is_empty() || !table[0].key {
        return None;
    }
    if table.iter().any(|p| p.pts.is_none() || p.discard) {
        return None;
    }
    let pts: Vec<i64> = table.iter().map(|p| p.pts.expect("checked above")).collect();
    let mut by_pts: Vec<usize> = (0..pts.len()).collect();
    by_pts.sort_unstable_by_key(|&i| pts[i]);
    if by_pts.windows(2).any(|w| pts[w[0]] == pts[w[1]]) {
        return None;
    }
    let keys: Vec<usize> = (0..table.len()).filter(|&i| table[i].key).collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut sequential_end = 0;
    let mut beyond_end = false;
    for &k in wanted {
        let Some(&at) = usize::try_from(k).ok().and_then(|k| by_pts.get(k)) else {
            beyond_end = true;
            break;
        };
        let target = pts[at];
        sequential_end = sequential_end.max(at);
        // The last keyframe at or before `at` in decode order, then back while its pts is after the target
        // (the target is then a leading picture of that keyframe and needs the previous one's references).
        let mut ki = keys.partition_point(|&i| i <= at).checked_sub(1)?;
        while pts[keys[ki]] > target {
            ki = ki.checked_sub(1)?;
        }
        let start = keys[ki];
        match runs.last_mut() {
            Some(run) if start <= run.end => {
                run.end = run.end.max(at);
                run.targets.push((k, target));
            }
            _ => runs.push(Run { start, end: at, targets: vec![(k, target)] }),
        }
    }
    Some(SeekPlan { runs, sequential_decodes: sequential_end as u64 + 1, beyond_end })
}

/// `AVSEEK_FLAG_BACKWARD`: seek to the last keyframe at or before the timestamp.
const SEEK_BACKWARD: c_int = 1;

/// Decodes the plan's runs: seek to each run's keyframe, decode forward, keep the frames whose pts are the run's
/// targets. `Ok(None)` when the file did not behave as the table said (a seek landed after the keyframe, packets
/// came in another order, a wanted frame never came out, the decoder failed): the caller then falls back to the
/// sequential pass, which also reports any error exactly as without seeking.
fn decode_seeking(
    opened: &mut Opened,
    table: &[PacketEntry],
    plan: &SeekPlan,
    threads: usize,
    max_pixels: Option<u64>,
) -> Result<Option<Pass>, String> {
    let position: HashMap<i64, usize> = table.iter().enumerate().filter_map(|(i, p)| Some((p.pts?, i))).collect();
    let mut decoder = open_decoder(opened, threads, max_pixels)?;
    let mut keep = keeper(opened, &[], max_pixels);
    let mut frame = ffmpeg::frame::Video::empty();
    // Decode-order position of the last packet sent to the decoder since the last seek.
    let mut fed: Option<usize> = None;
    let mut seeks = 0u64;
    for run in &plan.runs {
        let mut pending: HashMap<i64, u64> = run.targets.iter().map(|&(k, pts)| (pts, k)).collect();
        let continuing = fed.is_some_and(|f| run.start <= f);
        if !continuing {
            let key = table[run.start];
            let Some(ts) = key.dts.or(key.pts) else { return Ok(None) };
            // SAFETY: a plain FFmpeg call on the format context `opened.input` owns, for a stream index of it.
            let rc = unsafe {
                ffi::av_seek_frame(opened.input.as_mut_ptr(), opened.stream_index as c_int, ts, SEEK_BACKWARD)
            };
            if rc < 0 {
                return Ok(None);
            }
            decoder.flush();
            seeks += 1;
            fed = None;
        }
        let mut started = continuing;
        let mut complete = false;
        for (stream, packet) in opened.input.packets() {
            if stream.index() != opened.stream_index {
                continue;
            }
            let Some(pos) = packet.pts().and_then(|p| position.get(&p).copied()) else { return Ok(None) };
            if !started {
                match pos.cmp(&run.start) {
                    // The seek landed on an earlier keyframe: read on to ours without decoding.
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Greater => return Ok(None),
                    std::cmp::Ordering::Equal => started = true,
                }
            } else if fed.is_some_and(|f| pos != f + 1) {
                return Ok(None);
            }
            fed = Some(pos);
            if decoder.send_packet(&packet).is_err() || !receive(&mut decoder, &mut frame, &mut keep, &mut pending) {
                return Ok(None);
            }
            if pending.is_empty() {
                complete = true;
                break;
            }
        }
        if !complete {
            // The file ended: the last frames are still inside the decoder. After this the decoder needs a flush,
            // so a later run (there should be none) seeks again.
            let _ = decoder.send_eof();
            if !receive(&mut decoder, &mut frame, &mut keep, &mut pending) || !pending.is_empty() {
                return Ok(None);
            }
            fed = None;
        }
    }
    keep.frames.sort_by_key(|f| f.index);
    let method = SamplingMethod::Seek { seeks };
    let end = if plan.beyond_end { StreamEnd::EndOfStream } else { StreamEnd::AllWanted };
    Ok(Some(Pass { frames: keep.frames, decoded: keep.decoded, end, method }))
}

/// Takes every frame the decoder has ready, keeping those whose pts is pending; `false` on a decoder error or a
/// frame that cannot be converted.
fn receive(
    decoder: &mut ffmpeg::decoder::Video,
    frame: &mut ffmpeg::frame::Video,
    keep: &mut Keeper,
    pending: &mut HashMap<i64, u64>,
) -> bool {
    loop {
        match decoder.receive_frame(frame) {
            Ok(()) => {
                keep.decoded += 1;
                if let Some(index) = frame.pts().or(frame.timestamp()).and_then(|p| pending.remove(&p)) {
                    if keep.keep(frame, index).is_err() {
                        return false;
                    }
                }
            }
            Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => return true,
            Err(ffmpeg::Error::Eof) => return true,
            Err(_) => return false,
        }
    }
}
