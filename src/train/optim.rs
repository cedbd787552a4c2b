//! The optimizer and schedule of the solution, with PyTorch's semantics where Burn's differ
//! (training-recipes.md §4): the PolyLR step semantics, SGD with dampening 0, and one *global* gradient norm clip.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::LrScheduler;
use burn::optim::momentum::MomentumConfig;
use burn::optim::LearningRate;
use burn::optim::{GradientsParams, MultiGradientsParams, Optimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use super::config::{OptimizerConfig, ScheduleConfig};

/// The solution's `PolyLR` stepped once per optimizer step (`mode: step`).
///
/// Its `get_lr` first advances `last_epoch = (last_epoch + 1) % max_iter`, and PyTorch's scheduler constructor
/// already steps once, so optimizer step `n` (0-based, global) runs at `base · (1 − max(n, 1)/max_iter)^power`:
/// steps 0 and 1 share the same rate and `base` itself is never used (training-recipes.md §0.11, §4.1). Burn's
/// learner calls [`LrScheduler::step`] before every optimizer step and uses the value it returns, so the
/// `n`-th call returns `lr_n`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolyLr {
    base: f64,
    max_iter: u64,
    power: f64,
    /// Optimizer steps already taken (the next `step()` is for step `steps`).
    steps: u64,
}

impl PolyLr {
    pub fn new(base: f64, max_iter: u64, power: f64) -> Self {
        Self { base, max_iter: max_iter.max(1), power, steps: 0 }
    }

    /// A constant schedule (`schedule.type = "constant"`): `power` 0 makes every factor 1.
    pub fn constant(base: f64) -> Self {
        Self { base, max_iter: u64::MAX, power: 0.0, steps: 0 }
    }

    pub fn from_config(optimizer: &OptimizerConfig, schedule: &ScheduleConfig) -> Self {
        match schedule.kind.as_str() {
            "constant" => Self::constant(optimizer.learning_rate),
            _ => Self::new(optimizer.learning_rate, schedule.max_iter, schedule.power),
        }
    }

    /// The rate of global optimizer step `n` (0-based).
    pub fn lr_at(&self, n: u64) -> f64 {
        if self.power == 0.0 {
            return self.base;
        }
        // `(last_epoch + 1) % max_iter` with last_epoch = n - 1 for n ≥ 1 and the constructor's step for n = 0.
        let k = n.max(1) % self.max_iter;
        self.base * (1.0 - k as f64 / self.max_iter as f64).powf(self.power)
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

impl LrScheduler for PolyLr {
    type Record<B: Backend> = u64;

    fn step(&mut self) -> LearningRate {
        let lr = self.lr_at(self.steps);
        self.steps += 1;
        lr
    }

    fn to_record<B: Backend>(&self) -> Self::Record<B> {
        self.steps
    }

    fn load_record<B: Backend>(mut self, record: Self::Record<B>) -> Self {
        self.steps = record;
        self
    }
}

/// Burn's SGD configured like PyTorch's `SGD(momentum, dampening, weight_decay, nesterov)`. Burn's
/// `MomentumConfig` defaults to dampening 0.1, so every field is set explicitly; Burn's own per-tensor clipping
/// stays off ([`GlobalClip`] does it the PyTorch way).
pub fn sgd_config(c: &OptimizerConfig) -> SgdConfig {
    let momentum = (c.momentum > 0.0)
        .then(|| MomentumConfig::new().with_momentum(c.momentum).with_dampening(c.dampening).with_nesterov(c.nesterov));
    let decay = (c.weight_decay > 0.0).then(|| WeightDecayConfig::new(c.weight_decay as f32));
    SgdConfig::new().with_momentum(momentum).with_weight_decay(decay).with_gradient_clipping(None)
}

/// Wraps an optimizer so that, before each step, the gradients are averaged over the devices they were summed
/// from and then clipped by their *global* L2 norm, as `torch.nn.utils.clip_grad_norm_(params, max_norm)` does:
/// `total = ‖(‖g₁‖, …, ‖g_k‖)‖`, every `g ×= min(1, max_norm / (total + 1e-6))`.
///
/// Burn's `GradientClipping::Norm` clips each tensor by its own norm instead, which on B7's 711 tensors lets the
/// global norm reach √711 (training-recipes.md §4.4). Burn's multi-device learner *sums* the devices' gradients
/// where PyTorch's DDP averages them, hence `grad_scale = 1 / devices`.
#[derive(Clone)]
pub struct GlobalClip<O> {
    inner: O,
    max_norm: f64,
    grad_scale: f64,
}

impl<O> GlobalClip<O> {
    /// `max_norm` 0 disables clipping; `devices` is the number of devices whose gradients are summed per step.
    pub fn new(inner: O, max_norm: f64, devices: usize) -> Self {
        Self { inner, max_norm, grad_scale: 1.0 / devices.max(1) as f64 }
    }
}

/// Collects the ids of all float parameters (with their rank), in module order.
struct ParamIds<'a> {
    ids: &'a mut Vec<(burn::module::ParamId, usize)>,
}

impl<B: Backend> ModuleVisitor<B> for ParamIds<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.ids.push((param.id, D));
    }
}

/// Applies `f` to every gradient of `grads` belonging to `module`'s float parameters.
fn for_each_grad<B: Backend, M: burn::module::Module<B>>(
    module: &M,
    grads: &GradientsParams,
    mut f: impl FnMut(burn::module::ParamId, usize),
) {
    let mut ids = Vec::new();
    module.visit(&mut ParamIds { ids: &mut ids });
    for (id, rank) in ids {
        let present = match rank {
            1 => grads.get::<B, 1>(id).is_some(),
            2 => grads.get::<B, 2>(id).is_some(),
            3 => grads.get::<B, 3>(id).is_some(),
            4 => grads.get::<B, 4>(id).is_some(),
            _ => false,
        };
        if present {
            f(id, rank);
        }
    }
}

/// `g ← g · s` for one gradient of rank `rank`.
fn scale_grad<B: Backend>(grads: &mut GradientsParams, id: burn::module::ParamId, rank: usize, s: f64) {
    macro_rules! scale {
        ($d:literal) => {{
            let g = grads.remove::<B, $d>(id).expect("present: checked by for_each_grad");
            grads.register::<B, $d>(id, g.mul_scalar(s));
        }};
    }
    match rank {
        1 => scale!(1),
        2 => scale!(2),
        3 => scale!(3),
        4 => scale!(4),
        _ => {}
    }
}

/// `‖g‖²` of one gradient, as an f64 on the host.
fn squared_norm<B: Backend>(grads: &GradientsParams, id: burn::module::ParamId, rank: usize) -> f64 {
    macro_rules! sq {
        ($d:literal) => {{
            let g = grads.get::<B, $d>(id).expect("present: checked by for_each_grad");
            g.powi_scalar(2).sum().into_scalar().elem::<f64>()
        }};
    }
    match rank {
        1 => sq!(1),
        2 => sq!(2),
        3 => sq!(3),
        4 => sq!(4),
        _ => 0.0,
    }
}

/// The global L2 norm of the gradients (PyTorch's `total_norm`).
pub fn global_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M, grads: &GradientsParams) -> f64 {
    let mut ids = Vec::new();
    for_each_grad::<B::InnerBackend, _>(&module.valid(), grads, |id, rank| ids.push((id, rank)));
    ids.iter().map(|&(id, rank)| squared_norm::<B::InnerBackend>(grads, id, rank)).sum::<f64>().sqrt()
}

/// Scales every gradient by `grad_scale`, then clips them by their global norm; returns the norm before clipping.
pub fn scale_and_clip<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    grad_scale: f64,
    max_norm: f64,
) -> f64 {
    let mut ids = Vec::new();
    for_each_grad::<B::InnerBackend, _>(&module.valid(), grads, |id, rank| ids.push((id, rank)));
    if grad_scale != 1.0 {
        for &(id, rank) in &ids {
            scale_grad::<B::InnerBackend>(grads, id, rank, grad_scale);
        }
    }
    let total = ids.iter().map(|&(id, rank)| squared_norm::<B::InnerBackend>(grads, id, rank)).sum::<f64>().sqrt();
    if max_norm > 0.0 {
        // torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1.
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            for &(id, rank) in &ids {
                scale_grad::<B::InnerBackend>(grads, id, rank, coef);
            }
        }
    }
    total
}

impl<M, B, O> Optimizer<M, B> for GlobalClip<O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    O: Optimizer<M, B>,
{
    type Record = O::Record;

    fn step(&mut self, lr: LearningRate, module: M, mut grads: GradientsParams) -> M {
        scale_and_clip::<B, M>(&module, &mut grads, self.grad_scale, self.max_norm);
        self.inner.step(lr, module, grads)
    }

    /// Sharded gradients are first summed on the main device: a global norm needs all of them.
    fn step_multi(&mut self, lr: LearningRate, module: M, grads: MultiGradientsParams) -> M {
        let device = module.devices().into_iter().next().expect("a module lives on a device");
        let mut parts = grads.grads.into_iter().map(|(g, _)| g.to_device::<B, M>(&device, &module));
        let mut sum = parts.next().unwrap_or_default();
        for part in parts {
            let mut ids = Vec::new();
            for_each_grad::<B::InnerBackend, _>(&module.valid(), &part, |id, rank| ids.push((id, rank)));
            let mut part = part;
            for (id, rank) in ids {
                macro_rules! add {
                    ($d:literal) => {{
                        let g = part.remove::<B::InnerBackend, $d>(id).expect("present");
                        let merged = match sum.remove::<B::InnerBackend, $d>(id) {
                            Some(s) => s + g,
                            None => g,
                        };
                        sum.register::<B::InnerBackend, $d>(id, merged);
                    }};
                }
                match rank {
                    1 => add!(1),
                    2 => add!(2),
                    3 => add!(3),
                    4 => add!(4),
                    _ => {}
                }
            }
        }
        self.step(lr, module, sum)
    }

    fn to_record(&self) -> Self::Record {
        self.inner.to_record()
    }

    fn load_record(mut self, record: Self::Record) -> Self {
        self.inner = self.inner.load_record(record);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poly_schedule_matches_the_solutions_step_semantics() {
        // Hand-computed: lr_n = 0.01 · (1 − max(n,1)/100500)^0.9 (training-recipes.md §4.1).
        let mut s = PolyLr::new(0.01, 100_500, 0.9);
        let lrs: Vec<f64> = (0..3).map(|_| s.step()).collect();
        let first = 0.01 * (1.0f64 - 1.0 / 100_500.0).powf(0.9);
        assert!((lrs[0] - first).abs() < 1e-15 && (lrs[1] - first).abs() < 1e-15);
        assert!((lrs[2] - 0.01 * (1.0f64 - 2.0 / 100_500.0).powf(0.9)).abs() < 1e-15);
        assert!((s.lr_at(99_999) - 8.47e-5).abs() < 1e-7, "{}", s.lr_at(99_999));
        // A tiny max_iter: 0.1 · (1 − 1/4)^0.9, (1 − 1/4)^0.9, (1 − 2/4)^0.9, (1 − 3/4)^0.9, then the modulo wrap.
        let s = PolyLr::new(0.1, 4, 0.9);
        let want =
            [0.1 * 0.75f64.powf(0.9), 0.1 * 0.75f64.powf(0.9), 0.1 * 0.5f64.powf(0.9), 0.1 * 0.25f64.powf(0.9), 0.1];
        for (n, w) in want.iter().enumerate() {
            assert!((s.lr_at(n as u64) - w).abs() < 1e-15, "step {n}");
        }
    }

    #[test]
    fn poly_schedule_resumes_from_its_record() {
        let mut a = PolyLr::new(0.01, 100, 0.9);
        for _ in 0..7 {
            a.step();
        }
        let record = LrScheduler::to_record::<burn::backend::Flex>(&a);
        let mut b = PolyLr::new(0.01, 100, 0.9).load_record::<burn::backend::Flex>(record);
        assert_eq!(a.step(), b.step());
    }
}
