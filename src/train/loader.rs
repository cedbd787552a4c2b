//! Loading and augmenting crops on worker threads, as a Burn `DataLoader`.
//!
//! Burn's own multi-threaded loader hands batches over in whatever order its workers finish, which would make a
//! run depend on thread timing; this one augments each batch's crops in parallel (a rayon pool of
//! `data.loader_threads`), keeps two batches queued ahead of the device, and yields them in order. Every crop's
//! random draws come from a generator seeded by (seed, epoch, position in the epoch), so a resumed or re-run epoch
//! sees exactly the same batches.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::prelude::*;
use image::RgbImage;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;

use super::augment::{train_augment, val_transform};
use super::config::AugmentConfig;
use super::data::{load_crop, Row};
use super::step::{smooth_label, TrainBatch};
use crate::imaging::normalize::{to_nchw, IMAGENET_MEAN, IMAGENET_STD};

/// Batches queued ahead of the training step.
const PREFETCH: usize = 2;

/// A seed per crop: SplitMix64 of (seed, epoch, index) so neighbouring crops get unrelated streams.
pub fn crop_seed(seed: u64, epoch: usize, index: usize) -> u64 {
    let mut z =
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How crops become tensors.
#[derive(Debug, Clone)]
pub struct LoaderSpec {
    pub root: PathBuf,
    pub size: u32,
    pub batch_size: usize,
    pub threads: usize,
    pub seed: u64,
    pub epoch: usize,
    /// Label smoothing `s` (targets clipped to `[s, 1 − s]`); 0 for validation.
    pub smoothing: f32,
    /// `Some`: training augmentations; `None`: the validation transform.
    pub augment: Option<AugmentConfig>,
}

/// One prepared batch on the host.
pub struct HostBatch {
    pub images: Vec<f32>,
    pub labels: Vec<f32>,
    pub targets: Vec<f32>,
    /// Index in the loader's rows of each crop (failed crops are left out).
    pub indices: Vec<usize>,
}

/// Loads, augments and normalises one crop.
fn prepare(spec: &LoaderSpec, row: &Row, global_index: usize) -> Result<RgbImage, String> {
    let (img, mut extras) = load_crop(&spec.root, row, spec.augment.is_some()).map_err(|e| e.to_string())?;
    Ok(match &spec.augment {
        Some(cfg) => {
            let mut rng = StdRng::seed_from_u64(crop_seed(spec.seed, spec.epoch, global_index));
            let label = smooth_label(row.label, spec.smoothing);
            train_augment(img, &mut extras, label, spec.size, cfg, &mut rng)
        }
        None => val_transform(&img, spec.size),
    })
}

/// Prepares the crops `rows[range]` in parallel; failures are recorded in `errors` and left out.
pub fn prepare_batch(
    spec: &LoaderSpec,
    rows: &[Row],
    offset: usize,
    range: std::ops::Range<usize>,
    errors: &Mutex<Vec<String>>,
) -> HostBatch {
    let results: Vec<(usize, Result<RgbImage, String>)> =
        range.into_par_iter().map(|i| (i, prepare(spec, &rows[i], offset + i))).collect();
    let mut images = Vec::with_capacity(results.len());
    let (mut labels, mut targets, mut indices) = (Vec::new(), Vec::new(), Vec::new());
    for (i, r) in results {
        match r {
            Ok(img) => {
                images.push(img);
                labels.push(rows[i].label);
                targets.push(smooth_label(rows[i].label, spec.smoothing));
                indices.push(i);
            }
            Err(e) => errors.lock().expect("not poisoned").push(e),
        }
    }
    let images = to_nchw(&images, IMAGENET_MEAN, IMAGENET_STD).expect("every crop was resized to the same size");
    HostBatch { images, labels, targets, indices }
}

/// A Burn data loader over a fixed list of crops (one epoch's sample, or the validation set).
pub struct CropLoader<B: Backend> {
    spec: Arc<LoaderSpec>,
    rows: Arc<Vec<Row>>,
    /// Position of `rows[0]` in the epoch (seeds stay the same when Burn slices the loader per device).
    offset: usize,
    /// Only full batches (the solution's `drop_last`).
    drop_last: bool,
    device: B::Device,
    errors: Arc<Mutex<Vec<String>>>,
}

impl<B: Backend> CropLoader<B> {
    pub fn new(
        spec: LoaderSpec,
        rows: Vec<Row>,
        drop_last: bool,
        device: B::Device,
        errors: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        Self { spec: Arc::new(spec), rows: Arc::new(rows), offset: 0, drop_last, device, errors }
    }

    fn batches(&self) -> usize {
        let bs = self.spec.batch_size.max(1);
        if self.drop_last {
            self.rows.len() / bs
        } else {
            self.rows.len().div_ceil(bs)
        }
    }
}

struct CropIter<B: Backend> {
    receiver: Receiver<HostBatch>,
    device: B::Device,
    size: usize,
    done: usize,
    total: usize,
    _worker: std::thread::JoinHandle<()>,
}

impl<B: Backend> Iterator for CropIter<B> {
    type Item = TrainBatch<B>;

    fn next(&mut self) -> Option<TrainBatch<B>> {
        loop {
            let b = self.receiver.recv().ok()?;
            self.done += b.indices.len().max(1);
            if b.labels.is_empty() {
                continue; // every crop of this batch failed to load; the errors are reported after the epoch
            }
            return Some(TrainBatch::from_host(b.images, self.size, &b.labels, &b.targets, &self.device));
        }
    }
}

impl<B: Backend> DataLoaderIterator<TrainBatch<B>> for CropIter<B> {
    fn progress(&self) -> Progress {
        Progress::new(self.done.min(self.total), self.total)
    }
}

impl<B: Backend> DataLoader<B, TrainBatch<B>> for CropLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<TrainBatch<B>> + 'a> {
        let (sender, receiver) = sync_channel(PREFETCH);
        let (spec, rows, errors, offset) = (self.spec.clone(), self.rows.clone(), self.errors.clone(), self.offset);
        let batches = self.batches();
        let worker = std::thread::spawn(move || {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(spec.threads.max(1)).build();
            let run = |sender: std::sync::mpsc::SyncSender<HostBatch>| {
                let bs = spec.batch_size.max(1);
                for b in 0..batches {
                    let range = b * bs..((b + 1) * bs).min(rows.len());
                    if sender.send(prepare_batch(&spec, &rows, offset, range, &errors)).is_err() {
                        return;
                    }
                }
            };
            match pool {
                Ok(pool) => pool.install(|| run(sender)),
                Err(_) => run(sender),
            }
        });
        let total = (batches * self.spec.batch_size).min(self.rows.len());
        Box::new(CropIter::<B> {
            receiver,
            device: self.device.clone(),
            size: self.spec.size as usize,
            done: 0,
            total,
            _worker: worker,
        })
    }

    fn num_items(&self) -> usize {
        if self.drop_last {
            self.batches() * self.spec.batch_size
        } else {
            self.rows.len()
        }
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, TrainBatch<B>>> {
        Arc::new(Self { device: device.clone(), ..self.clone_inner() })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, TrainBatch<B>>> {
        let end = end.min(self.rows.len());
        let start = start.min(end);
        Arc::new(Self {
            rows: Arc::new(self.rows[start..end].to_vec()),
            offset: self.offset + start,
            ..self.clone_inner()
        })
    }
}

impl<B: Backend> CropLoader<B> {
    fn clone_inner(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            rows: self.rows.clone(),
            offset: self.offset,
            drop_last: self.drop_last,
            device: self.device.clone(),
            errors: self.errors.clone(),
        }
    }
}
