//! bytes -> weight file reader (PyTorch zip and legacy pickles, safetensors, Burnpack) -> every tensor's data ->
//! strict loading into the MTCNN networks. A refused file is fine; a panic that escapes, an abort (an allocation
//! the file talked us into), a hang or a stack overflow is a finding.

#[path = "common.rs"]
mod common;

use burn::backend::Flex;
use deepfake_detector::weights::mtcnn::load_mtcnn;
use deepfake_detector::weights::{ModelFile, TensorFile};

fn main() {
    let device = Default::default();
    let path = common::scratch("checkpoint");
    afl::fuzz_nohook!(|data: &[u8]| {
        if std::fs::write(&path, data).is_err() {
            return;
        }
        if let Ok(file) = TensorFile::read(&path) {
            for snapshot in file.tensors.values() {
                let _ = snapshot.to_data();
            }
            let _ = ModelFile::from_tensor_file(&file);
            let _ = load_mtcnn::<Flex>(&path, &device);
        }
    });
    let _ = std::fs::remove_file(&path);
}
