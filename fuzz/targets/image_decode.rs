//! bytes -> image header check -> decode, as `classify` and `detect` read photos; the body is
//! `common::image_decode`.

#[path = "common.rs"]
mod common;

fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        common::image_decode(data);
    });
}
