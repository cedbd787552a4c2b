//! Run-time choice of the CPU instruction set for the fused kernels, made once per process.
//!
//! The kernels come in three builds of the same code: plain Rust (`Scalar`), AVX2 + FMA and AVX-512F. The best
//! level the CPU supports is detected on first use; the environment variable `DEEPFAKE_SIMD` (`scalar`, `avx2`
//! or `avx512`) caps it, so every path can be run and compared on one machine. Matrix products go through the
//! `gemm` crate, which makes its own choice (its AVX-512 kernels need the `x86-v4` feature).

use std::sync::OnceLock;

/// The environment variable that caps the dispatch level.
pub const LEVEL_ENV: &str = "DEEPFAKE_SIMD";

/// An instruction-set level, ordered from least to most capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Scalar,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// AVX-512 Foundation.
    Avx512,
}

impl Level {
    /// The level the kernels use: the best the CPU has, capped by `DEEPFAKE_SIMD`. Chosen once.
    pub fn current() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let cap = std::env::var(LEVEL_ENV).ok().and_then(|v| Level::parse(&v)).unwrap_or(Level::Avx512);
            Level::detected().min(cap)
        })
    }

    /// The best level this CPU supports, ignoring the cap.
    pub fn detected() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Level::Avx2;
            }
        }
        Level::Scalar
    }

    /// Every level this CPU can run, lowest first (what the kernel tests iterate over).
    pub fn available() -> Vec<Level> {
        [Level::Scalar, Level::Avx2, Level::Avx512].into_iter().filter(|&l| l <= Level::detected()).collect()
    }

    /// `scalar`, `avx2` or `avx512` (case-insensitive); anything else is `None`.
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Level::Scalar),
            "avx2" => Some(Level::Avx2),
            "avx512" => Some(Level::Avx512),
            _ => None,
        }
    }

    /// `level`, lowered to what the CPU supports: a request the CPU cannot honour never reaches a SIMD body.
    pub(crate) fn supported(self) -> Level {
        self.min(Level::detected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_level_names_and_refuses_others() {
        assert_eq!(Level::parse("AVX2"), Some(Level::Avx2));
        assert_eq!(Level::parse(" scalar "), Some(Level::Scalar));
        assert_eq!(Level::parse("avx512"), Some(Level::Avx512));
        assert_eq!(Level::parse("sse"), None);
    }

    #[test]
    fn available_levels_start_at_scalar_and_never_exceed_the_cpu() {
        let levels = Level::available();
        assert_eq!(levels[0], Level::Scalar);
        assert!(levels.iter().all(|&l| l <= Level::detected()));
        assert!(Level::current() <= Level::detected());
        assert_eq!(Level::Avx512.supported(), Level::detected());
    }
}
