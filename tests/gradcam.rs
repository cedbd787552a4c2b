//! Grad-CAM against PyTorch.
//!
//! Fixtures: `scripts/reference/make_gradcam_fixtures.py` (torch 2.15.0, timm 1.0.31) runs the two tiny fixture
//! classifiers of `make_effnet_fixtures.py` (`tests/fixtures/effnet/{a,b}.safetensors`, randomised BatchNorm) in
//! eval mode on seeded RGB images (`tests/fixtures/gradcam/images.safetensors`) and records the logits and the
//! Grad-CAM maps of the last block stage (`{a,b}_gradcam.safetensors`).

mod common;

use burn::backend::Autodiff;
use common::{arch, device, fixture, max_abs_diff, B};
use deepfake_detector::model::gradcam::{CamMap, GradCam};
use deepfake_detector::weights::classifier::load_classifier;
use deepfake_detector::weights::TensorFile;
use image::RgbImage;

type AD = Autodiff<B>;

const TOLERANCE: f32 = 1e-4;

fn images(key: &str) -> Vec<RgbImage> {
    let file = TensorFile::read(&fixture("gradcam/images.safetensors")).unwrap();
    let snapshot = &file.tensors[&format!("image_{key}")];
    let data = snapshot.to_data().unwrap();
    let [n, h, w, _]: [usize; 4] = data.shape.to_vec().try_into().expect("[n, h, w, 3]");
    let bytes = data.to_vec::<u8>().unwrap();
    bytes.chunks_exact(h * w * 3).take(n).map(|c| RgbImage::from_raw(w as u32, h as u32, c.to_vec()).unwrap()).collect()
}

fn expected(model: &str, what: &str) -> (Vec<usize>, Vec<f32>) {
    let file = TensorFile::read(&fixture(&format!("gradcam/{model}_gradcam.safetensors"))).unwrap();
    let data = file.tensors[what].to_data().unwrap().convert::<f32>();
    (data.shape.to_vec(), data.to_vec::<f32>().unwrap())
}

fn cam(model: &str, folded: bool) -> GradCam<AD> {
    let path = fixture(&format!("effnet/{model}.safetensors"));
    let classifier = load_classifier::<B>(&path, Some(&arch(model)), &device()).unwrap().model;
    GradCam::new(if folded { classifier.fold_batchnorm() } else { classifier })
}

fn assert_maps_match(model: &str, key: &str, maps: &[CamMap]) {
    let (shape, want) = expected(model, &format!("map_{key}"));
    assert_eq!(maps.len(), shape[0], "{model} {key}: number of maps");
    for (i, m) in maps.iter().enumerate() {
        assert_eq!((m.height, m.width), (shape[1], shape[2]), "{model} {key}[{i}]: map size");
        let plane = shape[1] * shape[2];
        let diff = max_abs_diff(&m.values, &want[i * plane..(i + 1) * plane]);
        assert!(diff <= TOLERANCE, "{model} {key}[{i}]: max |Δmap| {diff}");
        assert!(m.values.contains(&1.0) && m.values.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let (_, logits) = expected(model, &format!("logits_{key}"));
    let got: Vec<f32> = maps.iter().map(|m| m.logit).collect();
    assert!(max_abs_diff(&got, &logits) <= TOLERANCE, "{model} {key}: logits {got:?} vs torch {logits:?}");
}

#[test]
fn maps_match_pytorch_for_both_fixture_models_and_sizes() {
    for model in ["a", "b"] {
        let cam = cam(model, false);
        for key in ["square", "odd"] {
            let crops = images(key);
            assert_maps_match(model, key, &cam.maps_of_crops(&crops, crops.len()).unwrap());
        }
    }
}

#[test]
fn batching_and_batchnorm_folding_do_not_change_the_maps() {
    let crops = images("square");
    let one_by_one = cam("b", false).maps_of_crops(&crops, 1).unwrap();
    assert_maps_match("b", "square", &one_by_one);
    let folded = cam("b", true).maps_of_crops(&crops, 2).unwrap();
    assert_maps_match("b", "square", &folded);
}

#[test]
fn no_crops_give_no_maps_and_mixed_sizes_are_refused() {
    let cam = cam("b", false);
    assert!(cam.maps_of_crops(&[], 4).unwrap().is_empty());
    let mut crops = images("square");
    crops.push(images("odd").remove(0));
    assert!(cam.maps_of_crops(&crops, 4).is_err());
}
