//! Choosing where the networks run: `--device cpu | cuda | cuda:N | tch | tch-cuda:N`.
//!
//! Burn backends are types, so code that runs a model is generic over `B: Backend` and [`run_on`] picks the type
//! from the user's choice. A GPU is probed through the driver library *before* Burn touches it: asking Burn for a
//! missing CUDA device panics inside a worker thread (rust-stack.md §3), and we owe the user a clear error.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

use crate::model::fused::FusedOps;

/// The device a user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// Burn's pure-Rust `flex` backend on the CPU (feature `flex`, the default).
    Cpu,
    /// NVIDIA GPU `N` through CubeCL (feature `cuda`).
    Cuda(usize),
    /// libtorch on the CPU (feature `tch`).
    Tch,
    /// libtorch on NVIDIA GPU `N` (feature `tch`).
    TchCuda(usize),
}

/// Numeric precision of the networks (reduced precision only on GPUs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    F16,
    Bf16,
}

impl Precision {
    pub const NAMES: [&'static str; 3] = ["f32", "f16", "bf16"];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("unknown precision `{s}`; use f32, f16 or bf16")),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceSpec::Tch => write!(f, "tch"),
            DeviceSpec::TchCuda(i) => write!(f, "tch-cuda:{i}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device `{0}`; use cpu, cuda, cuda:N, tch or tch-cuda:N")]
    Parse(String),
    #[error("device `{device}` needs a binary built with `--features {feature}`")]
    NotBuilt { device: DeviceSpec, feature: &'static str },
    #[error("device `{device}`: no usable NVIDIA driver ({reason})")]
    NoDriver { device: DeviceSpec, reason: String },
    #[error("device `{device}`: GPU {index} requested, but {count} GPU(s) found")]
    NoSuchGpu { device: DeviceSpec, index: usize, count: usize },
    #[error("precision {precision:?} is only available on CUDA devices")]
    Precision { precision: Precision },
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let index = |rest: &str| rest.parse::<usize>().map_err(|_| DeviceError::Parse(s.to_string()));
        match s {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            "tch" => Ok(DeviceSpec::Tch),
            "tch-cuda" => Ok(DeviceSpec::TchCuda(0)),
            _ => {
                if let Some(rest) = s.strip_prefix("cuda:") {
                    Ok(DeviceSpec::Cuda(index(rest)?))
                } else if let Some(rest) = s.strip_prefix("tch-cuda:") {
                    Ok(DeviceSpec::TchCuda(index(rest)?))
                } else {
                    Err(DeviceError::Parse(s.to_string()))
                }
            }
        }
    }
}

/// Work that runs on whichever backend the user picked. Every backend `run_on` picks implements
/// [`FusedOps`](crate::model::fused::FusedOps) (natively on flex, composed elsewhere); tasks that do not run a
/// classifier may ask for `B: Backend` only.
pub trait BackendTask {
    type Output;
    fn run<B: FusedOps>(self, device: Device<B>) -> Self::Output;
}

/// Counts NVIDIA GPUs through the driver API (`libcuda.so.1`), without touching Burn.
pub fn cuda_device_count() -> Result<usize, String> {
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut i32) -> i32;
    // SAFETY: loading the NVIDIA driver library runs its initialisers, which is what any CUDA program does; the
    // two symbols have the C signatures of the CUDA driver API (`CUresult cuInit(unsigned)`,
    // `CUresult cuDeviceGetCount(int*)`).
    unsafe {
        let lib = libloading::Library::new("libcuda.so.1")
            .or_else(|_| libloading::Library::new("libcuda.so"))
            .map_err(|e| format!("cannot load libcuda.so.1: {e}"))?;
        let init: libloading::Symbol<CuInit> = lib.get(b"cuInit\0").map_err(|e| e.to_string())?;
        let count_fn: libloading::Symbol<CuDeviceGetCount> =
            lib.get(b"cuDeviceGetCount\0").map_err(|e| e.to_string())?;
        let rc = init(0);
        if rc != 0 {
            return Err(format!("cuInit failed with CUDA error {rc}"));
        }
        let mut count = 0i32;
        let rc = count_fn(&mut count);
        if rc != 0 {
            return Err(format!("cuDeviceGetCount failed with CUDA error {rc}"));
        }
        Ok(count.max(0) as usize)
    }
}

fn check_gpu(device: DeviceSpec, index: usize) -> Result<(), DeviceError> {
    let count = cuda_device_count().map_err(|reason| DeviceError::NoDriver { device, reason })?;
    if index >= count {
        return Err(DeviceError::NoSuchGpu { device, index, count });
    }
    Ok(())
}

/// Runs `task` on the backend and device `spec` names, at `precision`.
pub fn run_on<T: BackendTask>(spec: DeviceSpec, precision: Precision, task: T) -> Result<T::Output, DeviceError> {
    if precision != Precision::F32 && !matches!(spec, DeviceSpec::Cuda(_)) {
        return Err(DeviceError::Precision { precision });
    }
    match spec {
        DeviceSpec::Cpu => run_cpu(task),
        DeviceSpec::Cuda(index) => {
            check_gpu(spec, index)?;
            run_cuda(index, precision, task)
        }
        DeviceSpec::Tch => run_tch(None, task),
        DeviceSpec::TchCuda(index) => {
            check_gpu(spec, index)?;
            run_tch(Some(index), task)
        }
    }
}

#[cfg(feature = "flex")]
fn run_cpu<T: BackendTask>(task: T) -> Result<T::Output, DeviceError> {
    Ok(task.run::<burn::backend::Flex>(Default::default()))
}

#[cfg(not(feature = "flex"))]
fn run_cpu<T: BackendTask>(_task: T) -> Result<T::Output, DeviceError> {
    Err(DeviceError::NotBuilt { device: DeviceSpec::Cpu, feature: "flex" })
}

#[cfg(feature = "cuda")]
fn run_cuda<T: BackendTask>(index: usize, precision: Precision, task: T) -> Result<T::Output, DeviceError> {
    use burn::backend::cuda::CudaDevice;
    use burn::backend::Cuda;
    let device = CudaDevice::new(index);
    Ok(match precision {
        Precision::F32 => task.run::<Cuda<f32, i32>>(device),
        Precision::F16 => task.run::<Cuda<burn::tensor::f16, i32>>(device),
        Precision::Bf16 => task.run::<Cuda<burn::tensor::bf16, i32>>(device),
    })
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: BackendTask>(index: usize, _precision: Precision, _task: T) -> Result<T::Output, DeviceError> {
    Err(DeviceError::NotBuilt { device: DeviceSpec::Cuda(index), feature: "cuda" })
}

#[cfg(feature = "tch")]
fn run_tch<T: BackendTask>(gpu: Option<usize>, task: T) -> Result<T::Output, DeviceError> {
    use burn::backend::libtorch::LibTorchDevice;
    let device = match gpu {
        Some(i) => LibTorchDevice::Cuda(i),
        None => LibTorchDevice::Cpu,
    };
    Ok(task.run::<burn::backend::LibTorch>(device))
}

#[cfg(not(feature = "tch"))]
fn run_tch<T: BackendTask>(gpu: Option<usize>, _task: T) -> Result<T::Output, DeviceError> {
    let device = gpu.map_or(DeviceSpec::Tch, DeviceSpec::TchCuda);
    Err(DeviceError::NotBuilt { device, feature: "tch" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert_eq!("tch-cuda:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::TchCuda(1));
        assert!("gpu".parse::<DeviceSpec>().is_err());
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn reduced_precision_is_refused_on_cpu() {
        struct Nothing;
        impl BackendTask for Nothing {
            type Output = ();
            fn run<B: Backend>(self, _device: Device<B>) {}
        }
        assert!(matches!(run_on(DeviceSpec::Cpu, Precision::F16, Nothing), Err(DeviceError::Precision { .. })));
    }
}
