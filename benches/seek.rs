//! Sampling 32 frames from a long file: seeking to the keyframe before each wanted frame (`SeekMode::Auto`, the
//! default) against the original's single sequential pass (`SeekMode::Never`), same frames (tests/video.rs checks
//! the pixels are identical).
//!
//!   cargo bench --bench seek                       # a 10-minute 1280×720 H.264 file, keyframe every 250 frames
//!   BENCH_MINUTES=60 BENCH_REPEATS=3 …             # longer files (made once, kept in $DEEPFAKE_CACHE/bench-seek/)
//!
//! One JSON line per mode: seconds per file and frames decoded.

#[path = "common.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{knob, time_case};
use deepfake_detector::video::{sample_frames, SampleOptions, SeekMode};

fn long_file(minutes: usize) -> PathBuf {
    let cache = std::env::var_os("DEEPFAKE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache"));
    let dir = cache.join("bench-seek");
    std::fs::create_dir_all(&dir).expect("creating the bench folder");
    let path = dir.join(format!("long_{minutes}min_720p.mp4"));
    if !path.exists() {
        let tmp = dir.join("making.mp4");
        let seconds = (minutes * 60).to_string();
        let status = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t"])
            .arg(&seconds)
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-pix_fmt", "yuv420p"])
            .arg(&tmp)
            .status()
            .expect("running ffmpeg");
        assert!(status.success(), "ffmpeg failed");
        std::fs::rename(&tmp, &path).expect("renaming the bench file");
    }
    path
}

fn main() {
    let minutes = knob("BENCH_MINUTES", 10);
    let repeats = knob("BENCH_REPEATS", 3);
    let path = long_file(minutes);
    for (name, seek) in [("auto", SeekMode::Auto), ("never", SeekMode::Never)] {
        let options = SampleOptions { seek, ..SampleOptions::default() };
        let mut decoded = 0;
        time_case(&format!("sample32_{minutes}min_720p_seek_{name}"), 1, 0, repeats, |_| {
            let frames = sample_frames(&path, &options).expect("sampling the bench file");
            decoded = frames.decoded_frames;
        });
        println!("{{\"case\": \"decoded_{name}\", \"frames_decoded\": {decoded}}}");
    }
}
