//! MTCNN parity with facenet-pytorch 2.6.0 on its real weights and real photos.
//!
//! Fixtures: `scripts/reference/make_mtcnn_fixtures.py` (facenet-pytorch 2.6.0, torch 2.15.0, Pillow 13.0.0):
//! network outputs on random inputs (`nets_io.safetensors`) and `MTCNN.detect` on seven photos at full
//! resolution, at the DFDC solution's half resolution (Pillow bicubic) and with facenet's default thresholds
//! (`photos.json`). The photos come from PyPI wheels via `scripts/fetch-media.sh`.

mod common;

use common::{device, fixture, max_abs_diff, media, tensor, values, B};
use deepfake_detector::face::{Detector, DetectorConfig, Face};
use deepfake_detector::imaging::load::load_rgb;
use deepfake_detector::imaging::pillow::resize_bicubic;
use deepfake_detector::weights::mtcnn::{import_facenet, load_mtcnn, save_mtcnn, shipped_mtcnn};
use deepfake_detector::weights::TensorFile;
use serde_json::Value;

#[test]
fn networks_match_facenet_pytorch() {
    let nets = shipped_mtcnn::<B>(&device()).unwrap();
    let io = TensorFile::read(&fixture("mtcnn/nets_io.safetensors")).unwrap();
    let face = |t: Vec<f32>| t.chunks(2).map(|p| p[1]).collect::<Vec<_>>();

    let (reg, prob) = nets.pnet.forward(tensor::<4>(&io, "pnet_input"));
    assert!(max_abs_diff(&values(reg), &values(tensor::<4>(&io, "pnet_reg"))) < 1e-5);
    // pnet_prob is [n, 2, h, w]; ours is channel 1.
    let want = tensor::<4>(&io, "pnet_prob");
    let [n, _, h, w] = want.dims();
    let want = values(want.slice([0..n, 1..2, 0..h, 0..w]));
    assert!(max_abs_diff(&values(prob), &want) < 1e-5);

    let (reg, prob) = nets.rnet.forward(tensor::<4>(&io, "rnet_input"));
    assert!(max_abs_diff(&values(reg), &values(tensor::<2>(&io, "rnet_reg"))) < 1e-5);
    assert!(max_abs_diff(&values(prob), &face(values(tensor::<2>(&io, "rnet_prob")))) < 1e-5);

    let (reg, marks, prob) = nets.onet.forward(tensor::<4>(&io, "onet_input"));
    assert!(max_abs_diff(&values(reg), &values(tensor::<2>(&io, "onet_reg"))) < 1e-5);
    assert!(max_abs_diff(&values(marks), &values(tensor::<2>(&io, "onet_landmarks"))) < 1e-5);
    assert!(max_abs_diff(&values(prob), &face(values(tensor::<2>(&io, "onet_prob")))) < 1e-5);
}

#[test]
fn shipped_weights_are_the_conversion_of_facenets_files() {
    let files: Vec<_> = ["pnet.pt", "rnet.pt", "onet.pt"].into_iter().map(media).collect();
    let nets = import_facenet::<B>(&files, &device()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mtcnn.bpk");
    save_mtcnn(&nets, &files, &out).unwrap();
    let shipped = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/mtcnn.bpk")).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), shipped, "models/mtcnn.bpk differs from a fresh conversion");
    // And the converted file loads back.
    load_mtcnn::<B>(&out, &device()).unwrap();
}

fn as_f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Compares our faces with facenet's for one photo and one setting.
fn assert_same_faces(name: &str, ours: &[Face], want: &Value) {
    let boxes = want["boxes"].as_array().unwrap();
    assert_eq!(ours.len(), boxes.len(), "{name}: number of faces");
    for (i, (face, b)) in ours.iter().zip(boxes).enumerate() {
        let b = as_f32s(b);
        let diff = max_abs_diff(&face.bbox, &b);
        assert!(diff <= 1.0, "{name} face {i}: box {:?} vs facenet {b:?}", face.bbox);
        let p = want["probs"][i].as_f64().unwrap() as f32;
        assert!((face.score - p).abs() <= 1e-3, "{name} face {i}: score {} vs {p}", face.score);
        if let Some(marks) = want.get("landmarks") {
            let want: Vec<f32> = marks[i].as_array().unwrap().iter().flat_map(as_f32s).collect();
            let got: Vec<f32> = face.landmarks.iter().flatten().copied().collect();
            assert!(max_abs_diff(&got, &want) <= 1.0, "{name} face {i}: landmarks {got:?} vs {want:?}");
        }
    }
}

#[test]
fn detections_match_facenet_on_real_photos() {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(fixture("mtcnn/photos.json")).unwrap()).unwrap();
    let thresholds = |key: &str| -> [f32; 3] {
        let t = as_f32s(&json["thresholds"][key]);
        [t[0], t[1], t[2]]
    };
    let detector = |key: &str| {
        let config = DetectorConfig { thresholds: thresholds(key), ..DetectorConfig::default() };
        Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), config, device())
    };
    let (full, half, defaults) = (detector("full"), detector("half"), detector("defaults"));
    let mut faces_seen = 0;
    for photo in json["photos"].as_array().unwrap() {
        let name = photo["file"].as_str().unwrap();
        let img = load_rgb(&media(name)).unwrap();
        let (w, h) = img.dimensions();
        let small = resize_bicubic(&img, w / 2, h / 2);
        let found = full.detect(std::slice::from_ref(&img));
        assert_same_faces(&format!("{name} full"), &found[0], &photo["full"]);
        assert_same_faces(&format!("{name} half"), &half.detect(&[small])[0], &photo["half"]);
        assert_same_faces(&format!("{name} defaults"), &defaults.detect(&[img])[0], &photo["defaults"]);
        faces_seen += found[0].len();
    }
    // multi_face.jpg has five people; every other photo one.
    assert_eq!(faces_seen, 11);
}

#[test]
fn a_batch_of_frames_gives_the_same_faces_as_one_at_a_time() {
    let detector = Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), DetectorConfig::dfdc_inference(), device());
    let a = load_rgb(&media("astronaut.png")).unwrap();
    let b = load_rgb(&media("grace_hopper.jpg")).unwrap();
    let c = load_rgb(&media("camera.png")).unwrap();
    let batch = detector.detect(&[a.clone(), b.clone(), c.clone(), a.clone()]);
    let single: Vec<Vec<Face>> =
        [a.clone(), b, c, a].iter().map(|f| detector.detect(std::slice::from_ref(f)).remove(0)).collect();
    assert_eq!(batch, single);
}

#[test]
fn a_blank_frame_has_no_faces() {
    let detector = Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), DetectorConfig::dfdc_inference(), device());
    let blank = image::RgbImage::from_pixel(320, 180, image::Rgb([128, 128, 128]));
    let tiny = image::RgbImage::new(5, 5);
    assert_eq!(detector.detect(&[blank, tiny]), vec![vec![], vec![]]);
    assert!(detector.detect(&[]).is_empty());
}

#[test]
fn every_stage_keeps_as_many_candidates_as_facenet() {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(fixture("mtcnn/stages.json")).unwrap()).unwrap();
    let t = as_f32s(&json["thresholds"]);
    let config = DetectorConfig { thresholds: [t[0], t[1], t[2]], ..DetectorConfig::default() };
    let detector = Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), config, device());
    let mut mismatches = Vec::new();
    for photo in json["photos"].as_array().unwrap() {
        let name = photo["file"].as_str().unwrap();
        let img = load_rgb(&media(name)).unwrap();
        let (w, h) = img.dimensions();
        for (key, frame) in [("full", img.clone()), ("half", resize_bicubic(&img, w / 2, h / 2))] {
            let want = &photo[key];
            let (_, trace) = detector.detect_traced(&[frame]);
            let got = &trace[0];
            let scales: Vec<(usize, usize)> = want["pyramid"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["candidates"].as_u64().unwrap() as usize, s["after_nms_0.5"].as_u64().unwrap() as usize))
                .collect();
            let n = |k: &str| want[k].as_u64().unwrap() as usize;
            let expected = (scales, n("stage1_out"), n("rnet_pass"), n("rnet_nms_0.7_out"), n("onet_pass"), n("final"));
            let actual = (got.scales.clone(), got.stage1, got.rnet_pass, got.rnet_out, got.onet_pass, got.faces);
            if expected != actual {
                mismatches.push(format!("{name} {key}: facenet {expected:?}, ours {actual:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
