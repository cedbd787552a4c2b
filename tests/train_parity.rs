//! Training parity with PyTorch: three SGD steps of the DFDC recipe on a fixed batch, from the same weights.
//!
//! Fixtures: `scripts/reference/train_parity.py` (torch 2.15.0, timm 1.0.31) builds a tiny timm EfficientNet
//! (tf_efficientnet_b0 layout at width 0.25, depth 0.5, randomised BatchNorm) in the DFDC classifier wrapper and
//! runs the solution's loop: labels clipped to [0.01, 0.99], split BCE loss, SGD Nesterov (dampening 0, weight
//! decay 1e-4), global clip_grad_norm_ 1.0, PolyLR stepped per step. Ours runs the same steps through the
//! learner's code path (`TrainStep::step`, `GlobalClip` around Burn's SGD, `PolyLr`).

mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::lr_scheduler::LrScheduler;
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::store::ModuleSnapshot;
use burn::train::TrainStep;
use common::fixture;
use deepfake_detector::model::classifier::ClassifierConfig;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::train::config::OptimizerConfig;
use deepfake_detector::train::optim::{global_grad_norm, sgd_config, GlobalClip, PolyLr};
use deepfake_detector::train::step::{smooth_label, TrainBatch};
use deepfake_detector::weights::classifier::load_classifier;
use deepfake_detector::weights::strict::expected_tensors;
use deepfake_detector::weights::TensorFile;

type AB = Autodiff<Flex>;

fn floats(file: &TensorFile, key: &str) -> Vec<f64> {
    file.tensors[key].to_data().unwrap().convert::<f64>().to_vec::<f64>().unwrap()
}

#[test]
fn three_sgd_steps_match_pytorch_losses_and_weights() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("train/parity.json")).unwrap()).unwrap();
    let arch: EfficientNetConfig = serde_json::from_value(json["arch"].clone()).unwrap();
    let recipe = &json["recipe"];
    let device = Default::default();
    // Loaded on the autodiff backend (parameters loaded on the inner one would not require gradients).
    let loaded = load_classifier::<AB>(&fixture("train/parity_init.safetensors"), Some(&arch), &device).unwrap();
    assert_eq!(
        loaded.config,
        ClassifierConfig { input_size: loaded.config.input_size, ..ClassifierConfig::dfdc(arch.clone()) }
    );
    let mut model = loaded.model;

    let io = TensorFile::read(&fixture("train/parity_io.safetensors")).unwrap();
    let x: Vec<f32> = floats(&io, "x").iter().map(|&v| v as f32).collect();
    let labels: Vec<f32> = floats(&io, "labels").iter().map(|&v| v as f32).collect();
    let smoothing = recipe["label_smoothing"].as_f64().unwrap() as f32;
    let targets: Vec<f32> = labels.iter().map(|&l| smooth_label(l, smoothing)).collect();
    let (want_losses, want_norms, want_lrs) = (floats(&io, "losses"), floats(&io, "grad_norms"), floats(&io, "lrs"));

    let optimizer = OptimizerConfig {
        learning_rate: recipe["base_lr"].as_f64().unwrap(),
        momentum: recipe["momentum"].as_f64().unwrap(),
        weight_decay: recipe["weight_decay"].as_f64().unwrap(),
        clip_grad_norm: recipe["clip"].as_f64().unwrap(),
        ..OptimizerConfig::default()
    };
    let mut optim = GlobalClip::new(sgd_config(&optimizer).init(), optimizer.clip_grad_norm, 1);
    let mut schedule =
        PolyLr::new(optimizer.learning_rate, recipe["max_iter"].as_u64().unwrap(), recipe["power"].as_f64().unwrap());
    for step in 0..want_losses.len() {
        let lr = schedule.step();
        assert!((lr - want_lrs[step]).abs() < 1e-12, "step {step}: lr {lr} vs {}", want_lrs[step]);
        let batch = TrainBatch::<AB>::from_host(x.clone(), 64, &labels, &targets, &device);
        let out = TrainStep::step(&model, batch);
        assert!(!out.grads.is_empty(), "no gradients");
        let loss = out.item.loss.clone().into_scalar().elem::<f64>();
        assert!((loss - want_losses[step]).abs() < 1e-5, "step {step}: loss {loss} vs torch {}", want_losses[step]);
        let norm = global_grad_norm::<AB, _>(&model, &out.grads);
        eprintln!(
            "step {step}: loss {loss:.8} (torch {:.8}), |g| {norm:.6} (torch {:.6})",
            want_losses[step], want_norms[step]
        );
        assert!(
            (norm - want_norms[step]).abs() < 1e-4 * want_norms[step],
            "step {step}: |g| {norm} vs {}",
            want_norms[step]
        );
        model = optim.step(lr, model, out.grads);
    }

    // Every parameter and BatchNorm running statistic after the three steps.
    let final_file = TensorFile::read(&fixture("train/parity_final.safetensors")).unwrap();
    let trained = model.valid();
    let ours: std::collections::BTreeMap<String, Vec<f32>> = trained
        .collect(None, None, true)
        .into_iter()
        .map(|s| (s.full_path(), s.to_data().unwrap().convert::<f32>().to_vec::<f32>().unwrap()))
        .collect();
    // The steps must move the weights far more than the tolerance, or the comparison would prove nothing.
    let init_file = TensorFile::read(&fixture("train/parity_init.safetensors")).unwrap();
    let moved = floats(&init_file, "fc.weight")
        .iter()
        .zip(floats(&final_file, "fc.weight"))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(moved > 1e-3, "fc.weight moved only {moved}");
    let mut worst = (0.0f64, String::new());
    let mut compared = 0;
    for e in expected_tensors::<Flex, _>(&trained) {
        let want = floats(&final_file, &e.torch_path);
        let mut got: Vec<f64> = ours[&e.burn_path].iter().map(|&v| f64::from(v)).collect();
        if e.torch_shape != e.burn_shape && e.burn_shape.len() == 2 {
            let (rows, cols) = (e.burn_shape[0], e.burn_shape[1]);
            got = (0..rows * cols).map(|i| got[(i % rows) * cols + i / rows]).collect();
        }
        for (g, w) in got.iter().zip(&want) {
            let d = (g - w).abs();
            if d > worst.0 {
                worst = (d, e.torch_path.clone());
            }
        }
        compared += 1;
    }
    eprintln!("{compared} tensors, largest difference {} in `{}`", worst.0, worst.1);
    assert!(compared > 100, "compared only {compared} tensors");
    assert!(worst.0 < 1e-5, "largest weight difference {} in `{}`", worst.0, worst.1);
}
