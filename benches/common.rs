//! Shared by the benchmarks: timing with warm-up, min and median, JSON lines like the Python reference scripts.
#![allow(dead_code)]

use std::marker::PhantomData;
use std::time::Instant;

use burn::prelude::*;
use deepfake_detector::device::{run_on, BackendTask, DeviceSpec, Precision};
pub use deepfake_detector::model::fused::FusedOps;

#[path = "../tests/common/mod.rs"]
mod tests_common;
#[allow(unused_imports)] // not every benchmark reads media
pub use tests_common::media;

/// `BENCH_REPEATS` / `BENCH_WARMUP` from the environment, with defaults.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `f` `warmup` times untimed, then `repeats` times; prints one JSON line with min and median seconds
/// (`per` divides them, e.g. by the frames of a batch) and returns (min, median).
pub fn time_case(case: &str, per: usize, warmup: usize, repeats: usize, mut f: impl FnMut(usize)) -> (f64, f64) {
    for i in 0..warmup {
        f(i);
    }
    let mut times: Vec<f64> = (0..repeats)
        .map(|i| {
            let t = Instant::now();
            f(warmup + i);
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let (min, median) = (times[0], times[times.len() / 2]);
    println!(
        "{{\"case\": \"{case}\", \"impl\": \"rust\", \"repeats\": {repeats}, \"min_s\": {min:.6}, \"median_s\": {median:.6}, \"per\": {per}, \"min_per_s\": {:.6}, \"median_per_s\": {:.6}, \"threads\": \"{}\"}}",
        min / per as f64,
        median / per as f64,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
    (min, median)
}

/// A benchmark written once for every backend.
pub trait DeviceBench {
    fn bench<B: FusedOps>(device: Device<B>);
}

struct Task<T>(PhantomData<T>);

impl<T: DeviceBench> BackendTask for Task<T> {
    type Output = ();

    fn run<B: FusedOps>(self, device: Device<B>) {
        T::bench::<B>(device)
    }
}

/// Runs `T` on `BENCH_DEVICE` (cpu, tch, cuda, …; default cpu).
pub fn run_bench<T: DeviceBench>() {
    let spec: DeviceSpec = std::env::var("BENCH_DEVICE").unwrap_or_else(|_| "cpu".into()).parse().expect("device");
    run_on(spec, Precision::F32, Task::<T>(PhantomData)).expect("device available");
}
