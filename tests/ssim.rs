//! SSIM map and diff mask against scikit-image's `structural_similarity` and the solution's `generate_diffs.py`
//! formula. Fixtures: `tests/fixtures/ssim/`, made by `scripts/reference/make_ssim_fixtures.py`.

mod common;

use deepfake_detector::imaging::ssim::{bgr_to_gray, dfdc_diff, dfdc_diff_bgr, diff_u8, ssim_map_rgb};
use deepfake_detector::preprocess::npy::{from_npy, NpyArray};

const PAIRS: [&str; 4] = ["blur", "colour", "invert", "tiny"];

fn png(name: &str) -> image::DynamicImage {
    image::open(common::fixture(&format!("ssim/{name}"))).unwrap()
}

fn reference_map(name: &str) -> NpyArray<f64> {
    from_npy(&std::fs::read(common::fixture(&format!("ssim/{name}_ssim.npy"))).unwrap()).unwrap()
}

#[test]
fn ssim_map_matches_scikit_image() {
    for name in PAIRS {
        // cv2.imwrite stored the BGR arrays as ordinary RGB PNGs; the reference map's channels are B, G, R.
        let bgr = |n: String| {
            let mut img = png(&n).to_rgb8();
            img.pixels_mut().for_each(|p| p.0.swap(0, 2));
            img
        };
        let (o, f) = (bgr(format!("{name}_orig.png")), bgr(format!("{name}_fake.png")));
        let ours = ssim_map_rgb(&o, &f).unwrap();
        let reference = reference_map(name);
        assert_eq!(reference.shape, vec![o.height() as usize, o.width() as usize, 3]);
        let mean = ours.iter().zip(&reference.data).map(|(a, b)| (a - b).abs()).sum::<f64>() / ours.len() as f64;
        let max = ours.iter().zip(&reference.data).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        eprintln!("{name}: mean |S - skimage| {mean:.3e}, max {max:.3e}");
        assert!(mean <= 1e-4, "{name}: mean abs difference {mean}");
    }
}

#[test]
fn diff_formula_is_bit_exact_on_the_reference_map() {
    for name in PAIRS {
        let reference = reference_map(name);
        let expected = png(&format!("{name}_diff.png")).to_luma8();
        let (h, w) = (reference.shape[0], reference.shape[1]);
        for y in 0..h {
            for x in 0..w {
                let s = &reference.data[3 * (y * w + x)..3 * (y * w + x) + 3];
                let g = bgr_to_gray(diff_u8(s[0]), diff_u8(s[1]), diff_u8(s[2]));
                assert_eq!(g, expected.get_pixel(x as u32, y as u32)[0], "{name} at ({x}, {y})");
            }
        }
    }
}

#[test]
fn diff_image_from_the_crops_equals_the_solutions() {
    let mut wrapped = 0;
    for name in PAIRS {
        let (o, f) = (png(&format!("{name}_orig.png")).to_rgb8(), png(&format!("{name}_fake.png")).to_rgb8());
        let ours = dfdc_diff(&o, &f).unwrap();
        let expected = png(&format!("{name}_diff.png")).to_luma8();
        let worst = ours.pixels().zip(expected.pixels()).map(|(a, b)| a[0].abs_diff(b[0])).max().unwrap();
        assert_eq!(worst, 0, "{name}: up to {worst} grey levels off");
        wrapped += reference_map(name).data.iter().filter(|&&s| s < 0.0).count();
    }
    assert!(wrapped > 0, "no pair exercises the S < 0 wrap-around");
}

#[test]
fn crops_of_different_sizes_or_under_7_pixels_have_no_diff() {
    let a = image::RgbImage::new(10, 10);
    assert!(dfdc_diff_bgr(&a, &image::RgbImage::new(10, 11)).is_none());
    assert!(dfdc_diff_bgr(&image::RgbImage::new(6, 10), &image::RgbImage::new(6, 10)).is_none());
}
