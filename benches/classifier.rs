//! EfficientNet-B7 at 380×380 (random weights, BatchNorm folded as `classify`/`infer` run it), batch 1 and 8,
//! the Rust side of `scripts/reference/bench_classifier.py`.
//!
//!   cargo bench --bench classifier                              # CPU (flex), all cores
//!   cargo bench --bench classifier --features cuda -- cuda      # also on GPU 0
//!   LIBTORCH_USE_PYTORCH=1 cargo bench --bench classifier --features tch -- tch   # also on libtorch (CPU)
//!   BENCH_REPEATS=5 BENCH_WARMUP=1 BENCH_BATCHES=1,8 BENCH_ARCH=tf_efficientnet_b7 …

#[path = "common.rs"]
mod common;

use burn::prelude::*;
use common::{knob, time_case, FusedOps};
use deepfake_detector::device::{run_on, BackendTask, DeviceSpec, Precision};
use deepfake_detector::model::classifier::ClassifierConfig;
use deepfake_detector::model::efficientnet::EfficientNetConfig;

struct Bench {
    label: String,
}

impl BackendTask for Bench {
    type Output = ();

    fn run<B: FusedOps>(self, device: Device<B>) {
        let arch = std::env::var("BENCH_ARCH").unwrap_or_else(|_| "tf_efficientnet_b7".into());
        let config = ClassifierConfig::dfdc(EfficientNetConfig::named(&arch).expect("known arch"));
        let model = config.init::<B>(&device).expect("build model").fold_batchnorm();
        let size = config.input_size;
        let batches: Vec<usize> = std::env::var("BENCH_BATCHES")
            .unwrap_or_else(|_| "1,8".into())
            .split(',')
            .filter_map(|b| b.parse().ok())
            .collect();
        for n in batches {
            let input = vec![0.1f32; n * 3 * size * size];
            let (warmup, repeats) = (knob("BENCH_WARMUP", 1), knob("BENCH_REPEATS", 5));
            time_case(&format!("{arch}_{size}_batch{n}_{}", self.label), n, warmup, repeats, |_| {
                let logits = model.logits(input.clone(), n, size, &device);
                assert_eq!(logits.len(), n);
            });
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let mut devices = vec![DeviceSpec::Cpu];
    if args.iter().any(|a| a == "cuda") {
        devices.push(DeviceSpec::Cuda(0));
    }
    if args.iter().any(|a| a == "tch") {
        devices.push(DeviceSpec::Tch);
    }
    for spec in devices {
        let label = spec.to_string();
        if let Err(e) = run_on(spec, Precision::F32, Bench { label }) {
            eprintln!("{spec}: {e}");
        }
    }
}
