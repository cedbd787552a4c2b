//! The pictures: `eval --plots` and the per-video timeline, contact sheet and Grad-CAM sheet are PNGs that
//! decode, have the documented size, and show several colours (curves, legends, thumbnails, not a blank page).
//!
//! Scores come from the `random_100` case of `tests/fixtures/eval/metrics.json`
//! (`scripts/reference/make_eval_fixtures.py`).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use common::fixture;
use deepfake_detector::eval;
use deepfake_detector::infer::Status;
use deepfake_detector::model::gradcam::CamMap;
use deepfake_detector::plots::video::{contact_sheet, grad_cam_sheet, timeline, VideoScores};
use deepfake_detector::plots::{self, FAKE_COLOUR, REAL_COLOUR};
use image::{Rgb, RgbImage};

/// The PNG's size and its distinct colours.
fn decode(path: &Path) -> ((u32, u32), HashSet<[u8; 3]>) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    (img.dimensions(), img.pixels().map(|p| p.0).collect())
}

fn has_colour_near(colours: &HashSet<[u8; 3]>, c: plotters::style::RGBColor) -> bool {
    colours.iter().any(|p| {
        (i32::from(p[0]) - i32::from(c.0)).abs() < 12
            && (i32::from(p[1]) - i32::from(c.1)).abs() < 12
            && (i32::from(p[2]) - i32::from(c.2)).abs() < 12
    })
}

/// Labels and predictions files of the fixture's `random_100` case.
fn write_case(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("eval/metrics.json")).unwrap()).unwrap();
    let case = json["cases"].as_array().unwrap().iter().find(|c| c["name"] == "random_100").unwrap();
    let mut labels = String::new();
    let mut preds = String::from("filename,label\n");
    for (i, (l, s)) in case["labels"].as_array().unwrap().iter().zip(case["scores"].as_array().unwrap()).enumerate() {
        labels += &format!("v{i}.mp4,{l}\n");
        preds += &format!("v{i}.mp4,{s}\n");
    }
    let paths = (dir.join("labels.csv"), dir.join("submission.csv"));
    std::fs::write(&paths.0, labels).unwrap();
    std::fs::write(&paths.1, preds).unwrap();
    paths
}

#[test]
fn eval_plots_are_decodable_pngs_with_curves_in_both_label_colours() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, preds) = write_case(dir.path());
    let e = eval::evaluate(&eval::read_labels(&[labels]).unwrap(), &eval::read_predictions(&preds).unwrap()).unwrap();
    let written = plots::eval::write_all(&e, &dir.path().join("plots")).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["roc.png", "precision_recall.png", "reliability.png", "histogram.png"]);
    for path in &written {
        let (size, colours) = decode(path);
        assert_eq!(size, plots::eval::SIZE, "{}", path.display());
        assert!(colours.len() >= 8, "{}: only {} colours", path.display(), colours.len());
        if !path.ends_with("histogram.png") {
            assert!(has_colour_near(&colours, FAKE_COLOUR), "{}: no red curve", path.display());
        }
    }
    let (_, histogram) = decode(&dir.path().join("plots/histogram.png"));
    // The bars are the label colours at 45 % over white.
    let light = |c: plotters::style::RGBColor| {
        let mix = |v: u8| (255.0 - 0.45 * (255.0 - f64::from(v))).round() as u8;
        plotters::style::RGBColor(mix(c.0), mix(c.1), mix(c.2))
    };
    assert!(has_colour_near(&histogram, light(REAL_COLOUR)), "histogram has no REAL bars");
    assert!(has_colour_near(&histogram, light(FAKE_COLOUR)), "histogram has no FAKE bars");
}

#[test]
fn eval_command_writes_the_plots() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, preds) = write_case(dir.path());
    let out_dir = dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_deepfake"))
        .args(["eval", "-p", preds.to_str().unwrap(), "-l", labels.to_str().unwrap(), "--plots"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["roc.png", "precision_recall.png", "reliability.png", "histogram.png"] {
        assert_eq!(decode(&out_dir.join(name)).0, plots::eval::SIZE, "{name}");
    }
}

/// With `DEEPFAKE_KEEP_PLOTS=DIR`, copies the pictures there to look at them.
fn keep_for_inspection(dir: &Path) {
    let Some(keep) = std::env::var_os("DEEPFAKE_KEEP_PLOTS") else { return };
    std::fs::create_dir_all(&keep).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, Path::new(&keep).join(path.file_name().unwrap())).unwrap();
    }
}

/// A video of `n` faces over frames 0, 10, 20, … with two models' probabilities rising along the video.
fn probabilities(n: usize) -> Vec<(u64, [f32; 2])> {
    (0..n).map(|k| ((k / 2 * 10) as u64, [k as f32 / n as f32, 1.0 - k as f32 / (2 * n) as f32])).collect()
}

fn crop(k: usize) -> RgbImage {
    RgbImage::from_fn(380, 380, |x, y| Rgb([(x / 2) as u8, (y / 2) as u8, (k * 20) as u8]))
}

#[test]
fn video_pictures_have_their_sizes_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let probs = probabilities(10);
    let models = vec!["models/a.bpk".to_string(), "models/b.bpk".to_string()];
    let v = VideoScores {
        file: "clip.mp4",
        status: Status::Ok,
        frames_read: 32,
        models: &models,
        score: Some(0.61),
        per_model: &[0.55, 0.67],
        faces: probs.iter().map(|(f, p)| (*f, p.as_slice())).collect(),
    };
    let (size, colours) = decode(&timeline(&dir.path().join("t.png"), &v).unwrap());
    assert_eq!(size, plots::video::TIMELINE_SIZE);
    assert!(colours.len() >= 8 && has_colour_near(&colours, FAKE_COLOUR), "{} colours", colours.len());
    assert!(has_colour_near(&colours, plots::MODEL_COLOURS[0]) && has_colour_near(&colours, plots::MODEL_COLOURS[1]));

    let crops: Vec<RgbImage> = (0..10).map(crop).collect();
    let (size, colours) = decode(&contact_sheet(&dir.path().join("c.png"), &v, &crops).unwrap());
    // 8 columns of 128 + 8 px, two rows of 128 + caption 22 + 8 px, under a 40 px header.
    assert_eq!(size, (8 * 136 + 8, 40 + 2 * 158 + 8));
    assert!(colours.len() > 100, "thumbnails missing: {} colours", colours.len());
    assert!(has_colour_near(&colours, FAKE_COLOUR) && has_colour_near(&colours, REAL_COLOUR));
    assert!(contact_sheet(&dir.path().join("bad.png"), &v, &crops[..3]).is_err());

    let top = v.most_suspicious(3);
    let maps: Vec<CamMap> = (0..3)
        .map(|i| CamMap {
            logit: 1.0,
            width: 12,
            height: 12,
            values: (0..144).map(|j| ((j + i) % 12) as f32 / 11.0).collect(),
        })
        .collect();
    let chosen: Vec<RgbImage> = top.iter().map(|&k| crops[k].clone()).collect();
    let (size, colours) =
        decode(&grad_cam_sheet(&dir.path().join("g.png"), &v, "models/a.bpk", &top, &chosen, &maps).unwrap());
    assert_eq!(size, (2 * 256 + 24, 40 + 3 * (256 + 22 + 8) + 8));
    assert!(colours.len() > 100);
    keep_for_inspection(dir.path());
}

#[test]
fn most_suspicious_faces_come_first() {
    let probs = probabilities(6);
    let models = vec!["m".to_string(), "n".to_string()];
    let v = VideoScores {
        file: "x.mp4",
        status: Status::Ok,
        frames_read: 32,
        models: &models,
        score: Some(0.5),
        per_model: &[0.5, 0.5],
        faces: probs.iter().map(|(f, p)| (*f, p.as_slice())).collect(),
    };
    // Mean of k/6 and 1 − k/12 rises with k.
    assert_eq!(v.most_suspicious(2), vec![5, 4]);
}
