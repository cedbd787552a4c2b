//! deepfake-detector: tells whether a video of a person has been manipulated.
//!
//! Data flows one way: video → frames → faces → crops → scores → verdict.
//! `video` decodes and samples frames, `face` finds faces (MTCNN), `image` holds the resamplers that must match
//! OpenCV/Pillow/PyTorch, `model` holds the EfficientNet classifier, `weights` reads PyTorch/safetensors/Burn
//! files, `infer` runs the per-video pipeline.

pub mod atomic;
pub mod cli;
pub mod device;
pub mod face;
pub mod imaging;
pub mod infer;
pub mod model;
pub mod preprocess;
pub mod synth;
pub mod video;
pub mod weights;
