//! Checked settings: the bounds every stage's options must keep, so that no argument or file header can make a
//! run hang (a pyramid factor of 1 never ends), exhaust memory (a million frames of 4K) or produce a silent
//! nonsense score (a threshold of 7).
//!
//! Each options type has a `validate()` that names the bad field; the single-value checks below are what both
//! `validate()` and the command line's value parsers call, so a bound is written once.

use std::fmt::Display;
use std::ops::RangeInclusive;

/// A setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The option's name (`factor`, `frames`, `input_size`, ...).
    pub field: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// Frames sampled per video at most: 32 frames of 4096×4096 RGB already take 1.6 GB.
pub const MAX_FRAMES: usize = 1024;
/// Largest classifier input side (a 1024² B7 forward pass is ~20 GB of activations at batch 16).
pub const MAX_INPUT_SIZE: u32 = 1024;
/// Smallest classifier input side: EfficientNet halves the input five times.
pub const MIN_INPUT_SIZE: u32 = 32;
/// Crops per forward pass at most, and faces per video at most.
pub const MAX_BATCH: usize = 4096;

/// `value` within `range`, else an error naming `field`.
pub fn in_range<T: PartialOrd + Display + Copy>(
    field: &'static str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(field, format!("{value} is outside {}..={}", range.start(), range.end())))
    }
}

/// A probability: finite and in [0, 1].
pub fn probability(field: &'static str, value: f32) -> Result<f32, ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(field, format!("{value} is not a probability in [0, 1]")))
    }
}

/// The scale step of an image pyramid: strictly between 0 and 1 (at 1 or above the pyramid never ends).
pub fn pyramid_factor(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(ConfigError::new(field, format!("{value} is not in the open interval (0, 1)")))
    }
}

/// A smallest face side in pixels: finite and at least 1 (smaller sides make the pyramid's first scale enormous).
pub fn min_face_size(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value >= 1.0 {
        Ok(value)
    } else {
        Err(ConfigError::new(field, format!("{value} is not a size of at least 1 pixel")))
    }
}

/// A classifier's square input side.
pub fn input_size(field: &'static str, value: u32) -> Result<u32, ConfigError> {
    in_range(field, value, MIN_INPUT_SIZE..=MAX_INPUT_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_field_and_the_range() {
        assert_eq!(
            in_range("frames", 0usize, 1..=MAX_FRAMES).unwrap_err().to_string(),
            "frames: 0 is outside 1..=1024"
        );
        assert_eq!(in_range("frames", 32usize, 1..=MAX_FRAMES), Ok(32));
        assert!(probability("on_error", 1.5).is_err());
        assert!(probability("on_error", f32::NAN).is_err());
        assert_eq!(probability("on_error", 1.0), Ok(1.0));
        assert!(pyramid_factor("factor", 1.0).is_err());
        assert!(pyramid_factor("factor", 0.0).is_err());
        assert!(pyramid_factor("factor", f64::NAN).is_err());
        assert_eq!(pyramid_factor("factor", 0.709), Ok(0.709));
        assert!(min_face_size("min_face_size", 0.5).is_err());
        assert!(min_face_size("min_face_size", f64::INFINITY).is_err());
        assert!(input_size("input_size", 31).is_err());
        assert_eq!(input_size("input_size", 380), Ok(380));
    }
}
