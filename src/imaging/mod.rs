//! Image operations that must reproduce the Python originals pixel for pixel.
//!
//! The DFDC solution runs four different resamplers at four different stages, and they must not be
//! unified (dfdc-solution.md §6.3):
//! - [`pillow::resize_bicubic`]: Pillow's default `Image.resize`, the detector's half-size input (§5.3, §9.2);
//! - [`area::resize_to_planar`]: torch `interpolate(mode="area")`, MTCNN's pyramid and 24/48 crops (§6.2, §9.3);
//! - [`opencv::resize_area`] / [`opencv::resize_cubic`]: `cv2.INTER_AREA` / `cv2.INTER_CUBIC` for the
//!   380×380 classifier input (§5.4, §9.8);
//! - [`crop`]: the face crop with its `h//3` margins, the isotropic resize and the centring (§5.3, §5.4, §9.7, §9.8);
//! - [`normalize::to_nchw`]: `(x/255 − mean)/std`, NCHW (§5.4, §9.9).
//!
//! Everything here is pure Rust and deterministic: no Burn, no threads, no global state. Fixtures come from
//! `scripts/reference/make_image_fixtures.py`.

pub mod area;
pub mod crop;
pub mod load;
pub mod normalize;
pub mod opencv;
pub mod pillow;
pub mod ssim;

pub use image::RgbImage;

/// Invalid input to an imaging function (resizers never fail: every size, 0 included, has an answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImagingError {
    /// The images of one batch must share one size to form an NCHW tensor.
    #[error("image {index} is {found:?} (width, height), the batch's first image is {expected:?}")]
    SizeMismatch { index: usize, expected: (u32, u32), found: (u32, u32) },
    /// A crop rectangle `(x0, y0, x1, y1)` must be non-empty and inside the image.
    #[error("rectangle {rect:?} (x0, y0, x1, y1) is empty or outside the {width}x{height} image")]
    BadRect { rect: (u32, u32, u32, u32), width: u32, height: u32 },
}
