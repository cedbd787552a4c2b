//! Face detection: facenet-pytorch's MTCNN (PNet → RNet → ONet) in Burn, reproducing `detect_face` exactly;
//! then face selection and the crops cut for the classifiers (`select`).

pub mod boxes;
mod config;
pub mod detector;
pub mod landmarks;
pub mod nets;
pub mod nms;
pub mod select;

pub use boxes::{iou, BoxF};
pub use detector::{Detector, DetectorConfig, Face, StageTrace};
pub use nets::MtcnnNets;
pub use select::{prepare_crops, select_faces, FrameSelection, PreparedCrops, SelectedFace};
