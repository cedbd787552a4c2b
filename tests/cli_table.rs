//! The command line as a person meets it (issue #8), through the binary: outputs to stdout and into pipes, inputs
//! checked before any work, model folders, verdicts, `inspect`, `detect --crops` → `classify`, progress in a
//! terminal, Ctrl-C, and snapshots of the help texts and the verdict table. Each case states its exit code, its
//! message and the files it leaves, and that nothing else is left behind.
//!
//! The classifier is the tiny fixture `tests/fixtures/effnet/b_dfdc_legacy.pth` (scripts/reference/
//! make_effnet_fixtures.py), converted to a .bpk by `deepfake import`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::cli::{deepfake, run, stderr, stdout};
use common::{arch, fixture, media};
use serde_json::Value;

/// Every file and folder under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !std::fs::symlink_metadata(&p).unwrap().file_type().is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Fixture classifier b as a `.bpk`, in its own folder (so a test's tree is only its own files).
fn model_b(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let arch_file = dir.join("b_arch.json");
    std::fs::write(&arch_file, serde_json::to_string(&arch("b")).unwrap()).unwrap();
    let out = dir.join("b.bpk");
    let o = run(deepfake()
        .arg("import")
        .arg(fixture("effnet/b_dfdc_legacy.pth"))
        .arg("--arch")
        .arg(&arch_file)
        .arg("--out")
        .arg(&out));
    assert!(o.status.success(), "import: {}", stderr(&o));
    std::fs::remove_file(arch_file).unwrap();
    out
}

/// `infer` with the fixture model and 4 frames (fast), in `cwd`.
fn infer(cwd: &Path, model: &Path) -> Command {
    let mut c = deepfake();
    c.current_dir(cwd).arg("infer").arg("-m").arg(model).args(["--frames", "4"]);
    c
}

struct Case {
    name: &'static str,
    args: Vec<String>,
    stdin: Option<String>,
    code: i32,
    /// Substrings of stderr.
    says: Vec<String>,
    /// Substrings of stdout.
    prints: Vec<String>,
    /// The files under the work folder afterwards (besides the inputs made before).
    leaves: Vec<&'static str>,
    /// Must finish before any video is decoded.
    fast: bool,
}

fn case(name: &'static str, args: &[&str], code: i32) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
        code,
        says: vec![],
        prints: vec![],
        leaves: vec![],
        fast: false,
    }
}

impl Case {
    fn says(mut self, s: &str) -> Self {
        self.says.push(s.into());
        self
    }
    fn prints(mut self, s: &str) -> Self {
        self.prints.push(s.into());
        self
    }
    fn leaves(mut self, files: &[&'static str]) -> Self {
        self.leaves.extend(files);
        self
    }
    fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(s.into());
        self
    }
    fn fast(mut self) -> Self {
        self.fast = true;
        self
    }
}

/// The table: each case runs in a fresh work folder holding `in/clip.mp4`, `in/part_0/clip2.mp4` +
/// `in/part_0/metadata.json`, an empty folder `empty/`, a regular file `file`, and a model folder `models/` with
/// the fixture model and (for some cases) a bad file.
#[test]
fn each_case_gives_its_exit_code_message_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let clip = media("single_face.mp4");
    let cases = vec![
        case("stdout csv", &["in/clip.mp4", "--out", "-"], 0).prints("filename,label\nclip.mp4,"),
        case("stdout report", &["in/clip.mp4", "--out", "o.csv", "--report", "-"], 0)
            .prints("\"precision\": \"f32\"")
            .leaves(&["o.csv"]),
        case("two stdouts", &["in/clip.mp4", "--out", "-", "--report", "-"], 2).says("--out and --report").fast(),
        case("table and csv on stdout", &["in/clip.mp4", "--out", "-", "--format", "table"], 2)
            .says("--out and --format table")
            .fast(),
        case("missing input", &["in/singel_face.mp4"], 2).says("input not found: in/singel_face.mp4").fast(),
        case("missing input with --on-error", &["in/singel_face.mp4", "--on-error", "0.5"], 2)
            .says("input not found: in/singel_face.mp4")
            .fast(),
        case("empty folder", &["empty"], 2).says("nothing to do: no media files in empty").fast(),
        case("subfolders need --recursive", &["in"], 0)
            .says("skipped in/part_0: a folder (use --recursive")
            .leaves(&["submission.csv"]),
        case("recursive", &["in", "--recursive", "--out", "r.csv"], 0)
            .says("skipped in/part_0/metadata.json: not a media file")
            .leaves(&["r.csv"]),
        case("stdin list", &["-", "--out", "s.csv"], 0)
            .stdin("in/clip.mp4\n\nin/part_0/clip2.mp4\n")
            .leaves(&["s.csv"]),
        case("out is a folder", &["in/clip.mp4", "--out", "empty"], 2).says("--out empty: is a folder").fast(),
        case("report under a file", &["in/clip.mp4", "--report", "file/r.json"], 2)
            .says("--report file/r.json: file is not a folder")
            .fast(),
        case("report in /proc", &["in/clip.mp4", "--report", "/proc/r.json"], 2)
            .says("--report /proc/r.json: cannot write in /proc")
            .fast(),
        case("out in a new folder", &["in/clip.mp4", "--out", "new/deep/o.csv"], 0).leaves(&[
            "new",
            "new/deep",
            "new/deep/o.csv",
        ]),
        case("bad file in a model folder", &["in/clip.mp4", "-m", "models"], 2)
            .says("models/page.pth in model folder models is not a weight file")
            .fast(),
        case("--skip-bad-models", &["in/clip.mp4", "-m", "models", "--skip-bad-models", "--quiet"], 0)
            .says("WARNING: skipping models/page.pth")
            .leaves(&["submission.csv"]),
        case("--quiet is silent", &["in/clip.mp4", "--quiet", "--out", "q.csv"], 0).leaves(&["q.csv"]),
        case("table on stdout", &["in/clip.mp4", "--format", "table", "--out", "t.csv"], 0)
            .prints("file      verdict  probability  faces  reason\nclip.mp4  ")
            .leaves(&["t.csv"]),
    ];
    for c in cases {
        let work = tmp.path().join(c.name.replace(' ', "_"));
        std::fs::create_dir_all(work.join("in/part_0")).unwrap();
        std::fs::create_dir_all(work.join("empty")).unwrap();
        std::fs::create_dir_all(work.join("models")).unwrap();
        std::fs::copy(&clip, work.join("in/clip.mp4")).unwrap();
        std::fs::copy(&clip, work.join("in/part_0/clip2.mp4")).unwrap();
        std::fs::write(work.join("in/part_0/metadata.json"), "{}").unwrap();
        std::fs::write(work.join("file"), "x").unwrap();
        std::fs::copy(&model, work.join("models/b.bpk")).unwrap();
        // An HTML error page saved under a checkpoint's name.
        std::fs::write(work.join("models/page.pth"), "<html>404</html>").unwrap();
        let before = tree(&work);

        let mut cmd = infer(&work, &model);
        // The table cases pass their own -m, which replaces nothing: clap keeps both, so give the folder alone.
        if c.args.iter().any(|a| a == "models") {
            cmd = deepfake();
            cmd.current_dir(&work).arg("infer").args(["--frames", "4"]);
        }
        cmd.args(&c.args);
        let start = std::time::Instant::now();
        let o = if let Some(input) = &c.stdin {
            let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        } else {
            run(&mut cmd)
        };
        let took = start.elapsed().as_secs_f64();
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(c.code), "{}: {err}", c.name);
        for s in &c.says {
            assert!(err.contains(s.as_str()), "{}: stderr must say `{s}`:\n{err}", c.name);
        }
        for s in &c.prints {
            assert!(out.contains(s.as_str()), "{}: stdout must hold `{s}`:\n{out}", c.name);
        }
        assert!(!err.contains("panicked"), "{}: {err}", c.name);
        if c.fast {
            assert!(took < 2.0, "{}: took {took:.2} s; the check must come before any work", c.name);
        }
        if c.name == "--quiet is silent" {
            assert_eq!(err, "", "--quiet prints nothing but errors");
        }
        let mut want = before.clone();
        want.extend(c.leaves.iter().map(|s| s.to_string()));
        assert_eq!(tree(&work), want, "{}: files left behind", c.name);
        if c.name == "recursive" {
            let csv = std::fs::read_to_string(work.join("r.csv")).unwrap();
            let names: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
            assert_eq!(names, ["clip.mp4", "part_0/clip2.mp4"]);
        }
        if c.name == "stdin list" {
            assert_eq!(std::fs::read_to_string(work.join("s.csv")).unwrap().lines().count(), 3, "two videos");
        }
        if c.name == "stdout report" {
            let r: Value = serde_json::from_str(&out).unwrap();
            // Settings in the units typed.
            assert_eq!(r["settings"]["options"]["detector"]["thresholds"], serde_json::json!([0.7, 0.8, 0.8]));
            let m = &r["models"][0];
            assert_eq!(m["arch"], "fixture_b");
            assert_eq!(m["input_size"], 380);
            assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
            assert!(m["parameters"].as_u64().unwrap() > 0);
        }
    }
}

/// `--out` into a FIFO and into a symbolic link: the FIFO is written directly and stays a FIFO; the link stays a
/// link and its target gets the CSV.
#[test]
fn writes_into_pipes_and_through_links_without_replacing_them() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let fifo = tmp.path().join("pipe.csv");
    let ok = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils)");
    assert!(ok.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = run(infer(tmp.path(), &model).arg(media("single_face.mp4")).arg("--out").arg(&fifo).arg("--quiet"));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = reader.join().unwrap();
    assert!(text.starts_with("filename,label\nsingle_face.mp4,"), "{text}");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a FIFO");

    let target = tmp.path().join("real.csv");
    std::fs::write(&target, "old").unwrap();
    let link = tmp.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = run(infer(tmp.path(), &model).arg(media("single_face.mp4")).arg("--out").arg(&link).arg("--quiet"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "still a link");
    assert!(std::fs::read_to_string(&target).unwrap().starts_with("filename,label\n"));
    assert_eq!(tree(tmp.path()), set(&["model", "model/b.bpk", "pipe.csv", "real.csv", "link.csv"]));
}

/// `detect --crops` writes the crops `infer` classifies: `classify` on that folder gives the per-face
/// probabilities of `infer`'s report.
#[test]
fn detect_crops_feed_classify_with_the_probabilities_of_infer() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let crops = tmp.path().join("crops");
    let o = run(deepfake().arg("detect").arg(media("single_face.mp4")).args(["--frames", "4", "--crops"]).arg(&crops));
    assert!(o.status.success(), "{}", stderr(&o));
    let index: Value = serde_json::from_str(&std::fs::read_to_string(crops.join("index.json")).unwrap()).unwrap();
    let index = index.as_array().unwrap();
    assert!(!index.is_empty());
    assert_eq!(std::fs::read_dir(&crops).unwrap().count(), index.len() + 1, "one PNG per entry, and the index");

    let o = run(deepfake().arg("classify").arg(&crops).arg("-m").arg(&model).arg("--json"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("index.json: not a media file"), "{}", stderr(&o));
    let mut from_crops: Vec<f64> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["probability"].as_f64().unwrap())
        .collect();

    let report = tmp.path().join("r.json");
    let o = run(infer(tmp.path(), &model).arg(media("single_face.mp4")).arg("--quiet").arg("--report").arg(&report));
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let mut from_infer: Vec<f64> = r["videos"][0]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["faces"].as_array().unwrap().iter().map(|x| x["probabilities"][0].as_f64().unwrap()))
        .collect();
    from_crops.sort_by(f64::total_cmp);
    from_infer.sort_by(f64::total_cmp);
    assert_eq!(from_crops.len(), from_infer.len());
    for (a, b) in from_crops.iter().zip(&from_infer) {
        assert!((a - b).abs() < 1e-5, "classify {a} vs infer {b}");
    }

    // The header of the plain output.
    let o = run(deepfake().arg("classify").arg(&crops).arg("-m").arg(&model));
    assert!(stdout(&o).starts_with("probability\tlogit\timage\n"), "{}", stdout(&o));

    // `detect -m` scores the same faces: each box's probability is infer's for that box.
    let ann = tmp.path().join("ann");
    let o = run(deepfake()
        .arg("detect")
        .arg(media("single_face.mp4"))
        .args(["--frames", "4", "--json", "-m"])
        .arg(&model)
        .arg("--annotate")
        .arg(&ann));
    assert!(o.status.success(), "{}", stderr(&o));
    let d: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let infer_faces: Vec<&Value> =
        r["videos"][0]["frames"].as_array().unwrap().iter().flat_map(|f| f["faces"].as_array().unwrap()).collect();
    let detect_faces: Vec<&Value> =
        d["frames"].as_array().unwrap().iter().flat_map(|f| f["faces"].as_array().unwrap()).collect();
    assert_eq!(detect_faces.len(), infer_faces.len());
    for (df, inf) in detect_faces.iter().zip(&infer_faces) {
        let (a, b) = (df["probability"].as_f64().unwrap(), inf["probabilities"][0].as_f64().unwrap());
        assert!((a - b).abs() < 1e-5, "detect -m {a} vs infer {b}");
    }
    // The annotated frame differs from one drawn without the model by the label above the box, and only there.
    let plain = tmp.path().join("plain");
    let o =
        run(deepfake().arg("detect").arg(media("single_face.mp4")).args(["--frames", "4", "--annotate"]).arg(&plain));
    assert!(o.status.success(), "{}", stderr(&o));
    let name = "single_face_f00000.png";
    let (with, without) =
        (image::open(ann.join(name)).unwrap().to_rgb8(), image::open(plain.join(name)).unwrap().to_rgb8());
    let [x1, y1, x2, _] = [0, 1, 2, 3].map(|k| detect_faces[0]["box"][k].as_f64().unwrap());
    let mut changed = 0;
    for (x, y, p) in with.enumerate_pixels() {
        if p != without.get_pixel(x, y) {
            changed += 1;
            let (x, y) = (x as f64, y as f64);
            assert!(y <= y1 + 1.0 && x >= x1 - 1.0 && x <= x1 + (x2 - x1) * 2.0, "pixel ({x}, {y}) changed");
        }
    }
    assert!(changed > 100, "the label is drawn ({changed} pixels)");
}

/// Two inputs with one file name, from two folders: two annotated files, none overwritten.
#[test]
fn annotated_frames_of_two_inputs_never_collide() {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["a", "b"] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        std::fs::copy(media("single_face.jpg"), tmp.path().join(d).join("face.jpg")).unwrap();
    }
    let out = tmp.path().join("ann");
    let o = run(deepfake().current_dir(tmp.path()).args(["detect", "a", "b", "--annotate"]).arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(tree(&out), set(&["face.png", "face-2.png"]));
}

#[test]
fn inspect_prints_kind_arch_size_parameters_and_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let o = run(deepfake().arg("inspect").arg(&model).arg("--json"));
    assert!(o.status.success(), "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["kind"], "classifier");
    assert_eq!(j["arch"], "fixture_b");
    assert_eq!(j["input_size"], 380);
    assert_eq!(j["source"], "b_dfdc_legacy.pth");
    // timm's count for the fixture encoder without its ImageNet head, plus the DFDC head (features + 1).
    let b: Value = serde_json::from_str(&std::fs::read_to_string(fixture("effnet/b.json")).unwrap()).unwrap();
    let want =
        b["param_count_encoder_without_classifier"].as_u64().unwrap() + b["rounded_num_features"].as_u64().unwrap() + 1;
    assert_eq!(j["parameters"].as_u64().unwrap(), want);
    let sha = j["sha256"].as_str().unwrap();
    let o = run(deepfake().arg("inspect").arg(&model));
    let line = stdout(&o);
    assert!(line.contains("classifier fixture_b, input 380×380") && line.contains(sha), "{line}");
    let o = run(deepfake().arg("inspect").arg(tmp.path().join("nope.bpk")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.bpk"), "{}", stderr(&o));
}

#[test]
fn completions_are_generated_for_bash() {
    let o = run(deepfake().args(["completions", "bash"]));
    assert!(o.status.success());
    assert!(stdout(&o).contains("_deepfake()") && stdout(&o).contains("--skip-bad-models"));
}

/// Compares `text` with `tests/snapshots/<name>`; `UPDATE_SNAPSHOTS=1` rewrites the file instead.
fn snapshot(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_SNAPSHOTS=1 and review it", path.display()));
    assert!(
        want == text,
        "{name} changed (review, then UPDATE_SNAPSHOTS=1 to accept):\n--- want\n{want}\n--- got\n{text}"
    );
}

#[test]
fn help_texts_match_their_snapshots() {
    for cmd in ["infer", "detect", "classify", "inspect"] {
        let o = run(deepfake().args([cmd, "--help"]));
        assert!(o.status.success());
        snapshot(&format!("help_{cmd}.txt"), &stdout(&o));
    }
    // The top-level help lists every helper's subcommands; only its exit codes are pinned here.
    let o = run(deepfake().arg("--help"));
    assert!(stdout(&o).contains("Exit codes:\n  0 ") && stdout(&o).contains("130  interrupted"), "{}", stdout(&o));
}

/// The verdict table of the sample clips (8 frames each), as `--format table` prints it.
#[test]
fn verdict_table_of_the_sample_clips_matches_its_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let clips = tmp.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    for name in ["single_face.mp4", "no_face.mp4", "face_noface.mov", "noface_face.mov", "WolfgangLanger_Pexels.mp4"] {
        std::fs::copy(media(name), clips.join(name)).unwrap();
    }
    std::fs::write(clips.join("notes.mp4"), "not a video\n").unwrap();
    let o = run(deepfake()
        .arg("infer")
        .arg(&clips)
        .arg("-m")
        .arg(&model)
        .args(["--frames", "8", "--format", "table", "--quiet", "--out"])
        .arg(tmp.path().join("s.csv")));
    assert_eq!(o.status.code(), Some(1), "notes.mp4 is unreadable: {}", stderr(&o));
    snapshot("verdict_table.txt", &stdout(&o));
}

/// In a pseudo-terminal (`script` from util-linux/bsdutils), the bar's text changes at every stage of a video:
/// model loading, decoding, face finding, the model.
#[test]
fn progress_moves_through_every_stage_in_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let cmd = format!(
        "stty cols 250; {} infer {} -m {} --frames 4 --out {}",
        env!("CARGO_BIN_EXE_deepfake"),
        media("single_face.mp4").display(),
        model.display(),
        tmp.path().join("s.csv").display()
    );
    let o = run(Command::new("script").args(["-qfec", &cmd, "/dev/null"]));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let screen = stdout(&o);
    let stages = [
        "loading model 1/1",
        "single_face.mp4: decoding",
        "single_face.mp4: finding faces in 4 frame(s)",
        "single_face.mp4: model 1/1",
    ];
    let mut at = 0;
    for stage in stages {
        let found =
            screen[at..].find(stage).unwrap_or_else(|| panic!("`{stage}` not drawn after byte {at}:\n{screen}"));
        at += found;
    }
    assert!(screen.contains("face(s)"), "faces found are shown: {screen}");
    // The verdict table follows.
    assert!(screen.contains("single_face.mp4  "), "{screen}");
}

/// A file that looks like weights (a zip's first bytes, cut off) but does not load: an error naming it, or with
/// `--skip-bad-models` a warning naming it, and the run goes on with the models that load.
#[test]
fn a_weight_file_that_fails_to_load_is_skipped_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let models = tmp.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(&model, models.join("b.bpk")).unwrap();
    let pth = std::fs::read(fixture("effnet/b_dfdc_legacy.pth")).unwrap();
    std::fs::write(models.join("cut.pth"), &pth[..pth.len() / 3]).unwrap();
    let run_with = |extra: &[&str]| {
        let mut c = deepfake();
        c.current_dir(tmp.path()).arg("infer").arg(media("single_face.mp4")).arg("-m").arg(&models);
        run(c.args(["--frames", "4", "--report", "r.json", "--out", "s.csv"]).args(extra))
    };
    let o = run_with(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cut.pth") && stderr(&o).contains("--skip-bad-models"), "{}", stderr(&o));
    assert!(!tmp.path().join("s.csv").exists(), "nothing is written when a model fails");

    let o = run_with(&["--skip-bad-models"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("WARNING: skipping") && stderr(&o).contains("cut.pth"), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("r.json")).unwrap()).unwrap();
    let loaded: Vec<&str> = report["models"].as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert!(loaded[0].ends_with("b.bpk"), "{loaded:?}");

    // Only bad files: an error even with the flag.
    std::fs::remove_file(models.join("b.bpk")).unwrap();
    let o = run_with(&["--skip-bad-models"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("could be loaded"), "{}", stderr(&o));
}

/// Ctrl-C (SIGINT) ends the run at the next stage boundary, says how many are done, and a rerun resumes.
#[test]
fn ctrl_c_stops_cleanly_and_the_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(&tmp.path().join("model"));
    let videos = tmp.path().join("v");
    std::fs::create_dir_all(&videos).unwrap();
    for i in 0..3 {
        std::fs::copy(media("single_face.mp4"), videos.join(format!("{i}.mp4"))).unwrap();
    }
    let csv = tmp.path().join("s.csv");
    let journal = tmp.path().join(".s.csv.journal");
    let child = infer(tmp.path(), &model)
        .arg(&videos)
        .arg("--out")
        .arg(&csv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |j| j.lines().count()) < 2 {
        assert!(start.elapsed().as_secs() < 120, "no video finished in 2 minutes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("done, rerun the same command to resume"), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted: "), "{}", stderr(&o));
    assert!(!csv.exists() && journal.exists());
    let o = run(infer(tmp.path(), &model).arg(&videos).arg("--out").arg(&csv));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming: "), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 4);
}
