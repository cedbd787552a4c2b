//! Face detection: facenet-pytorch's MTCNN (PNet → RNet → ONet) in Burn, reproducing `detect_face` exactly.

pub mod boxes;
pub mod detector;
pub mod landmarks;
pub mod nets;
pub mod nms;

pub use detector::{Detector, DetectorConfig, Face, StageTrace};
pub use nets::MtcnnNets;
