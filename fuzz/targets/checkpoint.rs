//! bytes -> weight file reader -> every tensor's data -> strict loading into the MTCNN networks; the body is
//! `common::checkpoint`. A refused file is fine; a panic that escapes, an abort (an allocation the file talked us
//! into), a hang or a stack overflow is a finding.

#[path = "common.rs"]
mod common;

fn main() {
    let path = common::scratch("checkpoint");
    afl::fuzz_nohook!(|data: &[u8]| {
        common::checkpoint(&path, data);
    });
    let _ = std::fs::remove_file(&path);
}
