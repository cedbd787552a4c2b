//! Neural networks: the EfficientNet encoder and the DFDC classifier head. Nothing here touches files.

pub mod classifier;
pub mod efficientnet;
pub mod gradcam;
