//! Reading dlib's own `shape_predictor` files (`shape_predictor_68_face_landmarks.dat`), written by dlib's
//! `serialize()`: ../shared/reference/dlib-shape-predictor.md §1–§2. No crate reads this format, and parity needs
//! every float exactly as dlib holds it, so the reader is hand-written.

use std::io::BufRead;

use super::LandmarksError;

/// One regression tree: `splits` in heap order (node n's children are 2n+1 and 2n+2), then `splits.len() + 1`
/// leaf vectors of `2·parts` floats, left to right, stored one after another.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub splits: Vec<Split>,
    pub leaves: Vec<f32>,
}

/// Go left when `feature[idx1] − feature[idx2] > thresh`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    pub idx1: u32,
    pub idx2: u32,
    pub thresh: f32,
}

/// One cascade: the feature pixels (offsets from anchor landmarks) and the trees that read them.
#[derive(Debug, Clone)]
pub(crate) struct Cascade {
    pub anchors: Vec<u32>,
    pub deltas: Vec<[f32; 2]>,
    pub trees: Vec<Tree>,
}

/// The whole model as dlib stores it.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// x0, y0, x1, y1, … in box units (the mean training shape).
    pub initial_shape: Vec<f32>,
    pub cascades: Vec<Cascade>,
}

/// Bounds that no sane model exceeds; they stop a corrupt count from allocating gigabytes.
const MAX_PARTS: u64 = 1000;
const MAX_CASCADES: u64 = 100;
const MAX_TREES: u64 = 10_000;
const MAX_SPLITS: u64 = 1023;
const MAX_FEATURES: u64 = 100_000;

struct Reader<R> {
    inner: R,
    offset: u64,
    path: String,
}

impl<R: BufRead> Reader<R> {
    fn bad(&self, what: impl Into<String>) -> LandmarksError {
        LandmarksError::Format { path: self.path.clone(), offset: self.offset, what: what.into() }
    }

    fn io(&self, e: std::io::Error) -> LandmarksError {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.bad("the file ends early"),
            _ => LandmarksError::Io { path: self.path.clone(), source: e },
        }
    }

    fn peek(&mut self) -> Result<u8, LandmarksError> {
        let buf = self.inner.fill_buf().map_err(|e| LandmarksError::Io { path: self.path.clone(), source: e })?;
        match buf.first() {
            Some(&b) => Ok(b),
            None => Err(self.bad("the file ends early")),
        }
    }

    fn byte(&mut self) -> Result<u8, LandmarksError> {
        let mut b = [0u8; 1];
        self.inner.read_exact(&mut b).map_err(|e| self.io(e))?;
        self.offset += 1;
        Ok(b[0])
    }

    /// dlib's `unpack_int`: a control byte (bit 7 = negative, bits 0–3 = byte count), then the magnitude
    /// little-endian. Unsigned readers mask with 0x8F, so a sign bit there gives a count above 8: an error.
    fn int(&mut self, signed: bool) -> Result<i64, LandmarksError> {
        let control = self.byte()?;
        let (negative, n) = if signed { (control & 0x80 != 0, control & 0x0F) } else { (false, control & 0x8F) };
        if n == 0 || n > 8 {
            return Err(self.bad(format!("integer control byte {control:#04x}")));
        }
        let mut magnitude: u64 = 0;
        for i in 0..n {
            magnitude |= u64::from(self.byte()?) << (8 * i);
        }
        let value = i64::try_from(magnitude).map_err(|_| self.bad("integer out of range"))?;
        Ok(if negative { -value } else { value })
    }

    fn count(&mut self, what: &str, max: u64) -> Result<usize, LandmarksError> {
        let n = self.int(false)?;
        if n as u64 > max {
            return Err(self.bad(format!("{what}: count {n} exceeds {max}")));
        }
        Ok(n as usize)
    }

    fn index(&mut self, what: &str, bound: usize) -> Result<u32, LandmarksError> {
        let i = self.int(false)?;
        if i as u64 >= bound as u64 {
            return Err(self.bad(format!("{what} {i} out of range (< {bound})")));
        }
        Ok(i as u32)
    }

    /// `float_details`: mantissa (int64) first, then exponent (int16) — the header comment in dlib says the
    /// opposite, the code does this. value = m·2^e, exact in f64 and then rounded once to f32 as dlib does.
    fn float(&mut self) -> Result<f32, LandmarksError> {
        if self.peek()? & 0x70 != 0 {
            return Err(self.bad("old ASCII float encoding is not supported"));
        }
        let mantissa = self.int(true)?;
        let exponent = self.int(true)?;
        if !(-2000..2000).contains(&exponent) {
            return Err(self.bad(format!("non-finite or invalid float (exponent {exponent})")));
        }
        let value = (mantissa as f64 * 2f64.powi(exponent as i32)) as f32;
        if !value.is_finite() {
            return Err(self.bad("float overflows f32"));
        }
        Ok(value)
    }

    /// `matrix<float,0,1>`: −rows, −cols (negated = the new format), then the elements row-major.
    fn column(&mut self, what: &str, expect_rows: Option<usize>) -> Result<Vec<f32>, LandmarksError> {
        let rows = self.int(true)?.unsigned_abs();
        let cols = self.int(true)?.unsigned_abs();
        if cols != 1 || rows > 2 * MAX_PARTS || expect_rows.is_some_and(|r| r as u64 != rows) {
            return Err(self.bad(format!("{what}: unexpected matrix size {rows}x{cols}")));
        }
        (0..rows).map(|_| self.float()).collect()
    }
}

/// Parses a whole `shape_predictor` stream; `path` names it in errors. Trailing bytes are an error.
pub(crate) fn read_model<R: BufRead>(inner: R, path: &str) -> Result<Model, LandmarksError> {
    let mut r = Reader { inner, offset: 0, path: path.to_string() };
    let version = r.int(true)?;
    if version != 1 {
        return Err(r.bad(format!("shape_predictor version {version}, only 1 is known")));
    }
    let initial_shape = r.column("initial_shape", None)?;
    if initial_shape.is_empty() || initial_shape.len() % 2 != 0 {
        return Err(r.bad(format!("initial_shape has {} values, not 2 per part", initial_shape.len())));
    }
    let parts = initial_shape.len() / 2;

    let n_cascades = r.count("cascades", MAX_CASCADES)?;
    let mut forests = Vec::with_capacity(n_cascades);
    for _ in 0..n_cascades {
        let n_trees = r.count("trees", MAX_TREES)?;
        let mut trees = Vec::with_capacity(n_trees);
        for _ in 0..n_trees {
            let n_splits = r.count("splits", MAX_SPLITS)?;
            let mut splits = Vec::with_capacity(n_splits);
            for _ in 0..n_splits {
                let idx1 = r.int(false)?;
                let idx2 = r.int(false)?;
                let thresh = r.float()?;
                if idx1 as u64 >= MAX_FEATURES || idx2 as u64 >= MAX_FEATURES {
                    return Err(r.bad(format!("split feature index ({idx1}, {idx2}) too large")));
                }
                splits.push(Split { idx1: idx1 as u32, idx2: idx2 as u32, thresh });
            }
            let n_leaves = r.count("leaves", MAX_SPLITS + 1)?;
            if n_leaves != n_splits + 1 {
                return Err(r.bad(format!("a tree with {n_splits} splits has {n_leaves} leaves")));
            }
            let mut leaves = Vec::with_capacity(n_leaves * 2 * parts);
            for _ in 0..n_leaves {
                leaves.extend(r.column("leaf", Some(2 * parts))?);
            }
            trees.push(Tree { splits, leaves });
        }
        forests.push(trees);
    }

    let n = r.count("anchor_idx", MAX_CASCADES)?;
    if n != n_cascades {
        return Err(r.bad(format!("{n} anchor lists for {n_cascades} cascades")));
    }
    let mut anchors = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.count("anchors", MAX_FEATURES)?;
        anchors.push((0..k).map(|_| r.index("anchor", parts)).collect::<Result<Vec<_>, _>>()?);
    }
    let n = r.count("deltas", MAX_CASCADES)?;
    if n != n_cascades {
        return Err(r.bad(format!("{n} delta lists for {n_cascades} cascades")));
    }
    let mut cascades = Vec::with_capacity(n);
    for (trees, anchors) in forests.into_iter().zip(anchors) {
        let k = r.count("deltas", MAX_FEATURES)?;
        if k != anchors.len() {
            return Err(r.bad(format!("{k} deltas for {} anchors", anchors.len())));
        }
        let deltas = (0..k).map(|_| Ok([r.float()?, r.float()?])).collect::<Result<Vec<_>, LandmarksError>>()?;
        let features = anchors.len() as u32;
        if trees.iter().flat_map(|t| &t.splits).any(|s| s.idx1 >= features || s.idx2 >= features) {
            return Err(r.bad(format!("a split reads a feature beyond the cascade's {features}")));
        }
        cascades.push(Cascade { anchors, deltas, trees });
    }
    let at_end = match r.inner.fill_buf() {
        Ok(rest) => rest.is_empty(),
        Err(e) => return Err(r.io(e)),
    };
    if !at_end {
        return Err(r.bad("unexpected bytes after the model"));
    }
    Ok(Model { initial_shape, cascades })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader<&[u8]> {
        Reader { inner: bytes, offset: 0, path: "t".into() }
    }

    #[test]
    fn integers_follow_dlibs_control_byte() {
        assert_eq!(reader(&[0x01, 0x01]).int(false).unwrap(), 1);
        assert_eq!(reader(&[0x81, 0x88]).int(true).unwrap(), -136);
        assert_eq!(reader(&[0x02, 0xf4, 0x01]).int(false).unwrap(), 500);
        // An unsigned reader sees a negative number's control byte as a count of 9+ bytes.
        assert!(reader(&[0x81, 0x88]).int(false).is_err());
        assert!(reader(&[0x02, 0xf4]).int(false).is_err());
    }

    #[test]
    fn floats_are_mantissa_then_exponent() {
        // initial_shape[0] of the 68-point model (dlib-shape-predictor.md §1).
        let v = reader(&[0x03, 0x4d, 0x38, 0xf1, 0x81, 0x1d]).float().unwrap();
        assert_eq!(v, (15808589f64 * 2f64.powi(-29)) as f32);
        assert_eq!(reader(&[0x01, 0x00, 0x01, 0x28]).float().unwrap(), 0.0);
        assert!(reader(&[0x31, 0x00]).float().is_err());
    }

    #[test]
    fn truncated_or_padded_files_are_errors() {
        assert!(read_model(&[0x01u8, 0x01][..], "t").is_err());
        assert!(read_model(&[0x01u8, 0x02][..], "t").is_err());
        // version 1, a 2x1 shape, no cascades, empty anchor and delta lists: a valid (useless) model.
        let mut ok = vec![0x01, 0x01, 0x81, 0x02, 0x81, 0x01];
        ok.extend([0x01, 0x00, 0x01, 0x28, 0x01, 0x00, 0x01, 0x28, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00]);
        assert!(read_model(&ok[..], "t").is_ok());
        ok.push(0);
        assert!(read_model(&ok[..], "t").is_err());
    }
}
