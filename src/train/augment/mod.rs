//! Training augmentations in the solution's order (dfdc-solution.md §3.5–3.6), each a small function in
//! [`dropout`] or [`albu`] with its probability here, so the list below reads as the original's.

pub mod albu;
pub mod dropout;

use image::{GrayImage, RgbImage};
use rand::Rng;

use crate::imaging::crop::{isotropic_resize, put_to_center};

use super::config::AugmentConfig;
use dropout::Landmarks5;

/// What preprocessing stored beside a crop, used by the face-part dropouts.
#[derive(Debug, Clone, Default)]
pub struct CropExtras {
    /// The 5 MTCNN points of the original's crop.
    pub landmarks5: Option<Landmarks5>,
    /// The 68 points of the original's crop.
    pub landmarks68: Option<Vec<(f64, f64)>>,
    /// The SSIM difference to the original (fakes only; reals and missing files: none).
    pub diff: Option<GrayImage>,
}

/// The face-part dropouts ("hardcore" in the solution), training-recipes.md §2.1:
/// landmarks present and `R < .7` → remove eyes / mouth / nose; else `R < .2` → black out half the face;
/// else `R < .1` → bit-mask dropout. `label` is the smoothed label.
pub fn face_part_dropouts(img: &mut RgbImage, extras: &mut CropExtras, label: f32, w_quirk: bool, rng: &mut impl Rng) {
    if let Some(lm) = extras.landmarks5.as_ref().filter(|_| rng.random::<f64>() < 0.7) {
        dropout::remove_landmark(img, lm, rng);
    } else if rng.random::<f64>() < 0.2 {
        if let Some(lm68) = &extras.landmarks68 {
            dropout::blackout_half_face(img, lm68, rng);
        }
    } else if rng.random::<f64>() < 0.1 {
        let mut zeros;
        let diff = match extras.diff.as_mut() {
            Some(d) => d,
            None => {
                zeros = GrayImage::new(img.width(), img.height());
                &mut zeros
            }
        };
        dropout::bitmask_dropout(img, diff, label, w_quirk, rng);
    }
}

/// The whole training pipeline for one crop: dropouts, then the albumentations list, ending at `size`×`size`.
pub fn train_augment(
    mut img: RgbImage,
    extras: &mut CropExtras,
    label: f32,
    size: u32,
    config: &AugmentConfig,
    rng: &mut impl Rng,
) -> RgbImage {
    if !config.enabled {
        return val_transform(&img, size);
    }
    if config.dropouts {
        face_part_dropouts(&mut img, extras, label, config.bitmask_w_quirk, rng);
    }
    if rng.random::<f64>() < 0.5 {
        albu::jpeg(&mut img, rng);
    }
    if rng.random::<f64>() < 0.1 {
        albu::gauss_noise(&mut img, rng);
    }
    if rng.random::<f64>() < 0.05 {
        albu::gaussian_blur3(&mut img);
    }
    if rng.random::<f64>() < 0.5 {
        albu::hflip(&mut img);
    }
    // OneOf(3 × IsotropicResize) + PadIfNeeded: the three are identical in effect (AREA down, CUBIC up).
    let mut img = put_to_center(&isotropic_resize(&img, size), size);
    if rng.random::<f64>() < 0.7 {
        match rng.random_range(0..3) {
            0 => albu::brightness_contrast(&mut img, rng),
            1 => albu::fancy_pca(&mut img, rng),
            _ => albu::hue_saturation_value(&mut img, rng),
        }
    }
    if rng.random::<f64>() < 0.2 {
        albu::to_grey(&mut img);
    }
    if rng.random::<f64>() < 0.5 {
        albu::shift_scale_rotate(&mut img, rng);
    }
    img
}

/// Validation: IsotropicResize (AREA down, CUBIC up) and centred black padding to `size`×`size`.
pub fn val_transform(img: &RgbImage, size: u32) -> RgbImage {
    put_to_center(&isotropic_resize(img, size), size)
}
