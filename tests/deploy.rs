//! deploy/: the Slurm array script runs its shard of `infer` as a Slurm task would, and the Kubernetes Indexed
//! Job's command line does the same for its index (no scheduler here: the environment a scheduler sets is given
//! by hand, and `deepfake` is this build's binary).

mod common;

use std::path::Path;
use std::process::Command;

use common::media;

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Two copies of a sample clip and a file that is not a video.
fn videos(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["a.mp4", "b.mp4"] {
        std::fs::copy(media("single_face.mp4"), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("c.mp4"), b"not a video").unwrap();
}

fn rows(csv: &Path) -> Vec<String> {
    std::fs::read_to_string(csv).unwrap().lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect()
}

#[test]
fn the_slurm_script_runs_its_array_task_as_a_shard() {
    let tmp = tempfile::tempdir().unwrap();
    videos(&tmp.path().join("videos"));
    let out = tmp.path().join("out");
    let mut seen = Vec::new();
    for k in 1..=2 {
        let o = Command::new("bash")
            .arg(repo("deploy/slurm-infer.sh"))
            .arg(tmp.path().join("videos"))
            .arg(&out)
            .arg(repo("models/demo.bpk"))
            .env("DEEPFAKE", env!("CARGO_BIN_EXE_deepfake"))
            .env("DEEPFAKE_CACHE", tmp.path().join("cache"))
            .env("SLURM_ARRAY_TASK_ID", k.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            // The CI machine has no GPU: the script's `--device cuda` is the one thing replaced.
            .env("DEEPFAKE_DEVICE_OVERRIDE", "cpu")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        // Exit 1: c.mp4 cannot be scored (when it is in this shard).
        assert!(matches!(o.status.code(), Some(0 | 1)), "task {k}: {err}");
        let part = out.join(format!("part-{k}.csv"));
        assert!(out.join(format!("part-{k}.json")).is_file());
        seen.extend(rows(&part));
    }
    seen.sort();
    assert_eq!(seen, ["a.mp4", "b.mp4", "c.mp4"], "the two tasks cover every video once");
}

#[test]
fn the_kubernetes_job_command_runs_its_index_as_a_shard() {
    let manifest = std::fs::read_to_string(repo("deploy/k8s-infer-job.yaml")).unwrap();
    // The folded (`>-`) shell command under `args:`: its lines joined by spaces, as YAML folds them.
    let start = manifest.find("- >-\n").expect("a folded args command") + 5;
    let command: Vec<&str> = manifest[start..].lines().take_while(|l| l.starts_with("              ")).collect();
    let command = command.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    let completions: u32 = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("completions");
    assert!(command.contains(&format!("\"${{JOB_COMPLETION_INDEX}}/{completions}\"")), "{command}");

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    videos(&data.join("videos"));
    std::fs::create_dir_all(data.join("models")).unwrap();
    std::fs::copy(repo("models/demo.bpk"), data.join("models/demo.bpk")).unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_deepfake"), bin.join("deepfake")).unwrap();
    let command = command.replace("/data", data.to_str().unwrap()).replace("--device cuda", "--device cpu");
    let mut seen = Vec::new();
    for index in 0..completions {
        let o = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("DEEPFAKE_CACHE", tmp.path().join("cache"))
            .output()
            .unwrap();
        assert!(matches!(o.status.code(), Some(0 | 1)), "index {index}: {}", String::from_utf8_lossy(&o.stderr));
        seen.extend(rows(&data.join(format!("run1/part-{index}.csv"))));
    }
    seen.sort();
    assert_eq!(seen, ["a.mp4", "b.mp4", "c.mp4"]);
}
