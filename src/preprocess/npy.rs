//! The few `.npy` files the dataset stages read and write (NumPy's format 1.0): int16 landmarks, float64 maps.
//! Written byte for byte as `np.save` writes them (header dict, space padding to a multiple of 64, newline), so
//! files made here and by the original scripts are identical; a crate would add a dependency for a 10-line header.

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

/// Element types handled here.
pub trait NpyElement: Sized + Copy {
    const DESCR: &'static str;
    const SIZE: usize;
    fn to_le(self, out: &mut Vec<u8>);
    fn from_le(bytes: &[u8]) -> Self;
}

impl NpyElement for i16 {
    const DESCR: &'static str = "<i2";
    const SIZE: usize = 2;
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_le(b: &[u8]) -> Self {
        i16::from_le_bytes([b[0], b[1]])
    }
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    const SIZE: usize = 8;
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_le(b: &[u8]) -> Self {
        f64::from_le_bytes(b.try_into().expect("8 bytes"))
    }
}

/// The bytes `np.save` writes for a C-ordered array of `shape`.
pub fn to_npy<T: NpyElement>(shape: &[usize], data: &[T]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?} does not hold {} values", data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_str = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape_str}, }}", T::DESCR);
    // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.div_ceil(64) * 64 - total));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        v.to_le(&mut out);
    }
    out
}

/// Parses a version 1/2 `.npy` of little-endian `T`, C order. `None` for anything else.
pub fn from_npy<T: NpyElement>(bytes: &[u8]) -> Option<NpyArray<T>> {
    let rest = bytes.strip_prefix(b"\x93NUMPY")?;
    let (major, rest) = (*rest.first()?, rest.get(2..)?);
    let (len, rest) = match major {
        1 => (u16::from_le_bytes([*rest.first()?, *rest.get(1)?]) as usize, rest.get(2..)?),
        2 | 3 => (u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize, rest.get(4..)?),
        _ => return None,
    };
    let header = std::str::from_utf8(rest.get(..len)?).ok()?;
    let data = rest.get(len..)?;
    if !header.contains(&format!("'descr': '{}'", T::DESCR)) || !header.contains("'fortran_order': False") {
        return None;
    }
    let inner = header.split("'shape': (").nth(1)?.split(')').next()?;
    let shape: Vec<usize> =
        inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect::<Option<_>>()?;
    let n: usize = shape.iter().product();
    if data.len() != n * T::SIZE {
        return None;
    }
    Some(NpyArray { shape, data: data.chunks_exact(T::SIZE).map(T::from_le).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_numpys_for_landmarks() {
        // np.save of np.zeros((5, 2), np.int16) is 148 bytes: a 128-byte header, then 20 data bytes.
        let bytes = to_npy(&[5, 2], &[0i16; 10]);
        assert_eq!(bytes.len(), 148);
        assert_eq!(to_npy(&[3], &[0f64; 3]).len(), 128 + 24);
        let text = std::str::from_utf8(&bytes[10..128]).unwrap();
        assert!(text.starts_with("{'descr': '<i2', 'fortran_order': False, 'shape': (5, 2), }"));
        assert!(text.ends_with(" \n"));
        let back: NpyArray<i16> = from_npy(&bytes).unwrap();
        assert_eq!(back.shape, vec![5, 2]);
        assert!(from_npy::<f64>(&bytes).is_none());
    }
}
