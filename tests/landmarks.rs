//! 68-point landmarks against dlib's own predictor (dlib-bin 20.0.1) on the same rectangles of real photos.
//! Fixture: `tests/fixtures/landmarks/cases.json`, made by `scripts/reference/make_landmark_fixtures.py`.
//! Needs Debian's libdlib-data (scripts/setup.sh installs it) and the media of scripts/fetch-media.sh.

mod common;

use std::collections::HashMap;

use deepfake_detector::face::landmarks::{rect_from_box, rect_from_mtcnn, DlibRect, ShapePredictor};
use deepfake_detector::imaging::load::load_rgb;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    image: String,
    gray: bool,
    rect: [i64; 4],
    source: String,
    points: Vec<[i32; 2]>,
    mtcnn_landmarks: Option<[[f64; 2]; 5]>,
    mtcnn_box: Option<[f64; 4]>,
    box_rect: Option<[i64; 4]>,
}

fn fixture() -> Fixture {
    serde_json::from_str(&std::fs::read_to_string(common::fixture("landmarks/cases.json")).unwrap()).unwrap()
}

#[test]
fn points_equal_dlibs_on_hog_mtcnn_random_and_grey_rectangles() {
    let predictor = ShapePredictor::load_default().expect("libdlib-data's model (scripts/setup.sh)");
    assert_eq!(predictor.parts(), 68);
    let fixture = fixture();
    let mut images = HashMap::new();
    let (mut sum, mut max, mut n) = (0.0f64, 0.0f64, 0usize);
    let mut sources = HashMap::<String, usize>::new();
    for case in &fixture.cases {
        let img = images.entry(case.image.clone()).or_insert_with(|| load_rgb(&common::media(&case.image)).unwrap());
        let [l, t, r, b] = case.rect;
        let rect = DlibRect::new(l, t, r, b);
        let shape = if case.gray {
            let gray: Vec<u8> = img.pixels().map(|p| ((p[0] as u32 + p[1] as u32 + p[2] as u32) / 3) as u8).collect();
            predictor.predict_gray(&gray, img.width(), img.height(), rect)
        } else {
            predictor.predict(img, rect)
        };
        assert_eq!(shape.points.len(), 68);
        for (p, q) in shape.points.iter().zip(&case.points) {
            let d = f64::from(p[0] - q[0]).hypot(f64::from(p[1] - q[1]));
            sum += d;
            max = max.max(d);
            n += 1;
        }
        *sources.entry(case.source.clone()).or_default() += 1;
    }
    let mean = sum / n as f64;
    eprintln!("{} cases {sources:?}: mean point error {mean:.4} px, max {max:.4} px", fixture.cases.len());
    for s in ["hog0", "mtcnn", "random", "gray"] {
        assert!(sources.get(s).copied().unwrap_or(0) > 0, "no {s} cases in the fixture");
    }
    assert!(mean <= 0.05 && max <= 0.05, "mean {mean} px, max {max} px");
}

#[test]
fn mtcnn_faces_map_to_the_reference_rectangles() {
    let mut checked = 0;
    for case in fixture().cases.iter().filter(|c| c.source == "mtcnn") {
        let lm = case.mtcnn_landmarks.unwrap().map(|p| [p[0] as f32, p[1] as f32]);
        let r = rect_from_mtcnn(&lm).unwrap();
        assert_eq!([r.left, r.top, r.right, r.bottom], case.rect, "{}", case.image);
        let b = rect_from_box(case.mtcnn_box.unwrap().map(|v| v as f32)).unwrap();
        assert_eq!([b.left, b.top, b.right, b.bottom], case.box_rect.unwrap(), "{}", case.image);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} MTCNN faces in the fixture");
}

#[test]
fn a_missing_or_corrupt_model_file_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = ShapePredictor::load(&dir.path().join("nope.dat")).unwrap_err();
    assert!(missing.to_string().contains("libdlib-data"), "{missing}");
    let bad = dir.path().join("bad.dat");
    std::fs::write(&bad, [0x01, 0x01, 0x81, 0x88, 0x81]).unwrap();
    let err = ShapePredictor::load(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.dat") && err.to_string().contains("ends early"), "{err}");
}
