//! EfficientNet classifier parity with timm, for every weight format, and strict loading.
//!
//! Fixtures: `scripts/reference/make_effnet_fixtures.py` (timm 1.0.31, torch 2.15.0) builds two tiny EfficientNets
//! with timm itself (every BatchNorm randomised), wraps them in the DFDC `DeepFakeClassifier` layout and saves them
//! as a DFDC-style legacy `.pth` (`state_dict`, `module.` prefixes), a plain zip `.pth`, safetensors and a timm
//! ImageNet-style encoder `.pth`, with inputs and expected logits/features.

mod common;

use burn::store::ModuleSnapshot;
use common::{arch, device, fixture, max_abs_diff, tensor, values, B};
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::weights::classifier::{
    load_classifier, load_efficientnet, save_efficientnet, LoadedEfficientNet,
};
use deepfake_detector::weights::{TensorFile, WeightsError};
use safetensors::tensor::TensorView;
use safetensors::SafeTensors;

const TOLERANCE: f32 = 1e-4;

fn io(name: &str) -> TensorFile {
    TensorFile::read(&fixture(&format!("effnet/{name}_io.safetensors"))).unwrap()
}

/// Logits of a checkpoint on both fixture inputs, against timm's.
fn assert_logits_match(name: &str, file: &str) {
    let model = load_classifier::<B>(&fixture(&format!("effnet/{file}")), Some(&arch(name)), &device())
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .model;
    let io = io(name);
    for input in ["64", "odd"] {
        let got = values(model.forward(tensor::<4>(&io, &format!("input_{input}"))));
        let want = values(tensor::<2>(&io, &format!("logits_{input}")));
        let diff = max_abs_diff(&got, &want);
        assert!(diff <= TOLERANCE, "{file} input_{input}: max |Δlogit| {diff} (got {got:?}, timm {want:?})");
    }
}

#[test]
fn dfdc_legacy_checkpoint_matches_timm() {
    assert_logits_match("a", "a_dfdc_legacy.pth");
    assert_logits_match("b", "b_dfdc_legacy.pth");
}

#[test]
fn plain_zip_state_dict_matches_timm() {
    assert_logits_match("b", "b_plain.pth");
}

#[test]
fn safetensors_matches_timm() {
    assert_logits_match("a", "a.safetensors");
    assert_logits_match("b", "b.safetensors");
}

#[test]
fn timm_imagenet_encoder_matches_pooled_features() {
    for name in ["b"] {
        let path = fixture(&format!("effnet/{name}_timm_imagenet.pth"));
        let LoadedEfficientNet::Encoder(encoder) = load_efficientnet::<B>(&path, Some(&arch(name)), &device()).unwrap()
        else {
            panic!("{name}: a timm ImageNet file must load as an encoder");
        };
        let io = io(name);
        for input in ["64", "odd"] {
            let got = values(encoder.model.forward_pooled(tensor::<4>(&io, &format!("input_{input}"))));
            let want = values(tensor::<2>(&io, &format!("features_{input}")));
            assert!(max_abs_diff(&got, &want) <= TOLERANCE, "{name} features_{input}");
        }
        // An encoder has no deepfake head, so it cannot classify.
        let err = load_classifier::<B>(&path, Some(&arch(name)), &device()).err().expect("must be refused");
        assert!(matches!(err, WeightsError::WrongKind { .. }), "{err}");
    }
}

#[test]
fn folded_batchnorm_gives_the_same_logits() {
    let loaded = load_classifier::<B>(&fixture("effnet/b_dfdc_legacy.pth"), Some(&arch("b")), &device()).unwrap();
    let io = io("b");
    let folded = loaded.model.fold_batchnorm();
    let got = values(folded.forward(tensor::<4>(&io, "input_odd")));
    let want = values(tensor::<2>(&io, "logits_odd"));
    assert!(max_abs_diff(&got, &want) <= TOLERANCE, "folded {got:?} vs timm {want:?}");
}

#[test]
fn converted_bpk_keeps_arch_and_logits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.bpk");
    let loaded = load_efficientnet::<B>(&fixture("effnet/a_dfdc_legacy.pth"), Some(&arch("a")), &device()).unwrap();
    save_efficientnet(&loaded, &out).unwrap();
    // No --arch: the converted file says what it is.
    let model = load_classifier::<B>(&out, None, &device()).unwrap();
    assert_eq!(model.config.encoder, arch("a"));
    let io = io("a");
    let got = values(model.model.forward(tensor::<4>(&io, "input_odd")));
    let want = values(tensor::<2>(&io, "logits_odd"));
    assert!(max_abs_diff(&got, &want) <= TOLERANCE);
}

/// A copy of `a.safetensors` with `edit` applied to its tensor list, loaded as fixture model a.
fn load_err(edit: impl FnOnce(&mut Vec<(String, TensorView<'_>)>)) -> WeightsError {
    let bytes = std::fs::read(fixture("effnet/a.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, TensorView<'_>)> = file.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    edit(&mut tensors);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.safetensors");
    safetensors::serialize_to_file(tensors, None, &path).unwrap();
    load_classifier::<B>(&path, Some(&arch("a")), &device()).err().expect("an edited checkpoint must be refused")
}

fn rename(tensors: &mut [(String, TensorView<'_>)], from: &str, to: &str) {
    tensors.iter_mut().find(|(k, _)| k == from).unwrap_or_else(|| panic!("no {from}")).0 = to.to_string();
}

#[test]
fn rejects_checkpoint_with_missing_key() {
    let err = load_err(|t| t.retain(|(k, _)| k != "encoder.blocks.1.0.conv_dw.weight"));
    assert!(matches!(err, WeightsError::MissingKeys { .. }), "{err}");
    assert!(err.to_string().contains("encoder.blocks.1.0.conv_dw.weight"), "{err}");
}

#[test]
fn rejects_checkpoint_with_renamed_key() {
    let err = load_err(|t| rename(t, "fc.weight", "fc.weights"));
    // The expected name is missing; the message names it.
    assert!(matches!(err, WeightsError::MissingKeys { .. }), "{err}");
    assert!(err.to_string().contains("`fc.weight`"), "{err}");
}

#[test]
fn rejects_checkpoint_with_unused_keys() {
    let err = load_err(|t| rename(t, "encoder.bn2.num_batches_tracked", "encoder.blocks.9.0.conv_dw.weight"));
    assert!(matches!(err, WeightsError::UnusedKeys { .. }), "{err}");
    assert!(err.to_string().contains("encoder.blocks.9.0.conv_dw.weight"), "{err}");
}

#[test]
fn rejects_checkpoint_with_wrong_shape() {
    // fc.bias [1] stored under fc.weight's name, and the other way round.
    let err = load_err(|t| {
        rename(t, "fc.weight", "tmp");
        rename(t, "fc.bias", "fc.weight");
        rename(t, "tmp", "fc.bias");
    });
    assert!(
        matches!(err, WeightsError::ShapeMismatch { ref key, .. } if key == "fc.bias" || key == "fc.weight"),
        "{err}"
    );
}

#[test]
fn refuses_a_file_that_is_not_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pth");
    std::fs::write(&path, "just some text").unwrap();
    let err = load_classifier::<B>(&path, Some(&arch("a")), &device()).err().unwrap();
    assert!(matches!(err, WeightsError::UnknownFormat { .. }), "{err}");
    let truncated = dir.path().join("truncated.pth");
    let bytes = std::fs::read(fixture("effnet/a_dfdc_legacy.pth")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(load_classifier::<B>(&truncated, Some(&arch("a")), &device()).is_err());
}

#[test]
fn named_architectures_match_timm_parameter_counts() {
    let read = |rel: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
    };
    // tf_efficientnet_b*: make_effnet_fixtures.py; efficientnet_b*, *efficientnet_lite*: make_arch_fixtures.py.
    let (json, variants) = (read("effnet/param_counts.json"), read("arch/param_counts.json"));
    for config in EfficientNetConfig::all_named() {
        let want = json["models"].get(&config.name).unwrap_or(&variants["models"][&config.name]);
        assert!(want.is_object(), "no timm parameter count for {}", config.name);
        let encoder = config.init::<B>(&device()).unwrap();
        // timm counts parameters, not BatchNorm's running statistics.
        let params: usize = encoder
            .collect(None, None, true)
            .iter()
            .filter(|s| !s.full_path().ends_with("running_mean") && !s.full_path().ends_with("running_var"))
            .map(|s| s.shape.num_elements())
            .sum();
        assert_eq!(params as u64, want["params_without_classifier"].as_u64().unwrap(), "{}", config.name);
        assert_eq!(encoder.num_features() as u64, want["num_features"].as_u64().unwrap(), "{}", config.name);
    }
    // dfdc-solution.md §2.2: B7 encoder without classifier.
    assert_eq!(json["models"]["tf_efficientnet_b7"]["params_without_classifier"], 63_786_960);
}
