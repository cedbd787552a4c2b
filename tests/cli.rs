//! The `deepfake` binary end to end: bad input never stops a run, outputs are complete and typed, an
//! interrupted run resumes, and the other commands' happy and error paths.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::cli::{deepfake, model_b, run, stderr};
use common::{arch, device, fixture, media, B};
use deepfake_detector::imaging::crop::{isotropic_resize, put_to_center};
use deepfake_detector::imaging::load::load_rgb;
use deepfake_detector::imaging::normalize::{to_nchw, IMAGENET_MEAN, IMAGENET_STD};
use deepfake_detector::weights::classifier::load_classifier;
use serde_json::Value;

fn json_fixture(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error"])
        .args(args)
        .status()
        .expect("the ffmpeg CLI is needed (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// Zero-byte, truncated, text, audio-only, a still image, a video over the size limit, a 5-frame video, and one
/// good clip.
fn bad_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let good = media("single_face.mp4");
    std::fs::copy(&good, dir.join("good.mp4")).unwrap();
    std::fs::write(dir.join("empty.mp4"), b"").unwrap();
    let bytes = std::fs::read(media("WolfgangLanger_Pexels.mp4")).unwrap();
    std::fs::write(dir.join("truncated.mp4"), &bytes[..bytes.len() / 10]).unwrap();
    std::fs::write(dir.join("notes.mp4"), "this is not a video\n").unwrap();
    std::fs::copy(media("astronaut.png"), dir.join("still.mp4")).unwrap();
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:duration=1", dir.join("audio.m4a").to_str().unwrap()]);
    ffmpeg(&[
        "-i",
        good.to_str().unwrap(),
        "-frames:v",
        "5",
        "-an",
        "-c:v",
        "copy",
        dir.join("five.mp4").to_str().unwrap(),
    ]);
    // 1.6 MB, above the 1 MB limit the test sets.
    std::fs::write(dir.join("large.mp4"), &bytes).unwrap();
}

#[test]
fn bad_inputs_get_typed_statuses_and_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let videos = tmp.path().join("videos");
    bad_corpus(&videos);
    let csv = tmp.path().join("out/submission.csv");
    let report = tmp.path().join("out/report.json");
    let o = run(deepfake()
        .arg("infer")
        .arg(&videos)
        .arg("--model")
        .arg(&model)
        .args(["--max-file-mb", "1", "--quiet", "--out"])
        .arg(&csv)
        .arg("--report")
        .arg(&report));
    assert_eq!(o.status.code(), Some(1), "some videos fail, so the exit code is 1: {}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<(&str, &str)> = text.lines().skip(1).map(|l| l.split_once(',').unwrap()).collect();
    let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
    assert_eq!(
        names,
        ["audio.m4a", "empty.mp4", "five.mp4", "good.mp4", "large.mp4", "notes.mp4", "still.mp4", "truncated.mp4"]
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let video = |name: &str| r["videos"].as_array().unwrap().iter().find(|v| v["file"] == name).unwrap().clone();
    let label = |name: &str| rows.iter().find(|r| r.0 == name).unwrap().1;
    assert_eq!(label("empty.mp4"), "error:empty");
    assert_eq!(label("notes.mp4"), "error:unreadable");
    assert_eq!(label("audio.m4a"), "error:no_video_stream");
    assert_eq!(label("still.mp4"), "error:no_video_stream");
    assert_eq!(label("large.mp4"), "error:too_large");
    for scored in ["good.mp4", "five.mp4"] {
        let p: f32 = label(scored).parse().unwrap_or_else(|_| panic!("{scored} must be scored: {}", label(scored)));
        assert!((0.0..=1.0).contains(&p));
    }
    // The first tenth of this mp4 (index at the front) still decodes a few frames: scored on them, as the
    // original does, with a warning in the report.
    let truncated = video("truncated.mp4");
    assert!(truncated["frames_read"].as_u64().unwrap() < 32, "{truncated}");
    assert!(truncated["warning"].as_str().unwrap().contains("wanted frames read"), "{truncated}");
    assert!(label("truncated.mp4").parse::<f32>().is_ok() || label("truncated.mp4") == "error:no_face");

    assert_eq!(video("five.mp4")["frames_read"], 5, "a 5-frame video uses its 5 frames");
    // The original's count on this clip (make_infer_fixtures.py).
    let original = json_fixture("infer/videos.json");
    let want = original["videos"].as_array().unwrap().iter().find(|v| v["file"] == "single_face.mp4").unwrap();
    assert_eq!(video("good.mp4")["faces_used"], want["faces_used"]);
    assert!(video("notes.mp4")["error"].as_str().unwrap().contains("notes.mp4"));
    assert_eq!(r["summary"]["videos"], names.len());
    // The FFmpeg libraries that decoded the videos are recorded.
    assert!(r["ffmpeg"]["avcodec"].as_str().unwrap().split('.').count() == 3, "{}", r["ffmpeg"]);
    // No journal is left behind after a finished run.
    assert!(!csv.with_file_name(".submission.csv.journal").exists());

    // The Kaggle behaviour on request: 0.5 for what could not be scored, exit code 0.
    let o = run(deepfake()
        .arg("infer")
        .arg(&videos)
        .arg("-m")
        .arg(&model)
        .args(["--max-file-mb", "1", "--quiet", "--on-error", "0.5", "--out"])
        .arg(&csv));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("empty.mp4,0.5\n") && !text.contains("error:"), "{text}");
}

#[test]
fn an_interrupted_run_resumes_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let videos = tmp.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    for (i, name) in ["single_face.mp4", "WolfgangLanger_Pexels.mp4", "noface_face.mov"].iter().enumerate() {
        std::fs::copy(media(name), videos.join(format!("{i}_{name}"))).unwrap();
    }
    let csv = tmp.path().join("submission.csv");
    let journal = tmp.path().join(".submission.csv.journal");
    let mut child = deepfake()
        .arg("infer")
        .arg(&videos)
        .arg("-m")
        .arg(&model)
        .args(["--quiet", "--out"])
        .arg(&csv)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the first video is journaled.
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |j| j.lines().count()) < 2 {
        assert!(start.elapsed().as_secs() < 300, "no video finished in 5 minutes");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!csv.exists(), "an interrupted run writes no CSV");

    let o = run(deepfake().arg("infer").arg(&videos).arg("-m").arg(&model).arg("--out").arg(&csv));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming: "), "{}", stderr(&o));
    let resumed = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(resumed.lines().count(), 1 + 3, "the header and one row per video");

    // A fresh run gives the same file.
    let o = run(deepfake().arg("infer").arg(&videos).arg("-m").arg(&model).arg("--no-resume").arg("--out").arg(&csv));
    assert!(o.status.success() && !stderr(&o).contains("resuming"));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), resumed);
}

#[test]
fn detect_reports_faces_of_images_and_videos_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(deepfake()
        .arg("detect")
        .arg(media("multi_face.jpg"))
        .arg(media("single_face.mp4"))
        .args(["--json", "--frames", "4", "--annotate"])
        .arg(tmp.path()));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["kind"], "image");
    // facenet-pytorch's count at the same thresholds (make_mtcnn_fixtures.py).
    let photos = json_fixture("mtcnn/photos.json");
    let want = photos["photos"].as_array().unwrap().iter().find(|p| p["file"] == "multi_face.jpg").unwrap();
    assert_eq!(photos["thresholds"]["full"], serde_json::json!([0.7, 0.8, 0.8]), "detect's default thresholds");
    assert_eq!(lines[0]["frames"][0]["faces"].as_array().unwrap().len() as u64, want["full"]["n"].as_u64().unwrap());
    assert_eq!(lines[1]["kind"], "video");
    let frames = lines[1]["frames"].as_array().unwrap();
    // The rule: trunc(linspace(0, count - 1, 4)) over OpenCV's frame count (make_video_fixtures.py).
    let count = json_fixture("video/single_face.mp4.json")["frame_count"].as_u64().unwrap();
    let want: Vec<u64> = (0..4).map(|i| (i as f64 * (count - 1) as f64 / 3.0) as u64).collect();
    assert_eq!(frames.iter().map(|f| f["index"].as_u64().unwrap()).collect::<Vec<_>>(), want);
    // Boxes are in full-frame pixels of the 640×360 clip (detection ran at 320×180).
    let b = &frames[0]["faces"][0]["box"];
    assert!(b[2].as_f64().unwrap() > 320.0 || b[3].as_f64().unwrap() > 180.0, "{b}");
    assert_eq!(frames[0]["faces"][0]["landmarks"].as_array().unwrap().len(), 5);
    let pngs = std::fs::read_dir(tmp.path()).unwrap().count();
    assert_eq!(pngs, 5, "one annotated PNG per image and per sampled frame");
}

#[test]
fn errors_are_clear_and_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("model.pth");
    std::fs::write(&text, "not weights").unwrap();
    let o = run(deepfake().arg("classify").arg("-m").arg(&text).arg(media("astronaut.png")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a weight file"), "{}", stderr(&o));
    // A GPU that is not there is an error, not a panic.
    let o = run(deepfake().arg("detect").arg(media("astronaut.png")).args(["--device", "cuda:7"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let o = run(deepfake().arg("detect").arg(tmp.path().join("missing.mp4")));
    assert_eq!(o.status.code(), Some(2), "a missing input stops the command before any work");
    assert!(stderr(&o).contains("missing.mp4"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn classify_prints_one_json_line_per_image() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let bad = tmp.path().join("bad.png");
    std::fs::write(&bad, "not a picture").unwrap();
    let o =
        run(deepfake().arg("classify").arg("-m").arg(&model).arg(media("grace_hopper.jpg")).arg(&bad).arg("--json"));
    assert_eq!(o.status.code(), Some(1), "one image does not decode");
    let lines: Vec<Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let p = lines[0]["probability"].as_f64().unwrap();
    let logit = lines[0]["logit"].as_f64().unwrap();
    assert!((p - 1.0 / (1.0 + (-logit).exp())).abs() < 1e-6);
    // The same crop through the library: JPEG by libjpeg-turbo (as Pillow/OpenCV), resize, centre, normalise.
    let img = load_rgb(&media("grace_hopper.jpg")).unwrap();
    let crop = put_to_center(&isotropic_resize(&img, 380), 380);
    let input = to_nchw(&[crop], IMAGENET_MEAN, IMAGENET_STD).unwrap();
    let loaded = load_classifier::<B>(&model, None, &device()).unwrap();
    let want = loaded.model.fold_batchnorm().logits(input, 1, 380, &device())[0];
    assert!((logit as f32 - want).abs() < 1e-5, "classify {logit} vs library {want}");
    assert!(lines[1]["error"].is_string());
}

/// Every bounded flag with values outside its range: exit code 2, a message naming the flag, and no work done
/// (each within a second, so nothing was decoded or built first).
#[test]
fn bad_arguments_exit_2_naming_the_flag() {
    let image = media("astronaut.png");
    let video = media("single_face.mp4");
    let (image, video) = (image.to_str().unwrap(), video.to_str().unwrap());
    let model = fixture("effnet/b_dfdc_legacy.pth");
    let model = model.to_str().unwrap();
    // `--flag=value`, so that negative values are not taken for flags.
    let strings = |v: &[&str], flag: &str, value: &str| {
        v.iter().map(|s| s.to_string()).chain([format!("{flag}={value}")]).collect::<Vec<String>>()
    };
    let infer = |flag: &str, value: &str| strings(&["infer", video, "-m", model], flag, value);
    let detect = |flag: &str, value: &str| strings(&["detect", image], flag, value);
    let classify = |flag: &str, value: &str| strings(&["classify", image, "-m", model], flag, value);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("--frames", infer("--frames", "0")),
        ("--frames", infer("--frames", "1000000")),
        ("--frames", detect("--frames", "0")),
        ("--on-error", infer("--on-error", "1.5")),
        ("--on-error", infer("--on-error", "-0.1")),
        ("--on-error", infer("--on-error", "NaN")),
        ("--factor", infer("--factor", "1")),
        ("--factor", detect("--factor", "0")),
        ("--factor", detect("--factor", "1.5")),
        ("--min-face-size", infer("--min-face-size", "0")),
        ("--min-face-size", detect("--min-face-size", "0.5")),
        ("--thresholds", infer("--thresholds", "0.5,1.5,0.5")),
        ("--thresholds", detect("--thresholds", "-1,0,0")),
        ("--thresholds", detect("--thresholds", "0.5,0.5")),
        ("--pnet-batch", detect("--pnet-batch", "0")),
        ("--batch-size", infer("--batch-size", "0")),
        ("--batch-size", classify("--batch-size", "0")),
        ("--max-faces", infer("--max-faces", "0")),
        ("--max-file-mb", infer("--max-file-mb", "0")),
        ("--max-pixels", infer("--max-pixels", "0")),
        ("--decode-threads", infer("--decode-threads", "1000")),
        ("--size", classify("--size", "0")),
        ("--size", classify("--size", "100000")),
        ("--precision", classify("--precision", "f64")),
        ("--device", detect("--device", "gpu")),
    ];
    for (flag, args) in cases {
        let start = std::time::Instant::now();
        let o = run(deepfake().args(&args));
        let took = start.elapsed().as_secs_f64();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{args:?}: the message must name {flag}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert!(took < 1.0, "{args:?} took {took:.2} s");
    }
}

/// A `.bpk` whose recorded input size is absurd is refused before a model is built, naming the file and the field.
#[test]
fn a_bpk_with_an_absurd_input_size_is_refused() {
    use deepfake_detector::weights::classifier::{save_efficientnet, LoadedEfficientNet};
    let tmp = tempfile::tempdir().unwrap();
    let mut loaded = load_classifier::<B>(&fixture("effnet/b_dfdc_legacy.pth"), Some(&arch("b")), &device()).unwrap();
    loaded.config.input_size = 100_000;
    let bad = tmp.path().join("huge.bpk");
    save_efficientnet(&LoadedEfficientNet::Classifier(loaded), &bad).unwrap();
    let start = std::time::Instant::now();
    let o = run(deepfake().arg("classify").arg("-m").arg(&bad).arg(media("astronaut.png")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("huge.bpk") && stderr(&o).contains("input_size"), "{}", stderr(&o));
    assert!(start.elapsed().as_secs_f64() < 1.0);
}

#[test]
fn images_over_max_pixels_are_refused_by_their_header() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    // single_face.jpg is far more than 100 pixels: refused before decoding, with the typed status, per image.
    let o = run(deepfake().args(["detect", "--json", "--max-pixels", "100"]).arg(media("single_face.jpg")));
    assert!(o.status.code() == Some(1) || o.status.success(), "{}", stderr(&o));
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], "too_large", "{line}");
    assert!(line["error"].as_str().unwrap().contains("--max-pixels"), "{line}");
    let o = run(deepfake()
        .args(["classify", "--json", "--max-pixels", "100", "-m"])
        .arg(&model)
        .arg(media("single_face.jpg")));
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert!(line["error"].as_str().unwrap().contains("over the limit"), "{line}");
    // Under the default limit the same image is read.
    let o = run(deepfake().args(["detect", "--json"]).arg(media("single_face.jpg")));
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["kind"], "image", "{line}");
}
