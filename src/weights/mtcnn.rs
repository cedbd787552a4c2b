//! MTCNN weights: facenet-pytorch's `pnet.pt`, `rnet.pt`, `onet.pt` (legacy pickles of plain state dicts), and
//! the converted `models/mtcnn.bpk` that ships inside the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::ModuleSnapshot;

use super::file::{meta, sha256_file, write_burnpack, ModelFile, ModelKind, TensorFile};
use super::strict::{load_strict, Naming};
use super::WeightsError;
use crate::face::MtcnnNets;

/// `models/mtcnn.bpk`, converted from facenet-pytorch 2.6.0's weights by `scripts/convert-mtcnn.sh` (MIT; see
/// NOTICE). Compiled in, so detection needs no file and no download.
pub static SHIPPED_MTCNN: &[u8] = include_bytes!("../../models/mtcnn.bpk");

const NETS: [&str; 3] = ["pnet", "rnet", "onet"];

/// Which network a facenet-pytorch file holds, from its name (`pnet.pt`, `my_rnet.pt`, …).
fn net_of(path: &Path) -> Option<&'static str> {
    let stem = path.file_stem()?.to_string_lossy().to_lowercase();
    NETS.into_iter().find(|n| stem.contains(n))
}

/// Reads the three facenet-pytorch files (any order; told apart by name) into one strictly checked module.
pub fn import_facenet<B: Backend>(files: &[PathBuf], device: &B::Device) -> Result<MtcnnNets<B>, WeightsError> {
    let mut tensors = BTreeMap::new();
    let mut seen = Vec::new();
    for path in files {
        let net = net_of(path).ok_or_else(|| WeightsError::WrongKind {
            path: path.clone(),
            expected: "a facenet-pytorch MTCNN file named after its network (pnet/rnet/onet)".into(),
            found: "another name".into(),
        })?;
        seen.push(net);
        let file = TensorFile::read(path)?;
        tensors.extend(file.tensors.into_iter().map(|(k, v)| (format!("{net}.{k}"), v)));
    }
    if let Some(missing) = NETS.into_iter().find(|n| !seen.contains(n)) {
        return Err(WeightsError::MissingKeys {
            path: files.first().cloned().unwrap_or_default(),
            count: 1,
            keys: vec![format!("{missing}.* (give pnet.pt, rnet.pt and onet.pt)")],
        });
    }
    let origin = files.first().map(PathBuf::as_path).unwrap_or(Path::new("mtcnn"));
    load_strict(MtcnnNets::new(device), origin, tensors, Naming::Torch, |_| false)
}

/// Writes the networks to a `.bpk` with their origin in the metadata.
pub fn save_mtcnn<B: Backend>(nets: &MtcnnNets<B>, sources: &[PathBuf], out: &Path) -> Result<(), WeightsError> {
    let mut metadata = BTreeMap::new();
    metadata.insert(meta::KIND.to_string(), ModelKind::Mtcnn.as_str().to_string());
    // In network order, whatever order they were given in, so that a conversion is reproducible byte for byte.
    let mut sources = sources.to_vec();
    sources.sort_by_key(|p| net_of(p).and_then(|n| NETS.iter().position(|m| *m == n)));
    let names: Vec<String> =
        sources.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into()).collect();
    metadata.insert(meta::SOURCE.to_string(), names.join(","));
    let hashes = sources.iter().map(|p| sha256_file(p)).collect::<Result<Vec<_>, _>>()?;
    metadata.insert(meta::SOURCE_SHA256.to_string(), hashes.join(","));
    write_burnpack(out, nets.collect(None, None, true), &metadata)
}

fn from_tensor_file<B: Backend>(file: TensorFile, device: &B::Device) -> Result<MtcnnNets<B>, WeightsError> {
    let kind = ModelFile::from_tensor_file(&file)?.kind;
    if kind != ModelKind::Mtcnn {
        return Err(WeightsError::WrongKind {
            path: file.path,
            expected: "MTCNN weights".into(),
            found: format!("a {} model", kind.as_str()),
        });
    }
    load_strict(MtcnnNets::new(device), &file.path.clone(), file.tensors, Naming::Burn, |_| false)
}

/// Loads MTCNN weights: a `.bpk` written by `deepfake import --arch mtcnn`.
pub fn load_mtcnn<B: Backend>(path: &Path, device: &B::Device) -> Result<MtcnnNets<B>, WeightsError> {
    from_tensor_file(TensorFile::read(path)?, device)
}

/// The weights compiled into the binary.
pub fn shipped_mtcnn<B: Backend>(device: &B::Device) -> Result<MtcnnNets<B>, WeightsError> {
    from_tensor_file(TensorFile::from_static_burnpack("models/mtcnn.bpk (built in)", SHIPPED_MTCNN)?, device)
}
