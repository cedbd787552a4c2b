//! Weight files as flat maps of named tensors, whatever their format.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use burn::store::pytorch::PytorchReader;
use burn::store::{BurnpackStore, BurnpackWriter, ModuleStore, SafetensorsStore, TensorSnapshot};
use serde::Deserialize;

use super::pickle::{legacy_layouts, pickle_layouts, TensorLayout, TRUNCATED};
use super::WeightsError;
use crate::atomic::write_atomic;

/// The on-disk formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `torch.save` since PyTorch 1.6 (a zip archive).
    PytorchZip,
    /// `torch.save` before PyTorch 1.6 (a bare pickle stream), e.g. the DFDC checkpoints and facenet's MTCNN files.
    PytorchLegacy,
    Safetensors,
    /// Burn's own format; what `deepfake import` writes.
    Burnpack,
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightFormat::PytorchZip => "PyTorch (zip)",
            WeightFormat::PytorchLegacy => "PyTorch (legacy pickle)",
            WeightFormat::Safetensors => "safetensors",
            WeightFormat::Burnpack => "Burn (.bpk)",
        })
    }
}

/// Burnpack's magic number, little-endian ("NRUB").
const BURNPACK_MAGIC: [u8; 4] = 0x4255_524E_u32.to_le_bytes();

impl WeightFormat {
    /// Tells the format from the first bytes of a file.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"PK\x03\x04") {
            Some(Self::PytorchZip)
        } else if head.starts_with(&BURNPACK_MAGIC) {
            Some(Self::Burnpack)
        } else if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
            // A pickle protocol header: legacy torch.save writes the magic number as its first pickle.
            Some(Self::PytorchLegacy)
        } else if head.len() >= 9 && head[8] == b'{' {
            // safetensors: u64 little-endian header length, then a JSON header.
            Some(Self::Safetensors)
        } else {
            None
        }
    }

    /// Whether tensor names and layouts follow PyTorch (`weight`/`bias` for BatchNorm, `[out, in]` Linear).
    pub fn is_pytorch_layout(self) -> bool {
        !matches!(self, Self::Burnpack)
    }
}

/// All tensors of one weight file, by name as stored (nested dicts flattened with `.`).
pub struct TensorFile {
    pub path: PathBuf,
    pub format: WeightFormat,
    pub tensors: BTreeMap<String, TensorSnapshot>,
    /// String metadata (Burnpack and safetensors headers); empty for PyTorch files.
    pub metadata: BTreeMap<String, String>,
}

/// Runs a third-party reader, turning a panic inside it into an error: bad files must never crash us.
fn guarded<T>(path: &Path, format: WeightFormat, f: impl FnOnce() -> Result<T, String>) -> Result<T, WeightsError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(reason)) => Err(WeightsError::Read { path: path.to_path_buf(), format, reason }),
        Err(_) => Err(WeightsError::Read { path: path.to_path_buf(), format, reason: "malformed file".into() }),
    }
}

impl TensorFile {
    pub fn read(path: &Path) -> Result<Self, WeightsError> {
        let io = |source| WeightsError::Io { path: path.to_path_buf(), source };
        let mut head = [0u8; 16];
        let n = {
            let mut f = std::fs::File::open(path).map_err(io)?;
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]).map_err(io)? {
                    0 => break,
                    k => n += k,
                }
            }
            n
        };
        let format =
            WeightFormat::sniff(&head[..n]).ok_or_else(|| WeightsError::UnknownFormat { path: path.into() })?;
        let (tensors, metadata) = match format {
            WeightFormat::PytorchZip | WeightFormat::PytorchLegacy => guarded(path, format, || {
                // Our own bounded reading of the pickles comes first: burn-store's reader copies memoised values
                // and recurses, so a hostile pickle must be refused before it sees it (see `super::pickle`).
                let layouts = torch_layouts(path, format)?;
                let reader = PytorchReader::new(path).map_err(|e| e.to_string())?;
                if format == WeightFormat::PytorchLegacy {
                    check_legacy_complete(&reader)?;
                }
                let tensors = reader
                    .into_tensors()
                    .into_iter()
                    .map(|(k, s)| match layouts.get(&k) {
                        Some(layout) => reorder(&k, s, layout).map(|s| (k, s)),
                        // Every tensor must have passed the bounds checks of its layout.
                        None => Err(format!("tensor `{k}` is stored in a way this reader does not understand")),
                    })
                    .collect::<Result<_, String>>()?;
                Ok((tensors, BTreeMap::new()))
            })?,
            WeightFormat::Safetensors => guarded(path, format, || {
                let mut store = SafetensorsStore::from_file(path);
                let tensors = store.get_all_snapshots().map_err(|e| e.to_string())?.clone();
                Ok((tensors, read_safetensors_metadata(path)?))
            })?,
            WeightFormat::Burnpack => guarded(path, format, || {
                let mut store = BurnpackStore::from_file(path).auto_extension(false);
                let tensors = store.get_all_snapshots().map_err(|e| e.to_string())?.clone();
                Ok((tensors, read_burnpack_metadata(path)?))
            })?,
        };
        if tensors.is_empty() {
            return Err(WeightsError::NoTensors { path: path.into() });
        }
        Ok(Self { path: path.to_path_buf(), format, tensors, metadata })
    }
}

/// Shapes and strides of every tensor, read from the file's pickle (see [`super::pickle`]).
/// Only the pickles are read, not the tensor data (a B7 checkpoint is 266 MB): a legacy file's pickles come first
/// and are read in growing prefixes; a zip file's `data.pkl` is one entry of the archive.
fn torch_layouts(path: &Path, format: WeightFormat) -> Result<BTreeMap<String, TensorLayout>, String> {
    torch_layouts_from(path, format, 1 << 20)
}

fn torch_layouts_from(
    path: &Path,
    format: WeightFormat,
    first_read: u64,
) -> Result<BTreeMap<String, TensorLayout>, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let file_bytes = file.metadata().map_err(|e| e.to_string())?.len();
    match format {
        WeightFormat::PytorchLegacy => {
            let mut prefix = Vec::new();
            let mut want = first_read.max(1);
            loop {
                let have = prefix.len() as u64;
                (&mut file).take(want - have).read_to_end(&mut prefix).map_err(|e| e.to_string())?;
                match legacy_layouts(&prefix, file_bytes) {
                    Err(e) if e == TRUNCATED && prefix.len() as u64 == want => want *= 2,
                    result => return result,
                }
            }
        }
        _ => {
            let mut archive = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
            check_zip_members(&mut archive, file_bytes)?;
            let name = archive
                .file_names()
                .find(|n| n.ends_with("data.pkl"))
                .map(str::to_string)
                .ok_or("no data.pkl in the archive")?;
            let mut pickle = Vec::new();
            archive.by_name(&name).map_err(|e| e.to_string())?.read_to_end(&mut pickle).map_err(|e| e.to_string())?;
            pickle_layouts(&pickle, file_bytes)
        }
    }
}

/// PyTorch stores every member of its zip archive uncompressed, and burn-store reads tensor data straight from the
/// member's offset: a compressed member (an archive repacked by a zip tool) would load as garbage. Members must
/// also fit in the file, so that no size from the directory is trusted for an allocation.
fn check_zip_members<R: Read + std::io::Seek>(archive: &mut zip::ZipArchive<R>, file_bytes: u64) -> Result<(), String> {
    for i in 0..archive.len() {
        let member = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        if member.compression() != zip::CompressionMethod::Stored {
            return Err(format!(
                "archive member `{}` is compressed ({}); PyTorch files store members uncompressed (save it again \
                 with torch.save, or repack with `zip -0`)",
                member.name(),
                member.compression()
            ));
        }
        if member.size() > file_bytes || member.compressed_size() > file_bytes {
            return Err(format!(
                "archive member `{}` claims {} bytes, more than the file has",
                member.name(),
                member.size()
            ));
        }
    }
    Ok(())
}

/// burn-store reads every tensor's elements as if contiguous; put a transposed (dense, permuted) tensor's
/// elements back in row-major order, and refuse layouts with gaps or overlaps rather than load them wrong.
fn reorder(key: &str, snapshot: TensorSnapshot, layout: &TensorLayout) -> Result<TensorSnapshot, String> {
    if layout.shape != snapshot.shape.to_vec() {
        return Err(format!(
            "tensor `{key}`: the pickle says shape {:?}, the tensor reader {:?}",
            layout.shape,
            snapshot.shape.to_vec()
        ));
    }
    if layout.is_contiguous() {
        return Ok(snapshot);
    }
    if !layout.is_dense() {
        return Err(format!("tensor `{key}` has a strided layout {:?} this reader cannot load", layout.strides));
    }
    let raw = snapshot.clone_data_fn();
    let order = layout.gather_indices().ok_or_else(|| format!("tensor `{key}` has an overflowing layout"))?;
    let size = snapshot.dtype.size();
    let shape = layout.shape.clone();
    let dtype = snapshot.dtype;
    let data_fn: std::rc::Rc<dyn Fn() -> Result<burn::tensor::TensorData, burn::store::TensorSnapshotError>> =
        std::rc::Rc::new(move || {
            let data = raw()?;
            let bytes = data.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            for &i in &order {
                out.extend_from_slice(&bytes[i * size..(i + 1) * size]);
            }
            Ok(burn::tensor::TensorData::from_bytes_vec(out, shape.clone(), dtype))
        });
    Ok(TensorSnapshot::from_closure(
        data_fn,
        snapshot.dtype,
        snapshot.shape.clone(),
        snapshot.path_stack.clone().unwrap_or_default(),
        snapshot.container_stack.clone().unwrap_or_default(),
        snapshot.tensor_id.unwrap_or_default(),
    ))
}

/// burn-store 0.21 returns zeros for tensor data it cannot read, so a truncated legacy checkpoint would load
/// "successfully". A legacy file ends with its storages, each an 8-byte element count and the data; the data
/// section must hold at least every tensor's bytes (storages shared between tensors, which these files do not use,
/// would make this check refuse a valid file rather than accept a broken one).
fn check_legacy_complete(reader: &PytorchReader) -> Result<(), String> {
    let available = reader.metadata().total_data_size.unwrap_or(0);
    let needed = reader
        .tensors()
        .values()
        .try_fold(0usize, |acc, t| {
            let bytes = t.shape.iter().try_fold(t.dtype.size(), |n, &d| n.checked_mul(d))?;
            acc.checked_add(bytes)?.checked_add(8)
        })
        .ok_or("the tensors' sizes overflow")?;
    if available < needed {
        return Err(format!("truncated: the data section has {available} bytes, its tensors need {needed}"));
    }
    Ok(())
}

impl TensorFile {
    /// A Burnpack file compiled into the binary (the shipped MTCNN weights).
    pub fn from_static_burnpack(name: &str, bytes: &'static [u8]) -> Result<Self, WeightsError> {
        let path = PathBuf::from(name);
        let format = WeightFormat::Burnpack;
        let tensors = guarded(&path, format, || {
            // Copy out of the binary: `include_bytes!` data is only byte-aligned, and zero-copy f32 tensors over it
            // make flex panic on the first convolution.
            let mut store = BurnpackStore::from_static(bytes).zero_copy(false);
            Ok(store.get_all_snapshots().map_err(|e| e.to_string())?.clone())
        })?;
        let metadata = guarded(&path, format, || parse_burnpack_metadata(&mut std::io::Cursor::new(bytes)))?;
        Ok(Self { path, format, tensors, metadata })
    }
}

fn read_safetensors_metadata(path: &Path) -> Result<BTreeMap<String, String>, String> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(default, rename = "__metadata__")]
        metadata: BTreeMap<String, String>,
    }
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|e| e.to_string())?;
    let len = u64::from_le_bytes(len);
    if len > 100 << 20 {
        return Err(format!("header of {len} bytes is implausible"));
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header).map_err(|e| e.to_string())?;
    let header: Header = serde_json::from_slice(&header).map_err(|e| e.to_string())?;
    Ok(header.metadata)
}

fn read_burnpack_metadata(path: &Path) -> Result<BTreeMap<String, String>, String> {
    parse_burnpack_metadata(&mut std::fs::File::open(path).map_err(|e| e.to_string())?)
}

/// Burn 0.21 writes string metadata into a Burnpack file but offers no public way to read it back; the header is
/// `magic u32 | version u16 | metadata length u32` (little-endian) followed by CBOR with a `metadata` map.
fn parse_burnpack_metadata(f: &mut impl Read) -> Result<BTreeMap<String, String>, String> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(default)]
        metadata: BTreeMap<String, String>,
    }
    let mut head = [0u8; 10];
    f.read_exact(&mut head).map_err(|e| e.to_string())?;
    let len = u32::from_le_bytes([head[6], head[7], head[8], head[9]]) as usize;
    if len > 100 << 20 {
        return Err(format!("metadata of {len} bytes is implausible"));
    }
    let mut cbor = vec![0u8; len];
    f.read_exact(&mut cbor).map_err(|e| e.to_string())?;
    let header: Header = ciborium::de::from_reader(cbor.as_slice()).map_err(|e| e.to_string())?;
    Ok(header.metadata)
}

/// What a converted model file holds (metadata key `deepfake.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A `DeepFakeClassifier` (EfficientNet + one-logit head).
    Classifier,
    /// An EfficientNet encoder without a deepfake head (e.g. timm ImageNet weights), a starting point for training.
    Encoder,
    /// The three MTCNN networks.
    Mtcnn,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Classifier => "classifier",
            ModelKind::Encoder => "encoder",
            ModelKind::Mtcnn => "mtcnn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ModelKind::Classifier, ModelKind::Encoder, ModelKind::Mtcnn].into_iter().find(|k| k.as_str() == s)
    }
}

/// Metadata keys of files written by `deepfake import`.
pub mod meta {
    pub const KIND: &str = "deepfake.kind";
    pub const CONFIG: &str = "deepfake.config";
    pub const SOURCE: &str = "deepfake.source";
    pub const SOURCE_SHA256: &str = "deepfake.source_sha256";
}

/// A converted model file's description: what it is and how to rebuild the module it holds.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub kind: ModelKind,
    /// JSON of the module's config (e.g. `ClassifierConfig`).
    pub config: String,
    pub metadata: BTreeMap<String, String>,
}

impl ModelFile {
    /// Reads the `deepfake.*` metadata of a Burnpack file written by us.
    pub fn from_tensor_file(file: &TensorFile) -> Result<Self, WeightsError> {
        let bad = |reason: &str| WeightsError::BadMetadata { path: file.path.clone(), reason: reason.into() };
        let kind =
            file.metadata.get(meta::KIND).ok_or_else(|| bad("no `deepfake.kind`; not written by deepfake import"))?;
        let kind = ModelKind::parse(kind).ok_or_else(|| bad(&format!("unknown kind `{kind}`")))?;
        let config = file.metadata.get(meta::CONFIG).cloned().unwrap_or_default();
        Ok(Self { kind, config, metadata: file.metadata.clone() })
    }
}

/// Writes tensors and metadata to a Burnpack file atomically.
pub fn write_burnpack(
    path: &Path,
    snapshots: Vec<TensorSnapshot>,
    metadata: &BTreeMap<String, String>,
) -> Result<(), WeightsError> {
    let fail = |reason: String| WeightsError::Write { path: path.to_path_buf(), reason };
    // Parameter ids are random per process; dropping them makes a conversion reproducible byte for byte.
    let snapshots = snapshots
        .into_iter()
        .map(|mut s| {
            s.tensor_id = None;
            s
        })
        .collect();
    let mut writer = BurnpackWriter::new(snapshots);
    for (k, v) in metadata {
        writer = writer.with_metadata(k, v);
    }
    let bytes = writer.to_bytes().map_err(|e| fail(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| fail(e.to_string()))
}

/// Hex sha256 of a file, recorded as the provenance of converted weights.
pub fn sha256_file(path: &Path) -> Result<String, WeightsError> {
    use sha2::{Digest, Sha256};
    let io = |source| WeightsError::Io { path: path.to_path_buf(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf).map_err(io)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_pickles_are_read_in_growing_prefixes() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/effnet/b_dfdc_legacy.pth");
        let whole = torch_layouts(&path, WeightFormat::PytorchLegacy).unwrap();
        assert!(whole.len() > 300);
        // Starting from 64 bytes, the prefix doubles until the pickles parse: the same layouts.
        assert_eq!(torch_layouts_from(&path, WeightFormat::PytorchLegacy, 64).unwrap(), whole);
    }

    #[test]
    fn refuses_compressed_zip_members_by_name() {
        // b_plain.pth (torch.save, zip format) with every member marked as deflated, as a zip tool's repacking
        // would: the method field of each local header (offset 8) and central directory entry (offset 10).
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/effnet/b_plain.pth");
        let mut bytes = std::fs::read(&path).unwrap();
        let mut patched = 0;
        for at in 0..bytes.len() - 12 {
            let field = match &bytes[at..at + 4] {
                b"PK\x03\x04" => at + 8,
                b"PK\x01\x02" => at + 10,
                _ => continue,
            };
            bytes[field..field + 2].copy_from_slice(&8u16.to_le_bytes());
            patched += 1;
        }
        assert!(patched >= 4);
        let dir = tempfile::tempdir().unwrap();
        let repacked = dir.path().join("repacked.pth");
        std::fs::write(&repacked, &bytes).unwrap();
        let e = TensorFile::read(&repacked).err().expect("a compressed member is refused").to_string();
        assert!(e.contains("repacked.pth") && e.contains("is compressed (Deflated)"), "{e}");
        // The original reads.
        assert!(TensorFile::read(&path).is_ok());
    }

    #[test]
    fn refuses_self_referencing_pickles_before_burn_store_sees_them() {
        // A legacy-format file whose main pickle is `d = {}; d['a'] = d` (the magic number, protocol and system
        // info pickles before it are real ones, copied from a fixture).
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/effnet/b_dfdc_legacy.pth");
        let bytes = std::fs::read(fixture).unwrap();
        let mut pos = 0;
        for _ in 0..3 {
            pos = bytes[pos..].iter().position(|&b| b == b'.').unwrap() + pos + 1;
        }
        let mut file = bytes[..pos].to_vec();
        file.extend_from_slice(&[0x80, 2, b'}', b'q', 0, b'X', 1, 0, 0, 0, b'a', b'h', 0, b's', b'.']);
        file.extend_from_slice(&[0x80, 2, b']', b'.']);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cycle.pth");
        std::fs::write(&path, &file).unwrap();
        let e = TensorFile::read(&path).err().expect("refused").to_string();
        assert!(e.contains("cycle.pth") && e.contains("contains itself"), "{e}");
    }

    #[test]
    fn sniffs_formats_from_magic_bytes() {
        assert_eq!(WeightFormat::sniff(b"PK\x03\x04rest"), Some(WeightFormat::PytorchZip));
        assert_eq!(WeightFormat::sniff(b"\x80\x02\x8a\x0al\xfc\x9cF"), Some(WeightFormat::PytorchLegacy));
        assert_eq!(WeightFormat::sniff(b"NRUB\x01\x00"), Some(WeightFormat::Burnpack));
        assert_eq!(WeightFormat::sniff(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\""), Some(WeightFormat::Safetensors));
        assert_eq!(WeightFormat::sniff(b"hello world, not weights"), None);
        assert_eq!(WeightFormat::sniff(b""), None);
    }
}
