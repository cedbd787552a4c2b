//! deepfake-detector: tells whether a video of a person has been manipulated.
//!
//! Data flows one way: video → frames → faces → crops → scores → verdict.
//! `video` decodes and samples frames, `face` finds faces (MTCNN), `image` holds the resamplers that must match
//! OpenCV/Pillow/PyTorch, `model` holds the EfficientNet classifier, `weights` reads PyTorch/safetensors/Burn
//! files, `infer` runs the per-video pipeline, `serve` (feature `serve`) offers it over HTTP.
//!
//! The command line (`src/main.rs`, `src/cli/`) is a separate binary crate: the library needs neither clap nor
//! indicatif, and reports progress through callbacks ([`infer::Event`]).

pub mod atomic;
pub mod cancel;
pub mod config;
pub mod device;
pub mod eval;
pub mod face;
pub mod imaging;
pub mod infer;
pub mod model;
pub mod plots;
pub mod preprocess;
#[cfg(feature = "serve")]
pub mod serve;
pub mod synth;
pub mod train;
pub mod video;
pub mod weights;
