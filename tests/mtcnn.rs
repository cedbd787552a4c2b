//! MTCNN parity with facenet-pytorch 2.6.0 on its real weights and real photos.
//!
//! Fixtures: `scripts/reference/make_mtcnn_fixtures.py` (facenet-pytorch 2.6.0, torch 2.15.0, Pillow 13.0.0):
//! network outputs on random inputs (`nets_io.safetensors`) and `MTCNN.detect` on seven photos at full
//! resolution, at the DFDC solution's half resolution (Pillow bicubic) and with facenet's default thresholds
//! (`photos.json`). The photos come from PyPI wheels via `scripts/fetch-media.sh`.

mod common;

use common::{device, fixture, max_abs_diff, media, tensor, values, B};
use deepfake_detector::face::detector::CandidateCaps;
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
fn cross_frame_batches_give_the_same_faces_as_one_at_a_time_and_as_facenet() {
    // Every photo twice, in an order that interleaves sizes: with `pnet_batch` 4 the frames of one size share PNet
    // calls (two frames per call here) and all frames share the RNet and ONet calls, the batched path a GPU uses.
    let json: Value = serde_json::from_str(&std::fs::read_to_string(fixture("mtcnn/photos.json")).unwrap()).unwrap();
    let photos: Vec<&Value> = json["photos"].as_array().unwrap().iter().collect();
    let t = as_f32s(&json["thresholds"]["full"]);
    let config = DetectorConfig { thresholds: [t[0], t[1], t[2]], ..DetectorConfig::default() };
    let one_at_a_time = Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), config.clone(), device());
    let batched = Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), config, device()).with_pnet_batch(4);
    assert_eq!(batched.pnet_batch, 4);
    let images: Vec<_> = photos.iter().map(|p| load_rgb(&media(p["file"].as_str().unwrap())).unwrap()).collect();
    let frames: Vec<_> = images.iter().chain(images.iter().rev()).cloned().collect();
    let names: Vec<&str> = photos.iter().chain(photos.iter().rev()).map(|p| p["file"].as_str().unwrap()).collect();
    let wants: Vec<&Value> = photos.iter().chain(photos.iter().rev()).map(|p| &p["full"]).collect();

    let together = batched.detect(&frames);
    assert_eq!(together.len(), frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let alone = one_at_a_time.detect(std::slice::from_ref(frame)).remove(0);
        assert_eq!(together[i], alone, "{} (frame {i}): batched and single detections differ", names[i]);
        assert_same_faces(&format!("{} batched", names[i]), &together[i], wants[i]);
    }
}

/// A 1920x1080 frame made from a real photo (Pillow bicubic), so that PNet sees natural texture everywhere.
fn full_hd_frame() -> image::RgbImage {
    resize_bicubic(&load_rgb(&media("multi_face.jpg")).unwrap(), 1920, 1080)
}

#[test]
fn zero_thresholds_on_a_1080p_frame_stay_within_the_candidate_caps() {
    // At thresholds 0 every PNet cell is a candidate; without caps the NMS of the first scale alone would compare
    // ~180 000 boxes pairwise. The caps bound every stage; the raw cell count shows they were needed.
    let config = DetectorConfig { thresholds: [0.0, 0.0, 0.0], ..DetectorConfig::default() };
    let detector = Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), config, device());
    let caps = detector.caps;
    assert_eq!(caps, CandidateCaps::default());
    let (faces, trace) = detector.detect_traced(&[full_hd_frame()]);
    let trace = &trace[0];
    let (first_cells, _) = trace.scales[0];
    // PNet's output grid at the first scale (0.6, input int(d·0.6 + 1)): conv 3×3, max-pool 2 with ceil, two more
    // convs 3×3, so ceil((d − 2)/2) − 4 cells a side; every one is at or above threshold 0.
    let grid = |d: f64| ((d * 0.6 + 1.0) as usize - 2).div_ceil(2) - 4;
    assert_eq!(first_cells, grid(1080.0) * grid(1920.0));
    assert!(first_cells > 40 * caps.per_scale);
    for &(_, kept) in &trace.scales {
        assert!(kept <= caps.per_scale, "{trace:?}");
    }
    assert!(trace.stage1 <= caps.stage1, "{trace:?}");
    assert!(trace.rnet_pass <= caps.stage1 && trace.rnet_out <= caps.stage1, "{trace:?}");
    assert!(trace.onet_pass <= caps.onet && trace.faces <= caps.onet, "{trace:?}");
    assert_eq!(faces[0].len(), trace.faces);
    assert!(trace.faces > 0);
}

#[test]
fn smaller_caps_bound_the_stages_as_stated() {
    let config = DetectorConfig { thresholds: [0.0, 0.0, 0.0], ..DetectorConfig::default() };
    let mut detector = Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), config, device());
    detector.caps = CandidateCaps { per_scale: 300, stage1: 200, onet: 20 };
    let small = resize_bicubic(&full_hd_frame(), 480, 270);
    let (_, trace) = detector.detect_traced(&[small]);
    let trace = &trace[0];
    assert!(trace.scales.iter().all(|&(_, kept)| kept <= 300), "{trace:?}");
    assert!(trace.scales[0].0 > 300, "{trace:?}");
    assert!(trace.stage1 <= 200 && trace.rnet_pass <= 200, "{trace:?}");
    assert!(trace.onet_pass <= 20 && trace.faces <= 20, "{trace:?}");
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
            // The candidate caps never engaged here, with room to spare: these counts are facenet's own.
            let caps = detector.caps;
            assert!(expected.0.iter().all(|&(cells, _)| 4 * cells < caps.per_scale), "{name} {key}");
            let into_stage1: usize = expected.0.iter().map(|&(_, kept)| kept).sum();
            assert!(4 * into_stage1 < caps.stage1 && 4 * expected.3 < caps.onet, "{name} {key}");
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
