//! Per-operation speed of B7 at 380×380: every 1×1 convolution shape (GFLOP/s), every depthwise layer, SiLU
//! (ns per value), fused kernels against Burn flex's own ops, on 1 and 2 threads; then the sum over the whole
//! network per kind of op, which says where a forward pass spends its time.
//!
//!   cargo bench --bench ops
//!   BENCH_THREADS=1,2 BENCH_REPEATS=5 BENCH_BASELINE=0 DEEPFAKE_SIMD=avx2 cargo bench --bench ops
//!
//! One JSON line per case: `{"op", "shape", "threads", "impl", "min_s", "gflops" | "ns_per_value", "count"}`
//! (`count`: how often B7 runs that shape); `impl` is `fused` (this crate's kernels at the dispatch level) or
//! `burn` (flex's conv2d + composed SiLU, with flex's own padding and bias passes).

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use burn::backend::Flex;
use burn::nn::conv::Conv2dConfig;
use burn::nn::PaddingConfig2d;
use burn::prelude::*;
use common::knob;
use deepfake_detector::model::efficientnet::EfficientNetConfig;
use deepfake_detector::model::fused::activation::{self, Activation};
use deepfake_detector::model::fused::depthwise::{depthwise, DepthwiseShape};
use deepfake_detector::model::fused::pointwise::{pointwise, PointwiseExtras, PointwiseShape};
use deepfake_detector::model::fused::{composed, Level};

/// Minimum wall time of `repeats` runs after one warm-up.
fn min_time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// (in, out, spatial side, activation is SiLU)
    Pointwise(usize, usize, usize, bool),
    /// (channels, input side, kernel, stride)
    Depthwise(usize, usize, usize, usize),
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Op::Pointwise(_, _, _, true) => "pointwise_silu",
            Op::Pointwise(_, _, _, false) => "pointwise_linear",
            Op::Depthwise(..) => "depthwise_silu",
        }
    }
}

/// Every 1×1 and depthwise convolution of B7 at `size`, with how often each shape occurs.
fn b7_ops(size: usize) -> BTreeMap<Op, usize> {
    let config = EfficientNetConfig::named("tf_efficientnet_b7").expect("known");
    let mut ops = BTreeMap::new();
    let mut side = size.div_ceil(2); // after the stride-2 stem
    for b in config.scaled_blocks().expect("B7 scales") {
        if b.mid_channels != b.in_channels {
            *ops.entry(Op::Pointwise(b.in_channels, b.mid_channels, side, true)).or_insert(0) += 1;
        }
        *ops.entry(Op::Depthwise(b.mid_channels, side, b.kernel, b.stride)).or_insert(0) += 1;
        side = side.div_ceil(b.stride);
        *ops.entry(Op::Pointwise(b.mid_channels, b.out_channels, side, false)).or_insert(0) += 1;
    }
    *ops.entry(Op::Pointwise(640, config.head_channels(), side, true)).or_insert(0) += 1;
    ops
}

fn report(op: &str, shape: &str, threads: usize, imp: &str, secs: f64, metric: (&str, f64), count: usize) {
    println!(
        "{{\"op\": \"{op}\", \"shape\": \"{shape}\", \"threads\": {threads}, \"impl\": \"{imp}\", \"min_s\": {secs:.7}, \"{}\": {:.3}, \"count\": {count}}}",
        metric.0, metric.1
    );
}

fn bench_op(
    op: Op,
    count: usize,
    threads: usize,
    repeats: usize,
    baseline: bool,
    totals: &mut BTreeMap<(String, &'static str), f64>,
) {
    let level = Level::current();
    let device = Default::default();
    match op {
        Op::Pointwise(k, m, side, silu) => {
            let n = side * side;
            let shape = PointwiseShape { batch: 1, in_channels: k, out_channels: m, spatial: n };
            let (x, w, b) = (ramp(k * n), ramp(m * k), ramp(m));
            let act = if silu { Activation::Silu } else { Activation::Identity };
            let flops = 2.0 * (m * k * n) as f64;
            let label = format!("{k}->{m}@{side}");
            let t = min_time(repeats, || {
                pointwise(level, &shape, &x, &w, PointwiseExtras { bias: Some(&b), gate: None }, act);
            });
            report(op.kind(), &label, threads, "fused", t, ("gflops", flops / t * 1e-9), count);
            *totals.entry(("fused".into(), op.kind())).or_insert(0.0) += t * count as f64;
            if baseline {
                let conv = Conv2dConfig::new([k, m], [1, 1]).init::<Flex>(&device);
                let input = Tensor::<Flex, 4>::from_data(TensorData::new(x.clone(), [1, k, side, side]), &device);
                let t = min_time(repeats, || {
                    let y = composed::activate(conv.forward(input.clone()), act);
                    let _ = y.into_primitive();
                });
                report(op.kind(), &label, threads, "burn", t, ("gflops", flops / t * 1e-9), count);
                *totals.entry(("burn".into(), op.kind())).or_insert(0.0) += t * count as f64;
            }
        }
        Op::Depthwise(c, side, kernel, stride) => {
            let padding = DepthwiseShape::same_padding(side, side, kernel, stride);
            let shape = DepthwiseShape { batch: 1, channels: c, height: side, width: side, kernel, stride, padding };
            let (x, w, b) = (ramp(c * side * side), ramp(c * kernel * kernel), ramp(c));
            let (oh, ow) = shape.out_size();
            let flops = 2.0 * (c * oh * ow * kernel * kernel) as f64;
            let label = format!("{c}@{side}_k{kernel}_s{stride}");
            let t = min_time(repeats, || {
                depthwise(level, &shape, &x, &w, Some(&b), Activation::Silu, true);
            });
            report(op.kind(), &label, threads, "fused", t, ("gflops", flops / t * 1e-9), count);
            *totals.entry(("fused".into(), op.kind())).or_insert(0.0) += t * count as f64;
            if baseline {
                let conv = Conv2dConfig::new([c, c], [kernel, kernel])
                    .with_stride([stride, stride])
                    .with_groups(c)
                    .with_padding(PaddingConfig2d::Same)
                    .init::<Flex>(&device);
                let input = Tensor::<Flex, 4>::from_data(TensorData::new(x.clone(), [1, c, side, side]), &device);
                let t = min_time(repeats, || {
                    let (y, m) = composed::depthwise_act(&conv, input.clone(), Activation::Silu, true);
                    let _ = (y.into_primitive(), m.map(|m| m.into_primitive()));
                });
                report(op.kind(), &label, threads, "burn", t, ("gflops", flops / t * 1e-9), count);
                *totals.entry(("burn".into(), op.kind())).or_insert(0.0) += t * count as f64;
            }
        }
    }
}

fn bench_silu(threads: usize, repeats: usize, baseline: bool) {
    // B7's largest SiLU input: the first expansion, 192 × 190 × 190.
    let n = 192 * 190 * 190;
    let x = ramp(n);
    for level in Level::available() {
        let mut y = x.clone();
        // In place, over a copy made outside the timing: SiLU of SiLU of … stays finite.
        let t = min_time(repeats, || activation::silu(level, &mut y));
        report("silu", &format!("{n}_{level:?}"), threads, "fused", t, ("ns_per_value", t / n as f64 * 1e9), 1);
    }
    if baseline {
        let device = Default::default();
        let input = Tensor::<Flex, 1>::from_data(TensorData::new(x, [n]), &device);
        let t = min_time(repeats, || {
            let _ = composed::silu(input.clone()).into_primitive();
        });
        report("silu", &format!("{n}"), threads, "burn", t, ("ns_per_value", t / n as f64 * 1e9), 1);
    }
}

fn main() {
    let threads: Vec<usize> = std::env::var("BENCH_THREADS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|t| t.parse().ok())
        .collect();
    let repeats = knob("BENCH_REPEATS", 5);
    let baseline = knob("BENCH_BASELINE", 1) != 0;
    let ops = b7_ops(380);
    eprintln!("dispatch level {:?} (detected {:?})", Level::current(), Level::detected());
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().expect("thread pool");
        pool.install(|| {
            bench_silu(t, repeats, baseline);
            let mut totals = BTreeMap::new();
            for (&op, &count) in &ops {
                bench_op(op, count, t, repeats, baseline, &mut totals);
            }
            for ((imp, kind), secs) in totals {
                println!(
                    "{{\"op\": \"total_{kind}\", \"threads\": {t}, \"impl\": \"{imp}\", \"b7_380_s\": {secs:.4}}}"
                );
            }
        });
    }
}
