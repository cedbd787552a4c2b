//! The detector's settings checked ([`DetectorConfig`] itself lives in `detector.rs`).

use super::DetectorConfig;
use crate::config::{min_face_size, probability, pyramid_factor, ConfigError};

impl DetectorConfig {
    /// Thresholds are probabilities, the pyramid factor is in (0, 1) (at 1 the pyramid never ends), the smallest
    /// face is at least one pixel.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for t in self.thresholds {
            probability("thresholds", t)?;
        }
        pyramid_factor("factor", self.factor)?;
        min_face_size("min_face_size", self.min_face_size)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bad_setting() {
        assert!(DetectorConfig::dfdc_inference().validate().is_ok());
        let bad = |c: DetectorConfig| c.validate().unwrap_err().field;
        assert_eq!(bad(DetectorConfig { factor: 1.0, ..DetectorConfig::default() }), "factor");
        assert_eq!(bad(DetectorConfig { min_face_size: 0.0, ..DetectorConfig::default() }), "min_face_size");
        assert_eq!(bad(DetectorConfig { thresholds: [0.5, 1.5, 0.5], ..DetectorConfig::default() }), "thresholds");
    }
}
