//! Neural networks: the EfficientNet encoder, the DFDC classifier head, the fused CPU kernels behind a backend
//! trait, and Grad-CAM. Nothing here touches files.

pub mod classifier;
pub mod efficientnet;
pub mod fused;
pub mod gradcam;
