//! Neural networks: the EfficientNet encoder, the DFDC classifier head, and the fused CPU kernels behind a backend
//! trait. Nothing here touches files.

pub mod classifier;
pub mod efficientnet;
pub mod fused;
