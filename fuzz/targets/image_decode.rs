//! bytes -> image header check -> decode (libjpeg-turbo for JPEG, the `image` crate otherwise), as `classify` and
//! `detect` read photos. A pixel limit below the commands' default (4096²) keeps every input fast.

use deepfake_detector::imaging::load::{decode_rgb_checked, image_dimensions};

fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        let _ = image_dimensions(data);
        let _ = decode_rgb_checked(data, 2048 * 2048);
    });
}
