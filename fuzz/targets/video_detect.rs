//! bytes -> video decode and frame sampling -> Pillow halving -> MTCNN detection (the `infer`/`detect` path up to
//! the faces); the body is `common::video_detect`.

#[path = "common.rs"]
mod common;

fn main() {
    // A panic inside the closure is a finding (AFL sees the abort), so no state survives one to be observed.
    let detector = std::panic::AssertUnwindSafe(common::video_detector());
    let options = common::video_options();
    let path = common::scratch("video");
    afl::fuzz_nohook!(|data: &[u8]| {
        common::video_detect(&detector, &options, &path, data);
    });
    let _ = std::fs::remove_file(&path);
}
