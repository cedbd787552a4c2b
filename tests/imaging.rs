//! Parity of `deepfake_detector::imaging` with the Python originals (Pillow 13.0, opencv-python-headless
//! 5.0.0.93, torch 2.15).
//!
//! Fixtures: `tests/fixtures/imaging/` (manifest.json, PNGs, float.safetensors), made by
//! `scripts/reference/make_image_fixtures.py`. Noise inputs and their expected outputs are committed;
//! for the real photos only checksums are, and the photos are read from `$DEEPFAKE_CACHE/media`
//! (default `<repo>/.cache/media`, filled by `scripts/fetch-media.sh`).

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::media;
use deepfake_detector::imaging::{area, crop, load, normalize, opencv, pillow, RgbImage};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imaging")
}

fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let path = fixtures().join("manifest.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("manifest.json is JSON")
    })
}

fn cases(kind: &str) -> &'static [Value] {
    let list = manifest()[kind].as_array().unwrap_or_else(|| panic!("manifest has no `{kind}` list"));
    assert!(!list.is_empty(), "manifest's `{kind}` list is empty");
    list
}

fn png(name: &str) -> RgbImage {
    let path = fixtures().join(name);
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// A noise input by manifest name; `name:flipped` is the image turned by 180°.
fn input(name: &str) -> RgbImage {
    let (base, flipped) = match name.strip_suffix(":flipped") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let entry = &manifest()["inputs"][base];
    let img = png(entry["png"].as_str().unwrap_or_else(|| panic!("no input `{base}`")));
    if flipped {
        image::imageops::rotate180(&img)
    } else {
        img
    }
}

fn u32_of(v: &Value) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or_else(|| panic!("not a u32: {v}"))
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn photo(entry: &Value) -> RgbImage {
    let name = entry["file"].as_str().expect("photo file name");
    // JPEG through libjpeg-turbo, as Pillow decodes it.
    let img = load::load_rgb(&media(name)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sha256_hex(img.as_raw()),
        entry["decoded_sha256"].as_str().expect("decoded_sha256"),
        "{name} decodes differently from Pillow; the checksums below would all fail"
    );
    img
}

/// Largest per-value difference and how many values differ.
fn compare(got: &RgbImage, want: &RgbImage, what: &str) -> (u8, usize) {
    assert_eq!(got.dimensions(), want.dimensions(), "{what}: size");
    let mut max = 0;
    let mut count = 0;
    for (a, b) in got.as_raw().iter().zip(want.as_raw()) {
        let d = a.abs_diff(*b);
        max = max.max(d);
        count += usize::from(d != 0);
    }
    (max, count)
}

/// Runs `resize` on every case of `kind` and returns (case, max diff, differing values, total values).
fn resize_cases(kind: &str, resize: impl Fn(&RgbImage, u32, u32) -> RgbImage) -> Vec<(String, u8, usize, usize)> {
    cases(kind)
        .iter()
        .map(|case| {
            let name = case["input"].as_str().expect("input");
            let src = input(name);
            let (w, h) = (u32_of(&case["width"]), u32_of(&case["height"]));
            let want = png(case["expected"].as_str().expect("expected"));
            let what = format!("{kind} {name} {}x{} -> {w}x{h}", src.width(), src.height());
            let (max, count) = compare(&resize(&src, w, h), &want, &what);
            eprintln!("{what}: max diff {max}, {count} of {} values differ", want.as_raw().len());
            (what, max, count, want.as_raw().len())
        })
        .collect()
}

#[test]
fn pillow_resize_is_bit_exact_on_noise() {
    for (what, max, count, _) in resize_cases("pillow_resize", pillow::resize_bicubic) {
        assert_eq!(max, 0, "{what}: {count} values differ");
    }
}

#[test]
fn opencv_area_is_bit_exact_on_noise() {
    for (what, max, count, _) in resize_cases("cv_area", opencv::resize_area) {
        assert_eq!(max, 0, "{what}: {count} values differ");
    }
}

#[test]
fn opencv_cubic_is_within_one_grey_level_and_exact_off_ipp() {
    let mut differing = 0;
    let mut total = 0;
    for (case, (what, max, count, n)) in cases("cv_cubic").iter().zip(resize_cases("cv_cubic", opencv::resize_cubic)) {
        assert!(max <= 1, "{what}: max diff {max}");
        let src = input(case["input"].as_str().expect("input"));
        if src.width() < 4 || src.height() < 4 {
            // OpenCV's own fixed-point resizer: reproduced exactly.
            assert_eq!(count, 0, "{what}: {count} values differ");
        }
        differing += count;
        total += n;
    }
    // The IPP model misses only values within ~1e-5 of a .5 tie.
    assert!(differing * 10_000 <= total, "{differing} of {total} values differ");
}

#[test]
fn isotropic_resize_matches_python_sizes_and_pixels() {
    for case in cases("isotropic") {
        let name = case["input"].as_str().expect("input");
        let src = input(name);
        let got = crop::isotropic_resize(&src, u32_of(&case["max_side"]));
        let want = match case["expected"].as_str() {
            Some(file) => png(file),
            None => src.clone(), // longest side already max_side: returned unchanged
        };
        assert_eq!(got.dimensions(), (u32_of(&case["width"]), u32_of(&case["height"])), "{name}");
        let (max, count) = compare(&got, &want, name);
        eprintln!("isotropic {name}: max diff {max}, {count} of {} values differ", want.as_raw().len());
        let enlarged = got.width().max(got.height()) > src.width().max(src.height());
        let ipp = enlarged && src.width() >= 4 && src.height() >= 4;
        assert!(max <= u8::from(ipp), "{name}: max diff {max}");
    }
}

#[test]
fn put_to_center_matches_python_checksums() {
    for case in cases("isotropic") {
        let name = case["input"].as_str().expect("input");
        let resized = match case["expected"].as_str() {
            Some(file) => png(file),
            None => input(name),
        };
        let centered = crop::put_to_center(&resized, u32_of(&case["max_side"]));
        assert_eq!(sha256_hex(centered.as_raw()), case["centered_sha256"].as_str().expect("sha"), "{name}");
    }
}

#[test]
fn face_crop_matches_numpy_slicing() {
    for case in cases("face_crop") {
        let b = f32s(&case["box"]);
        let (w, h) = (u32_of(&case["frame_width"]), u32_of(&case["frame_height"]));
        let got = crop::face_crop_rect(w, h, [b[0], b[1], b[2], b[3]]);
        let want = case["rect"].as_array().map(|r| {
            let r: Vec<u32> = r.iter().map(u32_of).collect();
            ((r[0], r[1]), (r[2], r[3]))
        });
        assert_eq!(got, want, "box {b:?}");
        let frame = input("noise_97x131");
        let cropped = crop::face_crop(&frame, [b[0], b[1], b[2], b[3]]);
        assert_eq!(cropped.as_ref().map(|c| c.dimensions()), want.map(|(r, c)| (c.1 - c.0, r.1 - r.0)));
    }
}

fn float_tensors() -> &'static Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(fixtures().join("float.safetensors")).expect("float.safetensors"))
}

fn float_tensor(key: &str) -> (Vec<usize>, Vec<f32>) {
    let st = safetensors::SafeTensors::deserialize(float_tensors()).expect("safetensors header");
    let view = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{key}");
    let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    (view.shape().to_vec(), values)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn torch_area_matches_interpolate_within_1e_4() {
    for case in cases("torch_area") {
        let name = case["input"].as_str().expect("input");
        let r: Vec<u32> = case["rect"].as_array().expect("rect").iter().map(u32_of).collect();
        let (oh, ow) = (u32_of(&case["out_h"]) as usize, u32_of(&case["out_w"]) as usize);
        let key = case["tensor"].as_str().expect("tensor");
        let (shape, want) = float_tensor(key);
        assert_eq!(shape, [3, oh, ow], "{key}");
        let got = area::resize_to_planar(&input(name), (r[0], r[1], r[2], r[3]), oh, ow).expect("valid rect");
        let d = max_abs_diff(&got, &want);
        eprintln!("{key}: max abs diff {d:e}");
        assert!(d <= 1e-4, "{key}: max abs diff {d}");
    }
}

#[test]
fn to_nchw_matches_torch_normalize() {
    for case in cases("to_nchw") {
        let images: Vec<RgbImage> =
            case["inputs"].as_array().expect("inputs").iter().map(|n| input(n.as_str().expect("name"))).collect();
        let (m, s) = (f32s(&case["mean"]), f32s(&case["std"]));
        assert_eq!((m.as_slice(), s.as_slice()), (&normalize::IMAGENET_MEAN[..], &normalize::IMAGENET_STD[..]));
        let key = case["tensor"].as_str().expect("tensor");
        let (shape, want) = float_tensor(key);
        let (w, h) = images[0].dimensions();
        assert_eq!(shape, [images.len(), 3, h as usize, w as usize], "{key}");
        let got = normalize::to_nchw(&images, [m[0], m[1], m[2]], [s[0], s[1], s[2]]).expect("same sizes");
        let d = max_abs_diff(&got, &want);
        eprintln!("{key}: max abs diff {d:e}");
        assert_eq!(got, want, "{key}: max abs diff {d}");
    }
}

fn assert_sha(img: &RgbImage, want: &Value, what: &str) {
    assert_eq!(sha256_hex(img.as_raw()), want.as_str().expect("sha256"), "{what}");
}

#[test]
fn pillow_half_size_is_bit_exact_on_real_photos_and_full_hd_frames() {
    for entry in cases("photos") {
        let img = photo(entry);
        let name = entry["file"].as_str().expect("file");
        let (w, h) = img.dimensions();
        assert_sha(&pillow::resize_bicubic(&img, w / 2, h / 2), &entry["pillow_half_sha256"], name);
        let frame = pillow::resize_bicubic(&img, 1920, 1080);
        assert_sha(&frame, &entry["pillow_1920x1080_sha256"], name);
        assert_sha(&pillow::resize_bicubic(&frame, 960, 540), &entry["pillow_1920x1080_half_sha256"], name);
    }
}

#[test]
fn opencv_area_is_bit_exact_on_real_photos() {
    for entry in cases("photos") {
        let img = photo(entry);
        for case in entry["cv_area"].as_array().expect("cv_area") {
            let (w, h) = (u32_of(&case["width"]), u32_of(&case["height"]));
            let what = format!("{} -> {w}x{h}", entry["file"]);
            assert_sha(&opencv::resize_area(&img, w, h), &case["sha256"], &what);
        }
    }
}

#[test]
fn face_pipeline_matches_python_on_real_photos() {
    for entry in cases("photos") {
        let img = photo(entry);
        for face in entry["faces"].as_array().expect("faces") {
            let b = f32s(&face["box"]);
            let what = format!("{} box {b:?}", entry["file"]);
            let r: Vec<u32> = face["rect"].as_array().expect("rect").iter().map(u32_of).collect();
            assert_eq!(
                crop::face_crop_rect(img.width(), img.height(), [b[0], b[1], b[2], b[3]]),
                Some(((r[0], r[1]), (r[2], r[3]))),
                "{what}"
            );
            let cropped = crop::face_crop(&img, [b[0], b[1], b[2], b[3]]).expect("non-empty crop");
            assert_sha(&cropped, &face["crop_sha256"], &what);
            let resized = crop::isotropic_resize(&cropped, 380);
            let size: Vec<u32> = face["isotropic"].as_array().expect("size").iter().map(u32_of).collect();
            assert_eq!(resized.dimensions(), (size[0], size[1]), "{what}");
            // Where cv2 went through IPP, the fixture lists the values where it differs from the f32 model
            // of IPP this port implements: each may differ by one level; everything else must be equal.
            let mut resized = resized.into_raw();
            let corrections = face["ipp_corrections"].as_array().expect("ipp_corrections");
            for fix in corrections {
                let (i, v) = (u32_of(&fix[0]) as usize, u32_of(&fix[1]) as u8);
                assert!(resized[i].abs_diff(v) <= 1, "{what}: value {i} is {} where cv2 has {v}", resized[i]);
                resized[i] = v;
            }
            eprintln!("{what}: {} of {} values differ by 1 from cv2", corrections.len(), resized.len());
            let resized = RgbImage::from_raw(size[0], size[1], resized).expect("same size");
            assert_sha(&resized, &face["isotropic_sha256"], &what);
            assert_sha(&crop::put_to_center(&resized, 380), &face["centered_sha256"], &what);
        }
    }
}
