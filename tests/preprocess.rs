//! `preprocess` end to end on a small data set made by `synth`, against the solution's five scripts re-run in
//! Python (`scripts/reference/make_preprocess_fixtures.py` → `tests/fixtures/preprocess/`), and resuming.

#[path = "common/synth_data.rs"]
mod synth_data;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use deepfake_detector::face::DetectorConfig;
use deepfake_detector::preprocess::npy::{from_npy, NpyArray};
use deepfake_detector::preprocess::{detector_config, run, Models, PreprocessRequest, Step};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn preprocess(root: &Path, steps: &[Step]) -> Vec<(Step, deepfake_detector::preprocess::StepReport)> {
    let boxes = synth_data::detector(detector_config(Step::Boxes));
    let landmarks = synth_data::detector(detector_config(Step::Landmarks));
    let predictor = synth_data::predictor();
    let models = Models { boxes: &boxes, landmarks: &landmarks, predictor: &predictor };
    let req = PreprocessRequest { root: root.to_path_buf(), steps: steps.to_vec(), jobs: 2, batch: 32 };
    run(&req, &models, &|_| {}).unwrap()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = synth_data::tree(dir).into_keys().collect();
    out.sort();
    out
}

fn npy(path: &Path) -> NpyArray<i16> {
    from_npy(&std::fs::read(path).unwrap()).unwrap_or_else(|| panic!("{} is not an int16 .npy", path.display()))
}

#[test]
fn preprocess_matches_the_solutions_scripts_and_resumes() {
    let reference = fixture();
    let data = tempfile::tempdir().unwrap();
    let root = data.path();
    let predictor = synth_data::predictor();
    synth_data::make(root, &predictor, |_| {});
    // The reference was computed on this exact data set.
    let made = synth_data::tree(root);
    let expected: BTreeMap<String, String> = serde_json::from_value(reference["inputs"].clone()).unwrap();
    assert_eq!(made, expected, "synth made a different data set than the fixture's: re-run the script");
    let _ = DetectorConfig::default();

    let reports = preprocess(root, &Step::ALL);
    for (step, r) in &reports {
        assert!(r.failed.is_empty(), "{step:?}: {:?}", r.failed);
    }

    // boxes: same frames, same faces, coordinates within 1 px.
    let ref_boxes = reference["boxes"].as_object().unwrap();
    let mut compared = 0;
    let mut worst = 0.0f64;
    for (id, text) in ref_boxes {
        let theirs: BTreeMap<String, Option<Vec<[f64; 4]>>> = serde_json::from_str(text.as_str().unwrap()).unwrap();
        let ours_text = std::fs::read_to_string(root.join("boxes").join(format!("{id}.json"))).unwrap();
        let ours: BTreeMap<String, Option<Vec<[f64; 4]>>> = serde_json::from_str(&ours_text).unwrap();
        assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{id}");
        for (k, t) in &theirs {
            let o = &ours[k];
            assert_eq!(o.as_ref().map(Vec::len), t.as_ref().map(Vec::len), "{id} frame {k}");
            for (a, b) in o.iter().flatten().zip(t.iter().flatten()) {
                for (x, y) in a.iter().zip(b) {
                    worst = worst.max((x - y).abs());
                }
                compared += 1;
            }
        }
    }
    eprintln!("boxes: {compared} faces, worst coordinate difference {worst:.4} px");
    assert!(compared > 0 && worst <= 1.0, "worst box coordinate off by {worst} px");

    // crops: the same files, the same pixels (as BGR, what cv2.imread gives).
    let ref_crops = reference["crops"].as_object().unwrap();
    let our_crops = files_under(&root.join("crops"));
    assert_eq!(our_crops, ref_crops.keys().cloned().collect::<Vec<_>>());
    for (rel, v) in ref_crops {
        let img = image::open(root.join("crops").join(rel)).unwrap().to_rgb8();
        assert_eq!(
            [img.width(), img.height()],
            [v["size"][0].as_u64().unwrap() as u32, v["size"][1].as_u64().unwrap() as u32]
        );
        let bgr: Vec<u8> = img.pixels().flat_map(|p| [p[2], p[1], p[0]]).collect();
        assert_eq!(synth_data::hex(&Sha256::digest(&bgr)), v["bgr_sha256"].as_str().unwrap(), "{rel}");
    }

    // landmarks: the five points equal; dlib's 68 equal wherever our five points give the reference's rectangle.
    let ref_marks = reference["landmarks"].as_object().unwrap();
    let mut same_rect = 0;
    for (key, v) in ref_marks {
        let five = npy(&root.join("landmarks").join(format!("{key}.npy")));
        assert_eq!(five.shape, vec![5, 2]);
        let theirs: Vec<i16> = v["five"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i16))
            .collect();
        assert_eq!(five.data, theirs, "{key}");
        let ours68 = npy(&root.join("landmarks").join(format!("{key}_68.npy")));
        assert_eq!(ours68.shape, vec![68, 2]);
        let theirs68: Vec<i16> = v["points68"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i16))
            .collect();
        if ours68.data == theirs68 {
            same_rect += 1;
        }
    }
    let landmark_files = files_under(&root.join("landmarks"));
    assert_eq!(landmark_files.len(), 2 * ref_marks.len(), "{landmark_files:?}");
    assert!(same_rect * 10 >= ref_marks.len() * 9, "68 points equal on only {same_rect} of {}", ref_marks.len());

    // diffs: the same files, within 1 grey level.
    let ref_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess/diffs");
    let ref_diffs = files_under(&ref_dir);
    assert_eq!(files_under(&root.join("diffs")), ref_diffs);
    assert!(!ref_diffs.is_empty());
    for rel in &ref_diffs {
        let (a, b) = (
            image::open(root.join("diffs").join(rel)).unwrap().to_luma8(),
            image::open(ref_dir.join(rel)).unwrap().to_luma8(),
        );
        assert_eq!(a.dimensions(), b.dimensions(), "{rel}");
        let off = a.pixels().zip(b.pixels()).map(|(p, q)| p[0].abs_diff(q[0])).max().unwrap();
        assert!(off <= 1, "{rel}: {off} grey levels off");
    }

    // folds.csv: identical rows (sorted; the original shuffles them without a seed).
    let folds = std::fs::read_to_string(root.join("folds.csv")).unwrap();
    let ref_folds: Vec<&str> = reference["folds"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(folds.lines().collect::<Vec<_>>(), ref_folds);

    // Resume: delete some outputs of every step; a rerun recreates exactly those, byte for byte, and nothing else.
    let before = synth_data::tree(root);
    let real = ref_boxes.keys().next().unwrap().clone();
    let gone: Vec<String> = before
        .keys()
        .filter(|k| {
            k == &&format!("boxes/{real}.json")
                || k.starts_with("crops/") && k.ends_with("/10_0.png")
                || k.starts_with("landmarks/") && k.ends_with("/0_0_68.npy")
                || k.starts_with("diffs/") && k.ends_with("/20_0_diff.png")
                || k.as_str() == "folds.csv"
        })
        .cloned()
        .collect();
    assert!(gone.len() >= 5, "{gone:?}");
    let stamps: BTreeMap<String, std::time::SystemTime> =
        before.keys().map(|k| (k.clone(), std::fs::metadata(root.join(k)).unwrap().modified().unwrap())).collect();
    for k in &gone {
        std::fs::remove_file(root.join(k)).unwrap();
    }
    let reports = preprocess(root, &Step::ALL);
    assert_eq!(synth_data::tree(root), before, "the rerun did not recreate the same files");
    for (k, t) in &stamps {
        if !gone.contains(k) {
            assert_eq!(std::fs::metadata(root.join(k)).unwrap().modified().unwrap(), *t, "{k} was rewritten");
        }
    }
    let boxes = &reports.iter().find(|(s, _)| *s == Step::Boxes).unwrap().1;
    assert_eq!(boxes.files_written, 1);
}

#[test]
fn unreadable_videos_are_reported_and_the_rest_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let part = data.path().join("dfdc_train_part_3");
    std::fs::create_dir_all(&part).unwrap();
    std::fs::write(part.join("broken.mp4"), b"not a video at all").unwrap();
    std::fs::copy(synth_data::media("single_face.mp4"), part.join("good.mp4")).unwrap();
    std::fs::write(
        part.join("metadata.json"),
        r#"{"broken.mp4": {"label": "REAL", "split": "train"}, "good.mp4": {"label": "REAL", "split": "train", "original": null}}"#,
    )
    .unwrap();
    let reports = preprocess(data.path(), &[Step::Boxes]);
    let r = &reports[0].1;
    assert_eq!(r.items, 2);
    assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
    assert_eq!(r.failed[0].0, "broken");
    assert!(data.path().join("boxes/good.json").is_file());
    assert!(!data.path().join("boxes/broken.json").exists());
}
