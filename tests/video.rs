//! The `video` stage on real media and on a corpus of bad inputs.
//!
//! Fixtures: `tests/fixtures/video/*.json` and `single_face_f{0,36}.png` come from
//! `scripts/reference/make_video_fixtures.py` (cv2 5.0.0 with its bundled FFmpeg 8, the original's `read_frames`
//! loop); `tests/fixtures/video/colour/` (tiny clips with other colour tags, ranges, chroma layouts and bit depths,
//! and cv2's frames of them) comes from `scripts/reference/make_colour_fixtures.py`.
//! Media: `$DEEPFAKE_CACHE/media` (default `<repo>/.cache/media`), fetched by `scripts/fetch-media.sh`.
//! The bad-input corpus is made in a temporary directory, partly with the `ffmpeg` CLI.
//!
//! Pixel parity: we match cv2 5.0's YUV -> BGR conversion (same-size swscale, SWS_BICUBIC, matrix and range from the
//! frame's colour tags; see src/video/convert.rs) with RGB24 output. Measured with Debian's FFmpeg 5.1: every frame of
//! the five test videos and of the 8-bit colour clips is identical to cv2's (max abs difference 0, mean 0), so those
//! tests require equal SHA-256 digests and an exact match with the PNG frames. 10-bit clips go through swscale's
//! generic path, which changed between FFmpeg 5.1 and 8: measured max 8 / mean 1.31 (untagged) and max 10 / mean
//! 1.69 (BT.709) on frame 0; the test allows max 12, mean 2.

use std::path::{Path, PathBuf};
use std::process::Command;

use deepfake_detector::video::{
    probe, sample_frames, sample_indices, FrameCountSource, SampleOptions, SampledVideo, SamplingMethod, SeekMode,
    SizeLimit, StreamEnd, VideoError,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const VIDEOS: [&str; 5] =
    ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn media(name: &str) -> PathBuf {
    let cache = std::env::var_os("DEEPFAKE_CACHE").map(PathBuf::from).unwrap_or_else(|| repo().join(".cache"));
    let path = cache.join("media").join(name);
    assert!(
        path.is_file(),
        "test media {} is missing: run scripts/fetch-media.sh (it fills $DEEPFAKE_CACHE/media, default .cache/media)",
        path.display()
    );
    path
}

fn fixture(name: &str) -> PathBuf {
    let path = repo().join("tests/fixtures/video").join(name);
    assert!(path.is_file(), "fixture {} is missing: run scripts/reference/make_video_fixtures.py", path.display());
    path
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).expect("fixture is readable"))
        .expect("fixture is valid JSON")
}

fn u64_list(v: &Value) -> Vec<u64> {
    v.as_array().expect("a JSON array").iter().map(|x| x.as_u64().expect("a non-negative integer")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn sample(path: &Path) -> SampledVideo {
    sample_frames(path, &SampleOptions::default()).unwrap_or_else(|e| panic!("sampling failed: {e}"))
}

fn kept_indices(v: &SampledVideo) -> Vec<u64> {
    v.frames.iter().map(|f| f.index).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Real media against the cv2 fixtures

#[test]
fn probe_reports_opencv_frame_counts_and_sizes() {
    for name in VIDEOS {
        let fx = fixture_json(&format!("{name}.json"));
        let info = probe(media(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.frame_count, fx["frame_count"].as_u64(), "{name}");
        assert_eq!(info.frame_count_source, FrameCountSource::Container, "{name}");
        assert_eq!(u64::from(info.width), fx["width"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(info.height), fx["height"].as_u64().unwrap(), "{name}");
        let codec = if name.ends_with(".mov") { "hevc" } else { "h264" };
        assert_eq!(info.codec, codec, "{name}");
        assert!(info.duration_s.unwrap() > 2.0, "{name}");
        assert!(info.fps.unwrap() > 20.0, "{name}");
    }
    // The figures the task names, spelled out.
    assert_eq!(probe(media("WolfgangLanger_Pexels.mp4")).unwrap().frame_count, Some(472));
    assert_eq!(probe(media("single_face.mp4")).unwrap().frame_count, Some(72));
    assert_eq!(probe(media("face_noface.mov")).unwrap().frame_count, Some(169));
    assert_eq!(probe(media("noface_face.mov")).unwrap().frame_count, Some(169));
    assert_eq!(probe(media("no_face.mp4")).unwrap().frame_count, Some(98));
}

#[test]
fn samples_the_originals_indices_and_frames() {
    for name in VIDEOS {
        let fx = fixture_json(&format!("{name}.json"));
        let v = sample(&media(name));
        assert_eq!(v.wanted, u64_list(&fx["sampled_indices"]), "{name}: sampled indices");
        assert_eq!(kept_indices(&v), u64_list(&fx["kept_indices"]), "{name}: kept indices");
        for f in &v.frames {
            assert_eq!(u64::from(f.image.width()), fx["width"].as_u64().unwrap(), "{name}");
            assert_eq!(u64::from(f.image.height()), fx["height"].as_u64().unwrap(), "{name}");
        }
    }
}

#[test]
fn keeps_what_was_read_when_the_frame_count_is_too_large() {
    // no_face.mp4: the header says 98 frames, 95 decode (in cv2 too: "grab failed at frame 95").
    let v = sample(&media("no_face.mp4"));
    assert_eq!(v.info.frame_count, Some(98));
    assert_eq!(*v.wanted.last().unwrap(), 97);
    assert_eq!(v.decoded_frames, 95);
    assert_eq!(v.end, StreamEnd::EndOfStream);
    assert_eq!(v.frames.len(), 31);
    assert_eq!(kept_indices(&v).last(), Some(&93));
}

#[test]
fn decoded_frames_match_opencv_bit_for_bit() {
    for name in VIDEOS {
        let fx = fixture_json(&format!("{name}.json"));
        let v = sample(&media(name));
        let expected = fx["frames"].as_array().unwrap();
        assert_eq!(v.frames.len(), expected.len(), "{name}");
        for (ours, theirs) in v.frames.iter().zip(expected) {
            let raw = ours.image.as_raw();
            let pixels = (raw.len() / 3) as f64;
            let means: Vec<f64> =
                (0..3).map(|c| raw.iter().skip(c).step_by(3).map(|&b| f64::from(b)).sum::<f64>() / pixels).collect();
            let their_means: Vec<f64> =
                theirs["rgb_mean"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
            assert_eq!(
                sha256_hex(raw),
                theirs["rgb_sha256"].as_str().unwrap(),
                "{name} frame {}: RGB bytes differ from cv2's (channel means ours {means:?} vs cv2 {their_means:?})",
                ours.index
            );
        }
    }
}

#[test]
fn png_frames_match_opencv_exactly() {
    let v = sample(&media("single_face.mp4"));
    for index in [0u64, 36] {
        let png = image::open(fixture(&format!("single_face_f{index}.png"))).expect("fixture PNG decodes").to_rgb8();
        let ours = &v.frames.iter().find(|f| f.index == index).expect("frame was sampled").image;
        assert_eq!(ours.dimensions(), png.dimensions());
        let diffs: Vec<u8> = ours.as_raw().iter().zip(png.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
        let max = diffs.iter().copied().max().unwrap();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        // Measured: max 0, mean 0 (see the header comment).
        assert!(max == 0 && mean == 0.0, "frame {index}: max abs diff {max}, mean {mean}");
    }
}

#[test]
fn converts_colour_tags_ranges_and_chroma_layouts_like_opencv() {
    let fx = fixture_json("colour/colour.json");
    for clip in fx["clips"].as_array().unwrap() {
        let name = clip["file"].as_str().unwrap();
        let path = fixture(&format!("colour/{name}"));
        let v = sample_frames(&path, &SampleOptions { frames: 100, ..Default::default() })
            .unwrap_or_else(|e| panic!("{e}"));
        let expected = clip["frames"].as_array().unwrap();
        assert_eq!(v.frames.len(), expected.len(), "{name}");
        let probe = &clip["ffprobe"];
        assert_eq!(u64::from(v.info.width), probe["width"].as_u64().unwrap(), "{name}");
        if clip["bit_exact_expected"].as_bool().unwrap() {
            for (ours, theirs) in v.frames.iter().zip(expected) {
                assert_eq!(
                    sha256_hex(ours.image.as_raw()),
                    theirs["rgb_sha256"].as_str().unwrap(),
                    "{name} ({} {:?} {:?}) frame {}",
                    probe["pix_fmt"],
                    probe.get("color_space"),
                    probe.get("color_range"),
                    ours.index
                );
            }
        } else {
            let png_name = clip["png_f0"].as_str().unwrap();
            let png = image::open(fixture(&format!("colour/{png_name}"))).unwrap().to_rgb8();
            let ours = &v.frames[0].image;
            assert_eq!(ours.dimensions(), png.dimensions(), "{name}");
            let diffs: Vec<u8> = ours.as_raw().iter().zip(png.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
            let max = diffs.iter().copied().max().unwrap();
            let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
            assert!(max <= 12 && mean <= 2.0, "{name}: max abs diff {max}, mean {mean}");
        }
    }
}

#[test]
fn single_and_multi_threaded_decoding_agree() {
    let path = media("face_noface.mov");
    let one = sample_frames(&path, &SampleOptions { threads: 1, ..Default::default() }).unwrap();
    let auto = sample(&path);
    assert_eq!(kept_indices(&one), kept_indices(&auto));
    for (a, b) in one.frames.iter().zip(&auto.frames) {
        assert!(a.image == b.image, "frame {} differs between 1 and automatic threads", a.index);
    }
}

#[test]
fn sample_indices_follow_numpy_linspace() {
    let fx = fixture_json("sampling.json");
    for case in fx["cases"].as_array().unwrap() {
        let count = case["frame_count"].as_u64().unwrap();
        let ours = sample_indices(count, 32);
        let Some(theirs) = case["sampled_indices"].as_array().map(|_| u64_list(&case["sampled_indices"])) else {
            assert!(ours.is_empty(), "frame_count {count}");
            continue;
        };
        // numpy's linspace, each index once. For frame_count >= 32 that is the original exactly; below it the
        // original repeats indices and keeps only the frames before the first repeat, while we keep each distinct
        // frame (dfdc-solution.md §5.2; documented on `sample_indices`).
        let mut distinct = theirs.clone();
        distinct.dedup();
        assert_eq!(ours, distinct, "frame_count {count}");
        if count >= 32 {
            assert_eq!(ours, theirs, "frame_count {count}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Bad inputs, made here

fn ffmpeg_cli(args: &[&str]) {
    let status =
        Command::new("ffmpeg").args(["-v", "error", "-y", "-nostdin"]).args(args).status().unwrap_or_else(|e| {
            panic!(
                "the `ffmpeg` command-line tool is needed to build the bad-input corpus ({e}); install it \
                 (Debian: apt-get install ffmpeg; the project's test command installs it)"
            )
        });
    assert!(status.success(), "ffmpeg {args:?} failed");
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("temp file is writable");
    path
}

/// A small H.264 clip from FFmpeg's test pattern.
fn make_clip(dir: &Path, name: &str, frames: u32, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let frames = frames.to_string();
    let mut args = vec!["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", &frames];
    args.extend_from_slice(&["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg_cli(&args);
    path
}

fn sample_err(path: &Path, options: &SampleOptions) -> VideoError {
    match sample_frames(path, options) {
        Ok(v) => panic!("{} sampled {} frames, expected an error", path.display(), v.frames.len()),
        Err(e) => {
            assert_eq!(e.path(), path);
            assert!(e.to_string().contains(&*path.to_string_lossy()), "message names the file: {e}");
            e
        }
    }
}

#[test]
fn rejects_an_empty_file() {
    let dir = tempdir();
    let path = write(dir.path(), "empty.mp4", b"");
    let e = sample_err(&path, &SampleOptions::default());
    assert!(matches!(e, VideoError::Empty { .. }), "{e}");
    assert_eq!(e.status(), "empty");
    assert!(matches!(probe(&path), Err(VideoError::Empty { .. })));
}

#[test]
fn reports_a_missing_file_as_an_io_error() {
    let dir = tempdir();
    let e = sample_err(&dir.path().join("missing.mp4"), &SampleOptions::default());
    assert!(matches!(e, VideoError::Io { .. }), "{e}");
    assert_eq!(e.status(), "io_error");
}

#[test]
fn rejects_a_directory_and_a_text_file_named_mp4() {
    let dir = tempdir();
    let folder = dir.path().join("folder.mp4");
    std::fs::create_dir(&folder).unwrap();
    let e = sample_err(&folder, &SampleOptions::default());
    assert!(matches!(e, VideoError::Unreadable { .. }), "{e}");

    let text = write(dir.path(), "notes.mp4", b"this is a text file, not a video\n");
    let e = sample_err(&text, &SampleOptions::default());
    assert!(matches!(e, VideoError::Unreadable { .. }), "{e}");
    assert_eq!(e.status(), "unreadable");
}

#[test]
fn rejects_a_truncated_mp4_whose_index_is_at_the_end() {
    // single_face.mp4 keeps its `moov` index after the media data: its first 10% has no index at all.
    let bytes = std::fs::read(media("single_face.mp4")).unwrap();
    let dir = tempdir();
    let path = write(dir.path(), "truncated.mp4", &bytes[..bytes.len() / 10]);
    let e = sample_err(&path, &SampleOptions::default());
    assert!(matches!(e, VideoError::Unreadable { .. }), "{e}");
}

#[test]
fn keeps_the_frames_before_the_cut_of_a_truncated_faststart_mp4() {
    // WolfgangLanger_Pexels.mp4 has its index first: the first 10% opens, claims 472 frames and decodes 41 of them
    // (cv2 5.0 grabs 41 too) before the data runs out.
    let bytes = std::fs::read(media("WolfgangLanger_Pexels.mp4")).unwrap();
    let dir = tempdir();
    let path = write(dir.path(), "truncated.mp4", &bytes[..bytes.len() / 10]);
    // One decoder thread: how many frames come out before the error depends on the thread count (41 with 1 thread).
    let v = sample_frames(&path, &SampleOptions { threads: 1, ..Default::default() }).unwrap();
    assert_eq!(v.info.frame_count, Some(472));
    assert_eq!(v.decoded_frames, 41);
    assert_eq!(kept_indices(&v), [0, 15, 30]);
    assert!(v.end != StreamEnd::AllWanted);
}

#[test]
fn rejects_an_audio_only_file() {
    let dir = tempdir();
    let path = dir.path().join("sine.mp4");
    ffmpeg_cli(&["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", path.to_str().unwrap()]);
    let e = sample_err(&path, &SampleOptions::default());
    assert!(matches!(&e, VideoError::NoVideoStream { found, .. } if found.contains("audio")), "{e}");
    assert_eq!(e.status(), "no_video_stream");
}

#[test]
fn rejects_a_still_png_named_mp4() {
    let dir = tempdir();
    let path = write(dir.path(), "photo.mp4", &std::fs::read(media("astronaut.png")).unwrap());
    let e = sample_err(&path, &SampleOptions::default());
    assert!(matches!(&e, VideoError::NoVideoStream { found, .. } if found.contains("still image")), "{e}");
}

#[test]
fn rejects_videos_over_the_configured_limits() {
    let path = media("single_face.mp4");
    let bytes = std::fs::metadata(&path).unwrap().len();
    let e = sample_err(&path, &SampleOptions { max_file_bytes: Some(bytes - 1), ..Default::default() });
    assert!(
        matches!(e, VideoError::TooLarge { what: SizeLimit::FileBytes, actual, limit, .. } if actual == bytes && limit == bytes - 1),
        "{e}"
    );
    assert_eq!(e.status(), "too_large");
    let e = sample_err(&path, &SampleOptions { max_pixels: Some(640 * 360 - 1), ..Default::default() });
    assert!(matches!(e, VideoError::TooLarge { what: SizeLimit::FramePixels, actual: 230_400, .. }), "{e}");
    // Exactly at the limits is fine.
    let at_limit = SampleOptions { max_file_bytes: Some(bytes), max_pixels: Some(640 * 360), ..Default::default() };
    assert_eq!(sample_frames(&path, &at_limit).unwrap().frames.len(), 32);
}

#[test]
fn returns_every_frame_of_a_5_frame_video() {
    let dir = tempdir();
    let path = make_clip(dir.path(), "five.mp4", 5, &[]);
    let v = sample(&path);
    assert_eq!(v.info.frame_count, Some(5));
    assert_eq!(v.wanted, [0, 1, 2, 3, 4]);
    assert_eq!(kept_indices(&v), [0, 1, 2, 3, 4]);
    assert_eq!(v.end, StreamEnd::AllWanted);
    assert!(v.frames.iter().all(|f| f.image.dimensions() == (320, 240)));
}

#[test]
fn falls_back_to_counting_packets_when_the_container_has_no_count() {
    let dir = tempdir();
    // Matroska has no per-stream frame count: OpenCV's duration x fps rule answers.
    let mkv = make_clip(dir.path(), "ten.mkv", 10, &[]);
    let info = probe(&mkv).unwrap();
    assert_eq!((info.frame_count, info.frame_count_source), (Some(10), FrameCountSource::DurationTimesFps));
    // A raw H.264 elementary stream has neither a count nor a duration: OpenCV's answer is <= 0, we count packets.
    let raw = make_clip(dir.path(), "ten.h264", 10, &["-f", "h264"]);
    let info = probe(&raw).unwrap();
    assert_eq!((info.frame_count, info.frame_count_source), (Some(10), FrameCountSource::PacketCount));
    assert_eq!(kept_indices(&sample(&raw)), (0..10).collect::<Vec<_>>());
}

#[test]
fn rejects_a_codec_without_a_decoder() {
    // Rename the Matroska codec ID to one no FFmpeg knows; the track still says "video".
    let dir = tempdir();
    let mkv = make_clip(dir.path(), "ten.mkv", 10, &[]);
    let bytes = std::fs::read(&mkv).unwrap();
    let at = bytes.windows(15).position(|w| w == b"V_MPEG4/ISO/AVC").expect("libx264 in Matroska says V_MPEG4/ISO/AVC");
    let mut patched = bytes.clone();
    patched[at..at + 15].copy_from_slice(b"V_QQQQQ/ISO/QQQ");
    let path = write(dir.path(), "mystery.mkv", &patched);
    let e = sample_err(&path, &SampleOptions::default());
    assert!(matches!(e, VideoError::UnsupportedCodec { .. }), "{e}");
    assert_eq!(e.status(), "unsupported_codec");
}

#[test]
fn reports_no_frames_when_the_container_is_fine_but_nothing_decodes() {
    // Index first, then overwrite every media byte: the container parses, the decoder gets garbage.
    let dir = tempdir();
    let clip = make_clip(dir.path(), "clip.mp4", 5, &["-movflags", "+faststart"]);
    let mut bytes = std::fs::read(&clip).unwrap();
    let mdat = bytes.windows(4).position(|w| w == b"mdat").expect("an mdat box");
    let size = u32::from_be_bytes(bytes[mdat - 4..mdat].try_into().unwrap()) as usize;
    bytes[mdat + 4..mdat - 4 + size].fill(0xff);
    let path = write(dir.path(), "garbage.mp4", &bytes);
    let e = sample_err(&path, &SampleOptions::default());
    assert!(matches!(e, VideoError::NoFrames { .. }), "{e}");
    assert_eq!(e.status(), "no_frames");
}

#[test]
fn never_panics_on_cut_or_corrupted_media() {
    // Every outcome is fine except a panic (which fails the test) or an Ok without frames.
    let dir = tempdir();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for name in ["single_face.mp4", "face_noface.mov", "WolfgangLanger_Pexels.mp4"] {
        let bytes = std::fs::read(media(name)).unwrap();
        for step in 1..8 {
            let cut = write(dir.path(), "cut.mp4", &bytes[..bytes.len() * step / 8]);
            check_no_panic(&cut);
            // Flip a few hundred bytes after the first 64 (xorshift, deterministic).
            let mut noisy = bytes.clone();
            for _ in 0..300 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = 64 + (seed as usize) % (noisy.len() - 64);
                noisy[at] ^= (seed >> 32) as u8 | 1;
            }
            check_no_panic(&write(dir.path(), "noisy.mp4", &noisy));
        }
    }
}

fn check_no_panic(path: &Path) {
    let options = SampleOptions { frames: 8, ..Default::default() };
    if let Ok(v) = sample_frames(path, &options) {
        assert!(!v.frames.is_empty());
        assert!(v.frames.windows(2).all(|w| w[0].index < w[1].index));
    }
    let _ = probe(path);
}

// ---------------------------------------------------------------------------------------------------------------
// Seeking: the same frames as the single pass

fn with_seek(frames: usize, seek: SeekMode) -> SampleOptions {
    SampleOptions { frames, seek, ..Default::default() }
}

/// Samples `path` by seeking and sequentially and requires the same indices and the same pixels; returns both.
fn assert_seeking_matches_the_single_pass(path: &Path, frames: usize) -> (SampledVideo, SampledVideo) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let single = sample_frames(path, &with_seek(frames, SeekMode::Never)).unwrap_or_else(|e| panic!("{e}"));
    let seeking = sample_frames(path, &with_seek(frames, SeekMode::Always)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(single.method, SamplingMethod::Sequential, "{name}");
    assert_eq!(seeking.wanted, single.wanted, "{name}");
    assert_eq!(kept_indices(&seeking), kept_indices(&single), "{name} ({frames} frames)");
    for (a, b) in seeking.frames.iter().zip(&single.frames) {
        assert!(a.image == b.image, "{name} ({frames} frames): frame {} differs when reached by seeking", a.index);
        assert_eq!(a.timestamp_s, b.timestamp_s, "{name} frame {}", a.index);
    }
    // Rule: a file whose every wanted frame decodes is sampled by seeking; no_face.mp4, whose header promises 98
    // frames of which 95 decode, gets the single pass (its packet table does not map frames to packets, or a
    // wanted frame never comes out of a seek).
    assert_eq!(seeking.end, single.end, "{name}");
    let expected = if name == "no_face.mp4" {
        matches!(seeking.method, SamplingMethod::Sequential | SamplingMethod::SeekFellBack)
    } else {
        matches!(seeking.method, SamplingMethod::Seek { seeks } if seeks >= 1)
    };
    assert!(expected, "{name} ({frames} frames): {:?} after a single pass that ended {:?}", seeking.method, single.end);
    (seeking, single)
}

#[test]
fn seeking_gives_the_same_frames_as_the_single_pass_on_the_test_clips() {
    // H.264 (.mp4, keyframes every 72 frames or only the first) and HEVC (.mov, every 30 frames, B-frames).
    for name in VIDEOS {
        for frames in [32, 8, 3] {
            assert_seeking_matches_the_single_pass(&media(name), frames);
        }
    }
    // With 8 frames of WolfgangLanger_Pexels.mp4 (gap 67, keyframes every 72) most wanted frames need a seek.
    let (seeking, single) = assert_seeking_matches_the_single_pass(&media("WolfgangLanger_Pexels.mp4"), 8);
    assert!(matches!(seeking.method, SamplingMethod::Seek { seeks } if seeks >= 5), "{:?}", seeking.method);
    assert!(seeking.decoded_frames < single.decoded_frames, "{} vs {}", seeking.decoded_frames, single.decoded_frames);
}

#[test]
fn the_test_clips_keep_the_single_pass_by_default() {
    // 32 of 72..472 frames: wanted frames are closer than 32 on average, so `Auto` does not even plan seeks.
    for name in VIDEOS {
        assert_eq!(sample(&media(name)).method, SamplingMethod::Sequential, "{name}");
    }
}

#[test]
fn a_ten_minute_video_is_sampled_without_decoding_every_frame() {
    // 10 minutes at 25 fps = 15 000 frames, H.264 with B-frames and a keyframe every 125 frames (5 s); in MP4 and
    // in Matroska (whose seek index holds only keyframes, by pts).
    let dir = tempdir();
    for container in ["mp4", "mkv"] {
        let path = dir.path().join(format!("long.{container}"));
        let p = path.to_str().unwrap();
        ffmpeg_cli(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x36:rate=25",
            "-t",
            "600",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "125",
            "-bf",
            "3",
            "-pix_fmt",
            "yuv420p",
            p,
        ]);
        let auto = sample_frames(&path, &SampleOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        if container == "mp4" {
            assert_eq!(auto.info.frame_count, Some(15_000));
        }
        assert!(matches!(auto.method, SamplingMethod::Seek { .. }), "{container}: {:?}", auto.method);
        // Each of the 32 wanted frames is at most 125 frames after its keyframe, plus the decoder's reorder delay.
        assert!(auto.decoded_frames <= 32 * (125 + 8), "{container}: decoded {} frames", auto.decoded_frames);
        let single = sample_frames(&path, &with_seek(32, SeekMode::Never)).unwrap();
        assert!(single.decoded_frames >= 14_999, "{container}: {}", single.decoded_frames);
        assert_eq!(kept_indices(&auto), kept_indices(&single), "{container}");
        assert_eq!(auto.end, single.end, "{container}");
        for (a, b) in auto.frames.iter().zip(&single.frames) {
            assert!(a.image == b.image, "{container}: frame {} differs when reached by seeking", a.index);
        }
    }
}

#[test]
fn seeking_matches_the_single_pass_on_open_gop_hevc() {
    // x265 defaults to open GOPs: leading pictures after each CRA keyframe belong, in display order, to the GOP
    // before it, so a wanted frame among them must be decoded from the previous keyframe.
    let dir = tempdir();
    let path = dir.path().join("open_gop.mp4");
    let p = path.to_str().unwrap();
    ffmpeg_cli(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=25",
        "-t",
        "40",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "keyint=50:min-keyint=50:open-gop=1:bframes=4:log-level=error",
        "-pix_fmt",
        "yuv420p",
        p,
    ]);
    assert_eq!(probe(&path).unwrap().codec, "hevc");
    for frames in [32, 13, 5] {
        let (seeking, _) = assert_seeking_matches_the_single_pass(&path, frames);
        assert!(matches!(seeking.method, SamplingMethod::Seek { .. }), "{:?}", seeking.method);
    }
    // Every frame asked for, so that the leading pictures are among them.
    assert_seeking_matches_the_single_pass(&path, 1000);
}
