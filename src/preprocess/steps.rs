//! The five steps. Each looks at what already exists first, so a rerun after an interruption (or after deleting
//! some outputs) does only the missing work.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use image::RgbImage;
use rayon::prelude::*;

use super::layout::{fold_of, Dataset, Video};
use super::npy::to_npy;
use super::{PreprocessError, PreprocessEvent, Step, StepReport};
use crate::atomic::write_atomic;
use crate::face::landmarks::{rect_from_box, rect_from_mtcnn, ShapePredictor};
use crate::face::Detector;
use crate::imaging::crop::face_crop;
use crate::imaging::pillow::resize_bicubic;
use crate::imaging::ssim::dfdc_diff;
use crate::model::fused::FusedOps;
use crate::video::{for_each_frame, SampleOptions};

/// The originals only look at frames 0, 10, …, 310 and at faces 0 and 1 (generate_landmarks/diffs/folds.py loop
/// `range(320)` and `range(2)`, written for 10-second DFDC clips); kept, so the outputs match.
const LAST_FRAME: u64 = 310;
const FACES: usize = 2;
const EVERY: u64 = 10;

/// Boxes of one video: frame → faces (`None` = no face), half-resolution `[x1, y1, x2, y2]`.
type Boxes = BTreeMap<u64, Option<Vec<[f64; 4]>>>;

fn png(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).expect("PNG into memory");
    out
}

fn event(step: Step, done: usize, total: usize, video: &str, skipped: bool, error: Option<String>) -> PreprocessEvent {
    PreprocessEvent { step, done, total, video: video.to_string(), skipped, error }
}

/// Python's `json.dump` layout (`", "` and `": "` separators) for the boxes file; floats as `repr` prints them.
fn boxes_json(boxes: &Boxes) -> String {
    let mut s = String::from("{");
    for (i, (frame, faces)) in boxes.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "\"{frame}\": ");
        match faces {
            None => s.push_str("null"),
            Some(faces) => {
                s.push('[');
                for (j, b) in faces.iter().enumerate() {
                    if j > 0 {
                        s.push_str(", ");
                    }
                    let v: Vec<String> = b.iter().map(|v| serde_json::to_string(v).expect("finite box")).collect();
                    let _ = write!(s, "[{}]", v.join(", "));
                }
                s.push(']');
            }
        }
    }
    s.push('}');
    s
}

fn read_boxes(path: &Path) -> Result<Boxes, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw: BTreeMap<String, Option<Vec<[f64; 4]>>> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    raw.into_iter()
        .map(|(k, v)| k.parse::<u64>().map(|k| (k, v)).map_err(|_| format!("{}: frame key `{k}`", path.display())))
        .collect()
}

/// detect_original_faces.py: every frame of every real video, halved (Pillow bicubic), MTCNN at
/// [0.85, 0.95, 0.95] in batches, all faces largest first. Decoding runs one video ahead of detection.
pub(super) fn boxes<B: FusedOps>(
    data: &Dataset,
    detector: &Detector<B>,
    batch: usize,
    progress: &(dyn Fn(PreprocessEvent) + Sync),
) -> StepReport {
    let reals: Vec<&Video> = data.reals().collect();
    let mut report = StepReport { items: reals.len(), ..Default::default() };
    let total = reals.len();
    for (done, video) in reals.iter().enumerate() {
        let out = data.boxes_path(&video.id);
        if out.is_file() {
            report.skipped += 1;
            progress(event(Step::Boxes, done + 1, total, &video.id, true, None));
            continue;
        }
        let result = video_boxes(&video.path, detector, batch);
        let error = match result {
            Ok((boxes, frames)) => {
                report.frames += frames;
                match write_atomic(&out, boxes_json(&boxes).as_bytes()) {
                    Ok(()) => {
                        report.files_written += 1;
                        None
                    }
                    Err(e) => Some(format!("{}: {e}", out.display())),
                }
            }
            Err(e) => Some(e),
        };
        if let Some(e) = &error {
            report.failed.push((video.id.clone(), e.clone()));
        }
        progress(event(Step::Boxes, done + 1, total, &video.id, false, error));
    }
    report
}

fn video_boxes<B: FusedOps>(path: &Path, detector: &Detector<B>, batch: usize) -> Result<(Boxes, u64), String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, RgbImage)>(2 * batch);
    std::thread::scope(|s| {
        let decoder = s.spawn(move || {
            for_each_frame(path, &SampleOptions::default(), 1, |f| {
                let half = resize_bicubic(&f.image, f.image.width() / 2, f.image.height() / 2);
                tx.send((f.index, half)).is_ok()
            })
        });
        let mut boxes = Boxes::new();
        let mut pending: Vec<(u64, RgbImage)> = Vec::with_capacity(batch);
        let flush = |pending: &mut Vec<(u64, RgbImage)>, boxes: &mut Boxes| {
            let frames: Vec<RgbImage> = pending.iter().map(|(_, f)| f.clone()).collect();
            for ((index, _), faces) in pending.drain(..).zip(detector.detect(&frames)) {
                let faces: Vec<[f64; 4]> = faces.iter().map(|f| f.bbox.map(f64::from)).collect();
                boxes.insert(index, (!faces.is_empty()).then_some(faces));
            }
        };
        for item in rx {
            pending.push(item);
            if pending.len() == batch {
                flush(&mut pending, &mut boxes);
            }
        }
        flush(&mut pending, &mut boxes);
        let summary =
            decoder.join().map_err(|_| "the decoder thread panicked".to_string())?.map_err(|e| e.to_string())?;
        if let Some(e) = summary.error {
            if boxes.is_empty() {
                return Err(e);
            }
        }
        Ok((boxes, summary.decoded_frames))
    })
}

/// extract_crops.py: frames 0, 10, 20, … of every video; each box of that frame of the original's boxes, doubled,
/// cut with h//3, w//3 margins from the full-resolution frame.
pub(super) fn crops(data: &Dataset, progress: &(dyn Fn(PreprocessEvent) + Sync)) -> StepReport {
    let total = data.videos.len();
    let done = AtomicUsize::new(0);
    let report = Mutex::new(StepReport { items: total, ..Default::default() });
    data.videos.par_iter().for_each(|video| {
        let outcome = video_crops(data, video);
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        let mut r = report.lock().expect("no panics while holding the lock");
        let (skipped, error) = match outcome {
            Ok(CropOutcome { written, frames }) => {
                r.files_written += written;
                r.frames += frames;
                (frames == 0 && written == 0, None)
            }
            Err(e) => {
                r.failed.push((video.id.clone(), e.clone()));
                (false, Some(e))
            }
        };
        if skipped {
            r.skipped += 1;
        }
        drop(r);
        progress(event(Step::Crops, n, total, &video.id, skipped, error));
    });
    let mut r = report.into_inner().expect("no panics while holding the lock");
    r.failed.sort();
    r
}

struct CropOutcome {
    written: usize,
    frames: u64,
}

fn video_crops(data: &Dataset, video: &Video) -> Result<CropOutcome, String> {
    let boxes_path = data.boxes_path(&video.original);
    let boxes = read_boxes(&boxes_path)?;
    let wanted: BTreeMap<u64, &Vec<[f64; 4]>> =
        boxes.iter().filter(|(k, _)| *k % EVERY == 0).filter_map(|(k, v)| v.as_ref().map(|v| (*k, v))).collect();
    let missing = |frame: u64, n: usize| (0..n).any(|j| !data.crop_path(&video.id, frame, j).is_file());
    if !wanted.iter().any(|(&f, b)| missing(f, b.len())) {
        return Ok(CropOutcome { written: 0, frames: 0 });
    }
    let last = *wanted.keys().next_back().expect("some frame is missing");
    let mut written = 0;
    let mut error = None;
    let summary = for_each_frame(&video.path, &SampleOptions::default(), EVERY, |f| {
        if let Some(faces) = wanted.get(&f.index) {
            for (j, b) in faces.iter().enumerate() {
                let path = data.crop_path(&video.id, f.index, j);
                if path.is_file() {
                    continue;
                }
                // `[int(b * 2) for b in bbox]`: the doubling is exact, face_crop truncates.
                let Some(crop) = face_crop(&f.image, b.map(|v| (v * 2.0) as f32)) else { continue };
                match write_atomic(&path, &png(&image::DynamicImage::ImageRgb8(crop))) {
                    Ok(()) => written += 1,
                    Err(e) => {
                        error = Some(format!("{}: {e}", path.display()));
                        return false;
                    }
                }
            }
        }
        f.index < last
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = error.or(summary.error) {
        return Err(e);
    }
    Ok(CropOutcome { written, frames: summary.decoded_frames })
}

/// The crop files the originals look at for a video: frames 0…310 step 10, faces 0 and 1, that exist.
fn existing_crops(data: &Dataset, id: &str) -> Vec<(u64, usize)> {
    (0..=LAST_FRAME)
        .step_by(EVERY as usize)
        .flat_map(|f| (0..FACES).map(move |j| (f, j)))
        .filter(|&(f, j)| data.crop_path(id, f, j).is_file())
        .collect()
}

/// generate_landmarks.py: MTCNN at [0.65, 0.75, 0.75] on each crop of each real video; the first face's five points,
/// `np.around` (half to even) to int16, shape (5, 2). Beside it, dlib's 68 points from that face (`_68.npy`).
pub(super) fn landmarks<B: FusedOps>(
    data: &Dataset,
    detector: &Detector<B>,
    predictor: &ShapePredictor,
    progress: &(dyn Fn(PreprocessEvent) + Sync),
) -> StepReport {
    let reals: Vec<&Video> = data.reals().collect();
    let total = reals.len();
    let mut report = StepReport { items: total, ..Default::default() };
    for (done, video) in reals.iter().enumerate() {
        let todo: Vec<(u64, usize)> = existing_crops(data, &video.id)
            .into_iter()
            .filter(|&(f, j)| {
                !data.landmarks_path(&video.id, f, j, "").is_file()
                    || !data.landmarks_path(&video.id, f, j, "_68").is_file()
            })
            .collect();
        if todo.is_empty() {
            report.skipped += 1;
            progress(event(Step::Landmarks, done + 1, total, &video.id, true, None));
            continue;
        }
        let mut crops = Vec::new();
        let mut error = None;
        for &(f, j) in &todo {
            let path = data.crop_path(&video.id, f, j);
            match crate::imaging::load::load_rgb(&path) {
                Ok(img) => crops.push(((f, j), img)),
                Err(e) => error = Some(e.to_string()),
            }
        }
        let images: Vec<RgbImage> = crops.iter().map(|(_, img)| img.clone()).collect();
        for (((f, j), img), faces) in crops.iter().zip(detector.detect(&images)) {
            let Some(face) = faces.first() else { continue };
            let five: Vec<i16> = face.landmarks.iter().flat_map(|p| p.map(|v| v.round_ties_even() as i16)).collect();
            let mut points = Vec::with_capacity(136);
            if let Some(rect) = rect_from_mtcnn(&face.landmarks).or_else(|| rect_from_box(face.bbox)) {
                points.extend(predictor.predict(img, rect).points.iter().flat_map(|p| p.map(|v| v as i16)));
            }
            for (suffix, shape, values) in [("", [5usize, 2], &five), ("_68", [68, 2], &points)] {
                if values.len() != shape[0] * shape[1] {
                    continue;
                }
                let path = data.landmarks_path(&video.id, *f, *j, suffix);
                if path.is_file() {
                    continue; // written by an earlier run; only the missing one of the pair is redone
                }
                match write_atomic(&path, &to_npy(&shape, values)) {
                    Ok(()) => report.files_written += 1,
                    Err(e) => error = Some(format!("{}: {e}", path.display())),
                }
            }
        }
        if let Some(e) = &error {
            report.failed.push((video.id.clone(), e.clone()));
        }
        progress(event(Step::Landmarks, done + 1, total, &video.id, false, error));
    }
    report
}

/// generate_diffs.py: for each fake and each crop it shares with its original, the SSIM diff image.
pub(super) fn diffs(data: &Dataset, progress: &(dyn Fn(PreprocessEvent) + Sync)) -> StepReport {
    let pairs = data.pairs();
    let total = pairs.len();
    let done = AtomicUsize::new(0);
    let report = Mutex::new(StepReport { items: total, ..Default::default() });
    pairs.par_iter().for_each(|(original, fake)| {
        let mut written = 0;
        let mut error = None;
        let mut looked = false;
        for (f, j) in existing_crops(data, fake) {
            let out = data.diff_path(fake, f, j);
            let orig_path = data.crop_path(original, f, j);
            if out.is_file() || !orig_path.is_file() {
                continue;
            }
            looked = true;
            let load = |p: &Path| crate::imaging::load::load_rgb(p).map_err(|e| e.to_string());
            let diff = load(&orig_path).and_then(|o| load(&data.crop_path(fake, f, j)).map(|k| dfdc_diff(&o, &k)));
            match diff {
                // Different sizes or under 7 px: scikit-image raises and the original skips the crop.
                Ok(None) => {}
                Ok(Some(d)) => match write_atomic(&out, &png(&image::DynamicImage::ImageLuma8(d))) {
                    Ok(()) => written += 1,
                    Err(e) => error = Some(format!("{}: {e}", out.display())),
                },
                Err(e) => error = Some(e),
            }
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        let mut r = report.lock().expect("no panics while holding the lock");
        r.files_written += written;
        if !looked {
            r.skipped += 1;
        }
        if let Some(e) = &error {
            r.failed.push((fake.clone(), e.clone()));
        }
        drop(r);
        progress(event(Step::Diffs, n, total, fake, !looked, error));
    });
    let mut r = report.into_inner().expect("no panics while holding the lock");
    r.failed.sort();
    r
}

/// generate_folds.py: one row per existing crop of each original that has fakes (label 0) and of each fake
/// (label 1), fold by part number; a fake must share its original's fold.
pub(super) fn folds(data: &Dataset) -> Result<StepReport, PreprocessError> {
    let fold: BTreeMap<&str, Option<u32>> = data.videos.iter().map(|v| (v.id.as_str(), fold_of(v.part))).collect();
    let pairs = data.pairs();
    let mut rows: Vec<(String, String, u8, String, u64, u32)> = Vec::new();
    let originals: std::collections::BTreeSet<&str> = pairs.iter().map(|(o, _)| o.as_str()).collect();
    let mut add = |video: &str, original: &str, label: u8| -> Result<(), PreprocessError> {
        for (f, j) in existing_crops(data, video) {
            let (fv, fo) = (fold.get(video).copied().flatten(), fold.get(original).copied().flatten());
            if fv != fo || fv.is_none() {
                return Err(PreprocessError::FoldLeak {
                    fake: video.to_string(),
                    original: original.to_string(),
                    fake_fold: fv,
                    original_fold: fo,
                });
            }
            rows.push((
                video.to_string(),
                format!("{f}_{j}.png"),
                label,
                original.to_string(),
                f,
                fv.expect("checked"),
            ));
        }
        Ok(())
    };
    for o in &originals {
        add(o, o, 0)?;
    }
    for (o, fake) in &pairs {
        add(fake, o, 1)?;
    }
    rows.sort();
    let mut csv = String::from("video,file,label,original,frame,fold\n");
    for (video, file, label, original, frame, fold) in &rows {
        let _ = writeln!(csv, "{video},{file},{label},{original},{frame},{fold}");
    }
    let path = data.root.join("folds.csv");
    write_atomic(&path, csv.as_bytes()).map_err(|source| PreprocessError::Io { path, source })?;
    Ok(StepReport { items: rows.len(), files_written: 1, ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_json_is_laid_out_like_pythons_json_dump() {
        let mut b = Boxes::new();
        b.insert(0, Some(vec![[1.5, 2.0, 30.25, -4.0]]));
        b.insert(1, None);
        assert_eq!(boxes_json(&b), r#"{"0": [[1.5, 2.0, 30.25, -4.0]], "1": null}"#);
    }
}
