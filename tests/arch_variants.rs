//! The EfficientNet variants beyond the TensorFlow-ported B0…B7: timm's PyTorch-native EfficientNet (symmetric
//! padding, BatchNorm eps 1e-5), EfficientNet-Lite (ReLU6, no SE, fixed stem/head), the `efficientnet_pytorch` key
//! layout, and ImageNet parity of the EfficientNet-Lite0 weights on real photos.
//!
//! Fixtures: `scripts/reference/make_arch_fixtures.py` (timm 1.0.31, efficientnet_lite_pytorch 0.1.0, torch 2.15.0)
//! writes tests/fixtures/arch/: tiny timm `efficientnet_b0` / `efficientnet_lite0` models with randomised BatchNorm
//! in the DFDC classifier layout, a tiny `efficientnet_pytorch`-layout encoder, and the logits of the package's own
//! model with the real Lite0 weights on five photos of `.cache/media`. The Lite0 weights themselves are fetched by
//! `scripts/fetch-media.sh` into `.cache/weights/` (not committed).

mod common;

use burn::prelude::*;
use common::{arch_at, device, fixture, max_abs_diff, media, tensor, values, weights, B};
use deepfake_detector::imaging::crop::{isotropic_resize, put_to_center};
use deepfake_detector::imaging::load::load_rgb;
use deepfake_detector::imaging::normalize::to_nchw;
use deepfake_detector::model::efficientnet::{Activation, EfficientNetConfig, Padding};
use deepfake_detector::weights::classifier::{
    load_classifier, load_efficientnet, save_efficientnet, LoadedEfficientNet, LoadedEncoder,
};
use deepfake_detector::weights::{TensorFile, WeightsError};

const TOLERANCE: f32 = 1e-4;
const LITE0: &str = "efficientnet-lite0-57934424.pth";

fn io(name: &str) -> TensorFile {
    TensorFile::read(&fixture(&format!("arch/{name}_io.safetensors"))).unwrap()
}

fn arch(name: &str) -> EfficientNetConfig {
    arch_at(&format!("arch/{name}.json"), name)
}

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

/// The largest |Δlogit| of a DFDC-layout fixture against timm's, over the even and odd inputs.
fn logit_error(name: &str, config: &EfficientNetConfig) -> f32 {
    let path = fixture(&format!("arch/{name}_dfdc.pth"));
    let model = load_classifier::<B>(&path, Some(config), &device()).unwrap_or_else(|e| panic!("{e}")).model;
    let io = io(name);
    let folded = model.clone().fold_batchnorm();
    let mut worst = 0f32;
    for input in ["even", "odd"] {
        let got = values(model.forward(tensor::<4>(&io, &format!("input_{input}"))));
        let want = values(tensor::<2>(&io, &format!("logits_{input}")));
        worst = worst.max(max_abs_diff(&got, &want));
        // The inference path: BatchNorm folded, fused kernels (symmetric padding, ReLU6).
        let fused = values(folded.forward_fused(tensor::<4>(&io, &format!("input_{input}"))));
        worst = worst.max(max_abs_diff(&fused, &want));
        let features = values(model.encoder.forward_pooled(tensor::<4>(&io, &format!("input_{input}"))));
        worst = worst.max(max_abs_diff(&features, &values(tensor::<2>(&io, &format!("features_{input}")))));
    }
    worst
}

/// What timm built (blocks per stage, stem and head widths) is what our builder derives from the same data.
fn assert_layout_matches_timm(name: &str) {
    let config = arch(name);
    let desc = json(&format!("arch/{name}.json"));
    let mut per_stage = vec![0u64; config.stages.len()];
    for b in config.scaled_blocks().unwrap() {
        per_stage[b.stage] += 1;
    }
    let timm: Vec<u64> = desc["blocks_per_stage"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(per_stage, timm, "{name}: blocks per stage");
    assert_eq!(config.stem_channels() as u64, desc["stem_channels"].as_u64().unwrap(), "{name}: stem");
    assert_eq!(config.head_channels() as u64, desc["head_channels"].as_u64().unwrap(), "{name}: head");
}

#[test]
fn pytorch_native_efficientnet_matches_timm() {
    assert_layout_matches_timm("b0pt");
    let config = arch("b0pt");
    assert_eq!((config.padding, config.activation, config.bn_eps), (Padding::Symmetric, Activation::Silu, 1e-5));
    let err = logit_error("b0pt", &config);
    assert!(err <= TOLERANCE, "efficientnet_b0 (tiny): max |Δ| {err}");
}

#[test]
fn efficientnet_lite_matches_timm() {
    assert_layout_matches_timm("lite");
    let config = arch("lite");
    assert!(config.fix_stem_head && config.fix_first_last);
    let err = logit_error("lite", &config);
    assert!(err <= TOLERANCE, "efficientnet_lite0 (tiny): max |Δ| {err}");
}

#[test]
fn wrong_padding_activation_or_eps_is_visible() {
    // The fixtures must tell the variants apart, or the parity above would prove nothing.
    let b0pt = arch("b0pt");
    let tf_padding = EfficientNetConfig { padding: Padding::Same, ..b0pt.clone() };
    assert!(logit_error("b0pt", &tf_padding) > 1e-2, "TF SAME padding on a symmetric model went unnoticed");
    let tf_eps = EfficientNetConfig { bn_eps: 1e-3, ..b0pt };
    assert!(logit_error("b0pt", &tf_eps) > 1e-3, "eps 1e-3 on an eps 1e-5 model went unnoticed");
    let silu = EfficientNetConfig { activation: Activation::Silu, ..arch("lite") };
    assert!(logit_error("lite", &silu) > 1e-2, "SiLU on a ReLU6 model went unnoticed");
}

#[test]
fn efficientnet_pytorch_layout_loads_as_encoder() {
    let path = fixture("arch/empt.pth");
    let LoadedEfficientNet::Encoder(encoder) = load_efficientnet::<B>(&path, Some(&arch("empt")), &device()).unwrap()
    else {
        panic!("an efficientnet_pytorch state dict is an encoder");
    };
    let io = io("empt");
    for input in ["even", "odd"] {
        let got = values(encoder.model.forward_pooled(tensor::<4>(&io, &format!("input_{input}"))));
        let want = values(tensor::<2>(&io, &format!("features_{input}")));
        let diff = max_abs_diff(&got, &want);
        assert!(diff <= TOLERANCE, "empt features_{input}: max |Δ| {diff}");
    }
    // With divisor 8 the first block keeps 8 channels at stride 1: timm would add a residual there,
    // efficientnet_pytorch never does, so such an architecture is refused, not run wrongly.
    let narrow = EfficientNetConfig { channel_divisor: 8, width_multiplier: 0.125, ..arch("empt") };
    let err = load_efficientnet::<B>(&path, Some(&narrow), &device()).err().expect("must be refused");
    assert!(matches!(err, WeightsError::UnknownArch { .. }) && err.to_string().contains("block 0.0"), "{err}");
}

/// The five photos as the reference script prepared them: isotropic resize to 224, zero-padded square, (x − 0.5)/0.5.
fn photo_batch() -> (Tensor<B, 4>, usize) {
    let desc = json("arch/lite0_imagenet.json");
    let size = desc["size"].as_u64().unwrap() as u32;
    let stat = |key: &str| -> [f32; 3] {
        let v: Vec<f32> = desc[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        [v[0], v[1], v[2]]
    };
    let crops: Vec<_> = desc["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| put_to_center(&isotropic_resize(&load_rgb(&media(p.as_str().unwrap())).unwrap(), size), size))
        .collect();
    let n = crops.len();
    let data = to_nchw(&crops, stat("mean"), stat("std")).unwrap();
    (Tensor::from_data(TensorData::new(data, [n, 3, size as usize, size as usize]), &device()), n)
}

fn lite0_encoder() -> LoadedEncoder<B> {
    match load_efficientnet::<B>(&weights(LITE0), None, &device()).unwrap_or_else(|e| panic!("{e}")) {
        LoadedEfficientNet::Encoder(e) => e,
        LoadedEfficientNet::Classifier(_) => panic!("ImageNet weights are an encoder"),
    }
}

#[test]
fn lite0_imagenet_logits_match_the_package_model_on_photos() {
    let encoder = lite0_encoder();
    assert_eq!(encoder.config, EfficientNetConfig::named("tf_efficientnet_lite0").unwrap());
    let (batch, n) = photo_batch();
    let features = encoder.model.forward_pooled(batch);
    let want = TensorFile::read(&fixture("arch/lite0_imagenet.safetensors")).unwrap();
    let feature_diff = max_abs_diff(&values(features.clone()), &values(tensor::<2>(&want, "features")));
    // The 1000-class ImageNet head (`_fc`) is not part of an encoder; apply it here to compare logits.
    let file = TensorFile::read(&weights(LITE0)).unwrap();
    let fc_weight = tensor::<2>(&file, "_fc.weight"); // [1000, 1280]
    let fc_bias = tensor::<1>(&file, "_fc.bias");
    let logits = features.matmul(fc_weight.transpose()) + fc_bias.unsqueeze::<2>();
    let got = values(logits);
    let expected = values(tensor::<2>(&want, "logits"));
    let logit_diff = max_abs_diff(&got, &expected);
    println!("Lite0 ImageNet on {n} photos: max |Δfeature| {feature_diff:.3e}, max |Δlogit| {logit_diff:.3e}");
    assert!(feature_diff <= TOLERANCE, "features: max |Δ| {feature_diff}");
    assert!(logit_diff <= TOLERANCE, "logits: max |Δ| {logit_diff}");
    // Same top-1 class as the package (grace_hopper.jpg: 652, military uniform).
    let argmax = |row: &[f32]| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    for (g, e) in got.chunks(1000).zip(expected.chunks(1000)) {
        assert_eq!(argmax(g), argmax(e));
    }
}

#[test]
fn lite0_imports_to_bpk_and_trains_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let encoder_bpk = dir.path().join("lite0_imagenet.bpk");
    let encoder = lite0_encoder();
    let (batch, _) = photo_batch();
    let before = values(encoder.model.forward_pooled(batch.clone()));
    save_efficientnet(&LoadedEfficientNet::Encoder(encoder), &encoder_bpk).unwrap();

    // The .bpk says what it is: an encoder of tf_efficientnet_lite0, no --arch needed.
    let LoadedEfficientNet::Encoder(reloaded) = load_efficientnet::<B>(&encoder_bpk, None, &device()).unwrap() else {
        panic!("the import is an encoder");
    };
    assert_eq!(reloaded.config.name, "tf_efficientnet_lite0");
    assert_eq!(values(reloaded.model.forward_pooled(batch.clone())), before);
    let err = load_classifier::<B>(&encoder_bpk, None, &device()).err().expect("an encoder cannot classify");
    assert!(matches!(err, WeightsError::WrongKind { .. }), "{err}");

    // Lite0 from ImageNet + a new one-logit head, saved and loaded as a classifier at Lite0's own input size.
    let classifier = reloaded.into_classifier(0.2, None, &device()).unwrap();
    assert_eq!((classifier.config.input_size, classifier.config.dropout), (224, 0.2));
    let logits = values(classifier.model.forward(batch.clone()));
    let classifier_bpk = dir.path().join("lite0_dfdc.bpk");
    save_efficientnet(&LoadedEfficientNet::Classifier(classifier), &classifier_bpk).unwrap();
    let loaded = load_classifier::<B>(&classifier_bpk, None, &device()).unwrap();
    assert_eq!(loaded.config.encoder, EfficientNetConfig::named("tf_efficientnet_lite0").unwrap());
    assert_eq!(loaded.config.input_size, 224);
    let again = values(loaded.model.forward(batch.clone()));
    assert!(max_abs_diff(&again, &logits) <= 1e-6, "{again:?} vs {logits:?}");
    // The inference path (BatchNorm folded, fused kernels) runs ReLU6 too.
    let fused = values(loaded.model.fold_batchnorm().forward_fused(batch));
    assert!(max_abs_diff(&fused, &logits) <= TOLERANCE, "fused {fused:?} vs {logits:?}");
}

#[test]
fn lite0_with_the_wrong_arch_names_the_missing_keys() {
    let b0 = EfficientNetConfig::named("tf_efficientnet_b0").unwrap();
    let err = load_efficientnet::<B>(&weights(LITE0), Some(&b0), &device()).err().expect("B0 has SE, Lite0 none");
    let WeightsError::MissingKeys { keys, .. } = &err else { panic!("{err}") };
    assert!(keys.iter().any(|k| k.contains(".se.conv_reduce.")), "{err}");
}
