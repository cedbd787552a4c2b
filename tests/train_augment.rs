//! Every training augmentation on a fixture image keeps its shape and type, and each face-part dropout zeroes the
//! region it should (dfdc-solution.md §3.5–3.6, training-recipes.md §1–2). Fixture: `tests/fixtures/imaging/
//! noise_97x131.png` (uniform noise from `scripts/reference/make_image_fixtures.py`, so almost no pixel is 0 before).

mod common;

use common::fixture;
use deepfake_detector::train::augment::albu;
use deepfake_detector::train::augment::dropout::{self, bit_masks};
use deepfake_detector::train::augment::{train_augment, CropExtras};
use deepfake_detector::train::config::AugmentConfig;
use image::{GrayImage, RgbImage};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn img() -> RgbImage {
    image::open(fixture("imaging/noise_97x131.png")).unwrap().to_rgb8()
}

fn zero(img: &RgbImage, x: u32, y: u32) -> bool {
    img.get_pixel(x, y).0 == [0, 0, 0]
}

fn zeros(img: &RgbImage) -> usize {
    img.pixels().filter(|p| p.0 == [0, 0, 0]).count()
}

#[test]
fn each_transform_keeps_shape_and_type() {
    let base = img();
    let (w, h) = base.dimensions();
    let mut rng = StdRng::seed_from_u64(3);
    type Transform = Box<dyn Fn(&mut RgbImage, &mut StdRng)>;
    let transforms: Vec<(&str, Transform)> = vec![
        ("jpeg", Box::new(albu::jpeg)),
        ("noise", Box::new(albu::gauss_noise)),
        ("blur", Box::new(|i, _| albu::gaussian_blur3(i))),
        ("flip", Box::new(|i, _| albu::hflip(i))),
        ("brightness_contrast", Box::new(albu::brightness_contrast)),
        ("fancy_pca", Box::new(|i, _| albu::fancy_pca_with(i, 0.3))),
        ("hsv", Box::new(albu::hue_saturation_value)),
        ("grey", Box::new(|i, _| albu::to_grey(i))),
        ("shift_scale_rotate", Box::new(|i, _| albu::shift_scale_rotate_with(i, 7.0, 1.1, 0.05, -0.05))),
    ];
    for (name, t) in transforms {
        let mut out = base.clone();
        t(&mut out, &mut rng);
        assert_eq!(out.dimensions(), (w, h), "{name}");
        assert_ne!(out, base, "{name} changed nothing");
    }
    // The whole list ends at the training size whatever the input.
    for seed in 0..20 {
        let mut extras = CropExtras {
            landmarks5: Some([(30.0, 40.0), (66.0, 40.0), (48.0, 60.0), (35.0, 85.0), (62.0, 85.0)]),
            ..Default::default()
        };
        let out = train_augment(
            base.clone(),
            &mut extras,
            0.99,
            64,
            &AugmentConfig::default(),
            &mut StdRng::seed_from_u64(seed),
        );
        assert_eq!(out.dimensions(), (64, 64));
    }
}

#[test]
fn grey_has_equal_channels_and_flip_mirrors() {
    let mut g = img();
    albu::to_grey(&mut g);
    assert!(g.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    let mut f = img();
    albu::hflip(&mut f);
    assert_eq!(f.get_pixel(0, 5), img().get_pixel(96, 5));
}

#[test]
fn jpeg_quality_matters() {
    let (mut lo, mut hi) = (img(), img());
    albu::jpeg_at(&mut lo, 60);
    albu::jpeg_at(&mut hi, 100);
    let err = |a: &RgbImage| {
        a.iter().zip(img().iter()).map(|(x, y)| u64::from((*x as i32 - *y as i32).unsigned_abs())).sum::<u64>()
    };
    assert!(err(&lo) > err(&hi));
}

#[test]
fn remove_eyes_zeroes_the_eye_line_and_its_dilation() {
    let mut i = img();
    let lm = [(30.0, 40.0), (66.0, 40.0), (48.0, 60.0), (35.0, 85.0), (62.0, 85.0)];
    dropout::remove_eyes(&mut i, &lm);
    // The line between the eyes, dilated by int(36 // 4) = 9 (L1): rows 40 ± 10 at the midpoint.
    for x in 30..=66 {
        assert!(zero(&i, x, 40), "eye line at x={x}");
    }
    assert!(zero(&i, 48, 50) && !zero(&i, 48, 52), "dilation reaches 1 (band) + 9 rows");
    assert!(!zero(&i, 48, 85), "the mouth stays");
}

#[test]
fn remove_mouth_and_nose_zero_their_lines() {
    let lm = [(30.0, 40.0), (66.0, 40.0), (48.0, 60.0), (35.0, 85.0), (62.0, 85.0)];
    let mut m = img();
    dropout::remove_mouth(&mut m, &lm);
    assert!((35..=62).all(|x| zero(&m, x, 85)) && !zero(&m, 48, 40));
    let mut n = img();
    dropout::remove_nose(&mut n, &lm);
    assert!((40..=60).all(|y| zero(&n, 48, y)) && !zero(&n, 48, 85));
    // A face too small for the divisor: iterations 0 dilate to convergence, the whole crop (the original's quirk).
    let mut tiny = img();
    dropout::remove_eyes(&mut tiny, &[(30.0, 40.0), (32.0, 40.0), (31.0, 45.0), (30.0, 50.0), (32.0, 50.0)]);
    assert_eq!(zeros(&tiny), 97 * 131);
}

#[test]
fn half_face_blackout_stays_inside_the_outline() {
    // dlib's layout on an ellipse around (48, 65): jaw 0–16 along the bottom from left to right, brows 17–26
    // along the top from left to right (the rest unused here).
    use std::f64::consts::PI;
    let on_ellipse = |t: f64| (48.0 + 30.0 * t.cos(), 65.0 + 40.0 * t.sin());
    let lm68: Vec<(f64, f64)> = (0..68)
        .map(|i| match i {
            0..=16 => on_ellipse(PI - PI * i as f64 / 16.0),
            17..=26 => on_ellipse(PI + PI * (i - 17) as f64 / 9.0),
            _ => (48.0, 65.0),
        })
        .collect();
    let mut any = false;
    for seed in 0..8 {
        let mut i = img();
        dropout::blackout_half_face(&mut i, &lm68, &mut StdRng::seed_from_u64(seed));
        assert!(!zero(&i, 2, 2) && !zero(&i, 94, 128), "outside the face is kept");
        let z = zeros(&i);
        any |= z > 500;
        assert!(z < 30 * 40 * 4, "at most half the outline polygon, got {z}");
    }
    assert!(any);
}

#[test]
fn bitmask_dropout_keeps_a_half_with_changes() {
    let base = img();
    let (w, h) = (97usize, 131usize);
    // The diff differs only in the top-left corner: a fake keeps a mask that contains it.
    let mut diff = GrayImage::new(97, 131);
    for y in 0..20 {
        for x in 0..20 {
            diff.put_pixel(x, y, image::Luma([200]));
        }
    }
    let masks = bit_masks(w, h, true);
    for seed in 0..10 {
        let mut i = base.clone();
        let mut d = diff.clone();
        dropout::bitmask_dropout(&mut i, &mut d, 0.99, true, &mut StdRng::seed_from_u64(seed));
        if i != base {
            assert!(!zero(&i, 5, 5), "the changed corner is kept");
            assert!(masks.iter().any(|m| (0..w * h).all(|k| m[k] || i.as_raw()[k * 3..k * 3 + 3] == [0, 0, 0])));
        }
    }
    // The solution's quirk: the row split is at w // 2 = 48, not h // 2 = 65.
    assert!(masks[0][48 * w] && !masks[0][47 * w]);
    assert!(bit_masks(w, h, false)[0][65 * w] && !bit_masks(w, h, false)[0][64 * w]);
}
