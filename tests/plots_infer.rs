//! `infer --plots DIR` and the library call behind it (`plots::video::write_video_plots`): per video a timeline,
//! a contact sheet and a Grad-CAM sheet that decode, have the sizes their layout gives, and show the scores'
//! colours; a video without faces gets a timeline only; without the flag nothing is drawn and the CSV is the same.
//!
//! Models: the two tiny fixture classifiers of `scripts/reference/make_effnet_fixtures.py`
//! (`tests/fixtures/effnet/{a,b}_dfdc_legacy.pth`, random weights); media from `scripts/fetch-media.sh`.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use burn::backend::Autodiff;
use common::cli::{deepfake, model_b, run, stderr};
use common::{arch, device, fixture, media, B};
use deepfake_detector::face::{Detector, DetectorConfig};
use deepfake_detector::infer::{Event, InferOptions, Runner, Status, VideoResult};
use deepfake_detector::model::classifier::Scorer;
use deepfake_detector::model::gradcam::GradCam;
use deepfake_detector::plots::video::{
    overlay, video_folder, write_video_plots, VideoScores, CAM_SIDE, FACES_PNG, GRADCAM_PNG, GRAD_CAM_FACES,
    TIMELINE_PNG, TIMELINE_SIZE,
};
use deepfake_detector::plots::{FAKE_COLOUR, MODEL_COLOURS, REAL_COLOUR};
use deepfake_detector::weights::classifier::load_classifier;
use deepfake_detector::weights::mtcnn::shipped_mtcnn;
use image::imageops::{resize, FilterType};
use image::RgbImage;

type AD = Autodiff<B>;

fn open(path: &Path) -> RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

fn colours(img: &RgbImage) -> HashSet<[u8; 3]> {
    img.pixels().map(|p| p.0).collect()
}

fn has_colour_near(colours: &HashSet<[u8; 3]>, c: plotters::style::RGBColor) -> bool {
    colours.iter().any(|p| [c.0, c.1, c.2].iter().zip(p).all(|(&a, &b)| (i32::from(a) - i32::from(b)).abs() < 12))
}

/// The contact sheet's size for `n` faces: 8 columns of 128 + 8 px, rows of 128 + 22 + 8 px, a 40 px header.
fn sheet_size(n: u32) -> (u32, u32) {
    ((n.min(8) * 136 + 8).max(420), 40 + n.div_ceil(8) * 158 + 8)
}

/// The Grad-CAM sheet's size for `n` faces: the crop and its heat map side by side at 256 px, one row each.
fn cam_size(n: u32) -> (u32, u32) {
    (2 * 256 + 24, 40 + n * (256 + 22 + 8) + 8)
}

/// The fixture classifiers as an ensemble at the DFDC input size, with the shipped MTCNN.
fn runner(models: &[&str]) -> Runner<B> {
    let scorers = models
        .iter()
        .map(|name| {
            let path = fixture(&format!("effnet/{name}_dfdc_legacy.pth"));
            let loaded = load_classifier::<B>(&path, Some(&arch(name)), &device()).unwrap();
            Scorer::new(format!("models/{name}.bpk"), loaded.model, 380, device())
        })
        .collect();
    Runner {
        detector: Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), DetectorConfig::dfdc_inference(), device()),
        scorers,
        options: InferOptions::default(),
    }
}

/// Runs one clip, keeping the crops the `Cropped` event lends (at the first model's size).
fn run_keeping_crops(runner: &Runner<B>, name: &str) -> (VideoResult, Vec<RgbImage>) {
    let size = runner.scorers[0].input_size;
    let mut kept = None;
    let result = runner.run_file(name, &media(name), &mut |e| {
        if let Event::Cropped { crops, .. } = e {
            kept = Some(crops.at(size).expect("crops at every scorer's size").to_vec());
        }
    });
    (result, kept.expect("a decoded video has a Cropped event"))
}

#[test]
fn write_video_plots_draws_every_model_and_the_grad_cam_of_the_top_faces() {
    let runner = runner(&["a", "b"]);
    let (result, crops) = run_keeping_crops(&runner, "single_face.mp4");
    assert_eq!(result.status, Status::Ok);
    assert_eq!(crops.len(), result.faces_used);
    assert!(crops.iter().all(|c| c.dimensions() == (380, 380)));
    let models: Vec<String> = runner.scorers.iter().map(|s| s.name.clone()).collect();
    let cam = GradCam::<AD>::new(runner.scorers[0].model.clone());
    let dir = tempfile::tempdir().unwrap();
    let folder = video_folder(dir.path(), &result.file);
    let written = write_video_plots(&folder, &result, &models, &crops, Some(&cam)).unwrap();
    assert_eq!(written, [FACES_PNG, GRADCAM_PNG, TIMELINE_PNG].map(|n| folder.join(n)));

    let timeline = open(&folder.join(TIMELINE_PNG));
    assert_eq!(timeline.dimensions(), TIMELINE_SIZE);
    let c = colours(&timeline);
    assert!(has_colour_near(&c, MODEL_COLOURS[0]) && has_colour_near(&c, MODEL_COLOURS[1]), "a line per model");
    let verdict = if result.score.unwrap() > 0.5 { FAKE_COLOUR } else { REAL_COLOUR };
    assert!(has_colour_near(&c, verdict), "the video score's line");

    let n = result.faces_used as u32;
    let faces = open(&folder.join(FACES_PNG));
    assert_eq!(faces.dimensions(), sheet_size(n));
    assert!(colours(&faces).len() > 1000, "thumbnails of real faces have many colours");

    // The sheet's right column is the top face's crop under its own Grad-CAM map, pixel for pixel.
    let sheet = open(&folder.join(GRADCAM_PNG));
    let top = n.min(GRAD_CAM_FACES as u32);
    assert_eq!(sheet.dimensions(), cam_size(top));
    let scores = VideoScores::from_result(&result, &models);
    let first = scores.most_suspicious(1)[0];
    let map = cam.maps_of_crops(&crops[first..=first], 1).unwrap().remove(0);
    let want = overlay(&resize(&crops[first], CAM_SIDE, CAM_SIDE, FilterType::Triangle), &map);
    let (x0, y0) = (2 * 8 + CAM_SIDE, 40);
    let differing = want.enumerate_pixels().filter(|(x, y, p)| sheet.get_pixel(x0 + x, y0 + y) != *p).count();
    assert_eq!(differing, 0, "the heat map drawn is not the top face's Grad-CAM");
    assert!(map.values.contains(&1.0), "a map with a peak");
}

#[test]
fn a_video_without_faces_gets_a_timeline_only_and_stale_pictures_go() {
    let runner = runner(&["b"]);
    let (result, crops) = run_keeping_crops(&runner, "no_face.mp4");
    assert_eq!(result.status, Status::NoFace);
    assert!(crops.is_empty());
    let models = vec!["models/b.bpk".to_string()];
    let cam = GradCam::<AD>::new(runner.scorers[0].model.clone());
    let dir = tempfile::tempdir().unwrap();
    let folder = video_folder(dir.path(), "sub dir/no_face.mp4");
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("sub_dir_no_face.mp4-") && name.len() == "sub_dir_no_face.mp4-".len() + 8, "{name}");
    // Names that map to the same characters get folders of their own; a plain name is kept as it is.
    assert_ne!(video_folder(dir.path(), "a/x.mp4"), video_folder(dir.path(), "a_x.mp4"));
    assert_eq!(video_folder(dir.path(), "a_x.mp4"), dir.path().join("a_x.mp4"));
    // Pictures of an earlier run in the same folder must not survive next to this run's timeline.
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(FACES_PNG), b"old").unwrap();
    std::fs::write(folder.join(GRADCAM_PNG), b"old").unwrap();
    let written = write_video_plots(&folder, &result, &models, &crops, Some(&cam)).unwrap();
    assert_eq!(written, [folder.join(TIMELINE_PNG)]);
    assert!(!folder.join(FACES_PNG).exists() && !folder.join(GRADCAM_PNG).exists());
    let timeline = open(&folder.join(TIMELINE_PNG));
    assert_eq!(timeline.dimensions(), TIMELINE_SIZE);
    assert!(colours(&timeline).len() >= 8, "axes, grid, legend and the note");

    // A video that did not decode: a timeline too, whatever crops the caller has.
    let mut failed = VideoResult::new("broken.mp4");
    failed.status = Status::Unreadable;
    let written = write_video_plots::<AD>(&folder, &failed, &models, &[], None).unwrap();
    assert_eq!(written, [folder.join(TIMELINE_PNG)]);
}

#[test]
fn crops_that_do_not_match_the_faces_are_an_error_and_odd_sizes_still_draw() {
    let runner = runner(&["b"]);
    let (result, crops) = run_keeping_crops(&runner, "single_face.mp4");
    let models = vec!["models/b.bpk".to_string()];
    let cam = GradCam::<AD>::new(runner.scorers[0].model.clone());
    let dir = tempfile::tempdir().unwrap();
    let err = write_video_plots(dir.path(), &result, &models, &crops[..2], Some(&cam)).unwrap_err();
    assert!(err.to_string().contains("2 crops for"), "{err}");
    // Top faces of two sizes: each crop goes through the network on its own, so both get a map at their size.
    let top = VideoScores::from_result(&result, &models).most_suspicious(GRAD_CAM_FACES);
    let mut mixed = crops.clone();
    mixed[top[1]] = resize(&crops[top[1]], 200, 200, FilterType::Triangle);
    let written = write_video_plots(dir.path(), &result, &models, &mixed, Some(&cam)).unwrap();
    assert_eq!(open(&written[1]).dimensions(), cam_size(GRAD_CAM_FACES as u32));
}

// --- the command ---

fn videos(dir: &Path, names: &[&str]) -> PathBuf {
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    for name in names {
        std::fs::copy(media(name), videos.join(name)).unwrap();
    }
    videos
}

fn infer(videos: &Path, model: &Path, csv: &Path) -> Command {
    let mut cmd = deepfake();
    cmd.arg("infer").arg(videos).arg("-m").arg(model).args(["--quiet", "--no-resume", "--out"]).arg(csv);
    cmd
}

#[test]
fn infer_plots_writes_three_pictures_per_scored_video_and_the_same_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let videos = videos(tmp.path(), &["single_face.mp4", "no_face.mp4"]);
    let (plain, pictured) = (tmp.path().join("plain.csv"), tmp.path().join("pictured.csv"));
    let plots = tmp.path().join("out/plots");
    let report = tmp.path().join("report.json");

    let o = run(&mut infer(&videos, &model, &plain));
    assert_eq!(o.status.code(), Some(1), "no_face.mp4 is not scored: {}", stderr(&o));
    let before: HashSet<PathBuf> = walk(tmp.path());
    assert!(!tmp.path().join("out").exists(), "no pictures without --plots");

    let o = run(infer(&videos, &model, &pictured).arg("--plots").arg(&plots).arg("--report").arg(&report));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("WARNING"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), std::fs::read_to_string(&pictured).unwrap());
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let faces = r["videos"].as_array().unwrap().iter().find(|v| v["file"] == "single_face.mp4").unwrap()["faces_used"]
        .as_u64()
        .unwrap() as u32;
    assert!(faces > GRAD_CAM_FACES as u32);

    let scored = plots.join("single_face.mp4");
    assert_eq!(open(&scored.join(TIMELINE_PNG)).dimensions(), TIMELINE_SIZE);
    assert_eq!(open(&scored.join(FACES_PNG)).dimensions(), sheet_size(faces));
    let cam = open(&scored.join(GRADCAM_PNG));
    assert_eq!(cam.dimensions(), cam_size(GRAD_CAM_FACES as u32));
    // The jet map's hot end (red, little green and blue) is somewhere over the crops.
    assert!(cam.pixels().any(|p| p.0[0] > 150 && p.0[1] < 90 && p.0[2] < 90), "no hot spot on the heat maps");
    for name in [TIMELINE_PNG, FACES_PNG, GRADCAM_PNG] {
        assert!(colours(&open(&scored.join(name))).len() >= 8, "{name}");
    }
    let empty = plots.join("no_face.mp4");
    assert_eq!(open(&empty.join(TIMELINE_PNG)).dimensions(), TIMELINE_SIZE);
    assert!(!empty.join(FACES_PNG).exists() && !empty.join(GRADCAM_PNG).exists());
    // Nothing but the pictures, the CSV and the report were added.
    let added: Vec<PathBuf> = walk(tmp.path()).difference(&before).cloned().collect();
    assert_eq!(added.len(), 4 + 2, "{added:?}");
}

#[test]
fn plots_in_a_file_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plots");
    std::fs::write(&file, b"a file").unwrap();
    let csv = tmp.path().join("s.csv");
    // The model does not exist either: the output check comes first, so no model is loaded.
    let o = run(infer(&tmp.path().join("nothing"), &tmp.path().join("none.bpk"), &csv).arg("--plots").arg(&file));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--plots") && stderr(&o).contains("not a folder"), "{}", stderr(&o));
    assert!(!csv.exists());
}

/// Starts `infer` (resuming) and kills it once its first video is journaled.
fn interrupted_run(videos: &Path, model: &Path, csv: &Path, plots: Option<&Path>) {
    let journal = csv.with_file_name(format!(".{}.journal", csv.file_name().unwrap().to_string_lossy()));
    let mut cmd = deepfake();
    cmd.arg("infer").arg(videos).arg("-m").arg(model).args(["--quiet", "--out"]).arg(csv);
    if let Some(dir) = plots {
        cmd.arg("--plots").arg(dir);
    }
    let mut child = cmd.stderr(Stdio::null()).spawn().unwrap();
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |j| j.lines().count()) < 2 {
        assert!(start.elapsed().as_secs() < 300, "no video finished in 5 minutes");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!csv.exists(), "the run was stopped before the end");
}

#[test]
fn a_resumed_run_keeps_videos_with_pictures_and_redoes_those_without() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let names = ["single_face.mp4", "WolfgangLanger_Pexels.mp4", "noface_face.mov"];
    let videos = videos(tmp.path(), &names);
    let csv = tmp.path().join("submission.csv");
    let plots = tmp.path().join("plots");
    let resume = |plots: &Path| {
        let o = run(deepfake()
            .arg("infer")
            .arg(&videos)
            .arg("-m")
            .arg(&model)
            .arg("--out")
            .arg(&csv)
            .arg("--plots")
            .arg(plots));
        assert!(o.status.success(), "{}", stderr(&o));
        for name in names {
            assert!(plots.join(name).join(TIMELINE_PNG).is_file(), "{name}");
        }
        assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 1 + 3);
        stderr(&o)
    };

    // Stopped without --plots: the journaled video has no pictures, so it is redone, not resumed.
    interrupted_run(&videos, &model, &csv, None);
    let log = resume(&plots);
    assert!(!log.contains("resuming"), "{log}");

    // Stopped with --plots: the journaled video's pictures exist, so it is resumed.
    std::fs::remove_file(&csv).unwrap();
    let again = tmp.path().join("again");
    interrupted_run(&videos, &model, &csv, Some(&again));
    let log = resume(&again);
    assert!(log.contains("resuming: 1 video(s)"), "{log}");
}

fn walk(dir: &Path) -> HashSet<PathBuf> {
    let mut out = HashSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.insert(path);
        }
    }
    out
}
