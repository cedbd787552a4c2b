//! `deepfake train` end to end on the CPU: `configs/tiny.toml` on a small dataset in the layout `deepfake
//! preprocess` writes (made here: smooth "real" crops and "fake" copies with a blended, re-textured patch), a few
//! epochs with the whole recipe. The loss falls, every epoch leaves a checkpoint, a metrics line and a `.bpk` that
//! `classify` and `infer` load; `--resume` ends with the same weights as an uninterrupted run; two CPU devices
//! (Burn's multi-device strategy) give a loss curve within noise of one device.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use deepfake_detector::train::data::npy_points_bytes;
use deepfake_detector::train::{train, TrainConfig, TrainEvent, TrainOptions, TrainSummary};
use deepfake_detector::weights::TensorFile;
use image::{GrayImage, Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SIZE: u32 = 48;

/// The tests of this file run one at a time: flex draws drop-path masks from one process-wide generator (seeded
/// per epoch by the trainer), so two trainings in parallel threads would interleave their draws.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn real_crop(rng: &mut StdRng) -> RgbImage {
    let base = [rng.random_range(60..200u32), rng.random_range(60..200), rng.random_range(60..200)];
    let (fx, fy) = (rng.random_range(0.05..0.2f32), rng.random_range(0.05..0.2f32));
    RgbImage::from_fn(SIZE, SIZE, |x, y| {
        let wave = ((x as f32 * fx).sin() + (y as f32 * fy).cos()) * 20.0;
        Rgb(base.map(|b| (b as f32 + wave + rng.random_range(-3.0..3.0f32)).clamp(0.0, 255.0) as u8))
    })
}

/// The original with a square patch replaced by a high-frequency, colour-shifted texture, feathered at its edge.
fn fake_crop(real: &RgbImage, rng: &mut StdRng) -> (RgbImage, GrayImage) {
    let (cx, cy) = (rng.random_range(16..32) as f32, rng.random_range(16..32) as f32);
    let mut fake = real.clone();
    let mut diff = GrayImage::new(SIZE, SIZE);
    for (x, y, p) in fake.enumerate_pixels_mut() {
        let d = ((x as f32 - cx).abs()).max((y as f32 - cy).abs());
        let alpha = (1.0 - (d - 8.0) / 4.0).clamp(0.0, 1.0);
        if alpha > 0.0 {
            // A blended, re-textured and brightened patch: visible through every augmentation.
            let tex = if (x / 2 + y / 2) % 2 == 0 { 50.0 } else { -10.0 };
            let old = p.0;
            p.0 = old
                .map(|v| (v as f32 * (1.0 - alpha) + alpha * (v as f32 * 0.5 + 110.0 + tex)).clamp(0.0, 255.0) as u8);
            let change = old.iter().zip(p.0).map(|(a, b)| (*a as i32 - b as i32).unsigned_abs()).max().unwrap();
            diff.put_pixel(x, y, image::Luma([change.min(255) as u8]));
        }
    }
    (fake, diff)
}

/// `reals` real videos with a fake each; the last `holdout` pairs are fold 0.
fn make_dataset(root: &Path, reals: usize, frames: usize, holdout: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut csv = String::from("video,file,label,original,frame,fold\n");
    let landmarks = [(15i16, 18i16), (33, 18), (24, 26), (17, 36), (31, 36)];
    let outline: Vec<(i16, i16)> = (0..68)
        .map(|i| {
            let t = i as f32 / 68.0 * std::f32::consts::TAU;
            ((24.0 + 16.0 * t.cos()) as i16, (24.0 + 20.0 * t.sin()) as i16)
        })
        .collect();
    for v in 0..reals {
        let fold = if v >= reals - holdout { 0 } else { 1 + v % 3 };
        let (real, fake) = (format!("real{v}"), format!("fake{v}"));
        for d in
            ["crops", "landmarks", "diffs"].iter().flat_map(|d| [Path::new(d).join(&real), Path::new(d).join(&fake)])
        {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in 0..frames {
            let frame = f * 10;
            let file = format!("{frame}_0.png");
            let r = real_crop(&mut rng);
            let (fk, diff) = fake_crop(&r, &mut rng);
            r.save(root.join("crops").join(&real).join(&file)).unwrap();
            fk.save(root.join("crops").join(&fake).join(&file)).unwrap();
            diff.save(root.join("diffs").join(&fake).join(format!("{frame}_0_diff.png"))).unwrap();
            std::fs::write(
                root.join("landmarks").join(&real).join(format!("{frame}_0.npy")),
                npy_points_bytes(&landmarks),
            )
            .unwrap();
            std::fs::write(
                root.join("landmarks").join(&real).join(format!("{frame}_0_68.npy")),
                npy_points_bytes(&outline),
            )
            .unwrap();
            csv.push_str(&format!("{real},{file},0,{real},{frame},{fold}\n{fake},{file},1,{real},{frame},{fold}\n"));
        }
    }
    std::fs::write(root.join("folds.csv"), csv).unwrap();
}

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn tiny_config(data: &Path, out: &Path) -> TrainConfig {
    let mut c = TrainConfig::from_file(&repo("configs/tiny.toml")).unwrap();
    c.data.root = data.to_path_buf();
    c.out = out.to_path_buf();
    c.model.encoder = repo("configs/arch/tiny.json").display().to_string();
    c
}

fn quiet() -> Arc<dyn Fn(TrainEvent) + Send + Sync> {
    Arc::new(|_| {})
}

fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let file = TensorFile::read(path).unwrap();
    file.tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.to_data().unwrap().convert::<f32>().to_vec::<f32>().unwrap()))
        .collect()
}

fn max_weight_diff(a: &Path, b: &Path) -> f32 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .flat_map(|((ka, va), (kb, vb))| {
            assert_eq!(ka, kb);
            va.iter().zip(vb).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f32::max)
}

fn losses(s: &TrainSummary) -> Vec<f64> {
    s.epochs.iter().map(|e| e.train_loss).collect()
}

#[test]
fn tiny_config_trains_checkpoints_resumes_and_exports() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data, 14, 4, 2, 7);

    // Uninterrupted: the config's 4 epochs.
    let config = tiny_config(&data, &tmp.path().join("a"));
    let full = train(&config, &TrainOptions::default(), quiet()).unwrap();
    let l = losses(&full);
    eprintln!(
        "train loss per epoch {l:?}, validation {:?}",
        full.epochs.iter().map(|e| e.valid.bce).collect::<Vec<_>>()
    );
    assert_eq!(l.len(), 4);
    assert!(l.iter().all(|v| v.is_finite()), "{l:?}");
    assert!(l[3] < l[0], "training loss should fall: {l:?}");
    let run = config.run_dir();
    for e in 1..=4 {
        for part in ["model", "optim", "scheduler"] {
            assert!(run.join(format!("checkpoint/{part}-{e}.mpk")).is_file(), "{part}-{e}");
        }
        assert!(run.join(format!("epoch-{e}.bpk")).is_file());
    }
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    assert!(full.epochs.iter().all(|e| e.valid.videos_fake == 2 && e.valid.videos_real == 2));
    // Starting again over an existing run is refused.
    assert!(train(&config, &TrainOptions::default(), quiet()).unwrap_err().to_string().contains("--resume"));

    // Interrupted after 2 epochs, then resumed to 4.
    let mut first = tiny_config(&data, &tmp.path().join("b"));
    first.optimizer.epochs = 2;
    train(&first, &TrainOptions::default(), quiet()).unwrap();
    let mut rest = first.clone();
    rest.optimizer.epochs = 4;
    let resumed = train(&rest, &TrainOptions { resume: true }, quiet()).unwrap();
    assert_eq!(resumed.epochs.len(), 4);
    let diff = max_weight_diff(&run.join("epoch-4.bpk"), &rest.run_dir().join("epoch-4.bpk"));
    eprintln!("resumed vs uninterrupted: largest weight difference {diff}");
    assert!(diff < 1e-5, "resumed weights differ from the uninterrupted run's by {diff}");
    assert!((resumed.epochs[3].train_loss - l[3]).abs() < 1e-5);
    // A changed recipe cannot resume.
    let mut changed = rest.clone();
    changed.optimizer.epochs = 5;
    changed.optimizer.learning_rate = 0.5;
    assert!(train(&changed, &TrainOptions { resume: true }, quiet()).unwrap_err().to_string().contains("optimizer"));

    // The exported model scores a real video through `infer` and face crops through `classify`.
    let model = run.join("epoch-4.bpk");
    let exe = env!("CARGO_BIN_EXE_deepfake");
    let csv = tmp.path().join("submission.csv");
    let o = Command::new(exe)
        .args(["infer", "--quiet", "-m"])
        .arg(&model)
        .arg("--out")
        .arg(&csv)
        .arg(common::media("single_face.mp4"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let score: f64 = text.lines().nth(1).unwrap().rsplit(',').next().unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&score) && score != 0.5, "{text}");
    let o =
        Command::new(exe).args(["classify", "-m"]).arg(&model).arg(data.join("crops/fake0/0_0.png")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn two_cpu_devices_train_like_one() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data, 14, 4, 2, 11);
    let one = tiny_config(&data, &tmp.path().join("one"));
    let mut two = tiny_config(&data, &tmp.path().join("two"));
    two.devices = vec!["cpu".into(), "cpu".into()];
    two.optimizer.batch_size = one.optimizer.batch_size / 2; // the same crops per step
    let (a, b) = (
        train(&one, &TrainOptions::default(), quiet()).unwrap(),
        train(&two, &TrainOptions::default(), quiet()).unwrap(),
    );
    let (la, lb) = (losses(&a), losses(&b));
    eprintln!("one device {la:?}, two devices {lb:?}");
    assert!(lb[3] < lb[0], "two devices: the loss should fall: {lb:?}");
    // Same crops and steps; BatchNorm sees half-batches per device and the drop-path draws differ, so the curves
    // agree within the noise of so short a run (epoch-to-epoch swings of 0.2 are normal here), not bit for bit.
    for (x, y) in la.iter().zip(&lb) {
        assert!((x - y).abs() < 0.3, "one device {la:?} vs two {lb:?}");
    }
    assert!((la[3] - lb[3]).abs() < 0.15, "final losses: one device {la:?} vs two {lb:?}");
    assert_eq!(a.epochs[0].train_images, b.epochs[0].train_images);
}

#[test]
fn print_config_shows_overrides_and_bad_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_deepfake");
    let o = Command::new(exe)
        .args(["train", "--print-config", "--data-root", "/some/data", "--out", "/some/out"])
        .arg(repo("configs/tiny.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("root = \"/some/data\"") && text.contains("out = \"/some/out\""), "{text}");
    for c in ["b7.toml", "b5.toml"] {
        TrainConfig::from_file(&repo(&format!("configs/{c}"))).unwrap();
    }
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[optimizer]\nmomentum = 2.0\n").unwrap();
    let o = Command::new(exe).arg("train").arg(&bad).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("optimizer.momentum"));
    std::fs::write(&bad, "[optimizer]\nmomentun = 0.5\n").unwrap();
    let o = Command::new(exe).arg("train").arg(&bad).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("momentun"));
}
