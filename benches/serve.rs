//! `deepfake serve` against `deepfake infer` on the same files, on loopback:
//!
//!   cargo bench --bench serve                      # fixture classifier b, the four sample clips
//!   BENCH_MODEL=models/demo.bpk cargo bench --bench serve
//!   BENCH_ROUNDS=3 BENCH_REPEATS=3 BENCH_CLIENTS=4 …
//!
//! - latency: one client, one upload at a time, from the first byte sent to the poll that sees `done`
//!   (polled every 5 ms); p50 and p95 over every clip of every round;
//! - throughput: `BENCH_CLIENTS` clients, each uploading and waiting in a loop; requests per minute;
//!   the service's own share is the latency less the pipeline's `timing.total_s` (upload, queue, JSON, polling);
//! - overhead: the time per video of a batch (every upload at once, until the last is done) against `deepfake
//!   infer` on the same files in one run. Both sides' fixed costs (process start, model loading; the first
//!   video, which nothing overlaps) cancel out by measuring N videos and 1 video and dividing the difference by
//!   N - 1; the minimum of `BENCH_REPEATS` runs is kept on each side.
//!
//! Prints one JSON line per measure and a summary line.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/http.rs"]
mod http;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{arch, fixture, media};
use http::{request, upload, Server};

const EXE: &str = env!("CARGO_BIN_EXE_deepfake");
const CLIPS: [&str; 4] = ["single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"];

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn model(dir: &Path) -> PathBuf {
    if let Some(m) = std::env::var_os("BENCH_MODEL") {
        return PathBuf::from(m);
    }
    let arch_file = dir.join("b_arch.json");
    std::fs::write(&arch_file, serde_json::to_string(&arch("b")).unwrap()).unwrap();
    let out = dir.join("b.bpk");
    let o = Command::new(EXE)
        .arg("import")
        .arg(fixture("effnet/b_dfdc_legacy.pth"))
        .arg("--arch")
        .arg(&arch_file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "import: {}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Wall seconds of one `deepfake infer` run over `dir`, and the sum of its videos' `timing.total_s`.
fn infer_wall(model: &Path, dir: &Path, out: &Path) -> (f64, f64) {
    let report = out.with_extension("json");
    let t = Instant::now();
    let o = Command::new(EXE)
        .arg("infer")
        .arg(dir)
        .arg("-m")
        .arg(model)
        .args(["--quiet", "--no-resume", "--out"])
        .arg(out)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(o.status.code().is_some_and(|c| c <= 1), "infer: {}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    (wall, r["videos"].as_array().unwrap().iter().map(|v| v["timing"]["total_s"].as_f64().unwrap()).sum())
}

/// Polls until job `id` ends; its report's `timing.total_s`.
fn wait(addr: std::net::SocketAddr, id: &str) -> f64 {
    loop {
        let job = request(addr, "GET", &format!("/v1/jobs/{id}"), None, None).json();
        if job["state"] == "done" || job["state"] == "failed" {
            return job["report"]["timing"]["total_s"].as_f64().unwrap_or(0.0);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Uploads every file at once and waits for the last: wall seconds, and the sum of the videos' `timing.total_s`.
fn serve_batch(addr: std::net::SocketAddr, files: &[(String, Vec<u8>)]) -> (f64, f64) {
    let t = Instant::now();
    let ids: Vec<String> = files
        .iter()
        .map(|(name, bytes)| {
            let r = upload(addr, None, name, bytes, false);
            assert_eq!(r.status, 202, "{}", r.text());
            r.json()["id"].as_str().unwrap().to_string()
        })
        .collect();
    let stages: f64 = ids.iter().map(|id| wait(addr, id)).sum();
    (t.elapsed().as_secs_f64(), stages)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k]
}

fn main() {
    let rounds = knob("BENCH_ROUNDS", 3);
    let repeats = knob("BENCH_REPEATS", 3);
    let clients = knob("BENCH_CLIENTS", 4);
    let tmp = tempfile::tempdir().unwrap();
    let model = model(tmp.path());
    // The same N videos for both sides: every clip `rounds` times, under distinct names.
    let all = tmp.path().join("all");
    let one = tmp.path().join("one");
    std::fs::create_dir_all(&all).unwrap();
    std::fs::create_dir_all(&one).unwrap();
    let mut files = Vec::new();
    for r in 0..rounds {
        for clip in CLIPS {
            let name = format!("r{r}_{clip}");
            let bytes = std::fs::read(media(clip)).unwrap();
            std::fs::write(all.join(&name), &bytes).unwrap();
            files.push((name, bytes));
        }
    }
    std::fs::write(one.join(&files[0].0), &files[0].1).unwrap();
    let n = files.len();

    let server =
        Server::start(Path::new(EXE), &tmp.path().join("work"), &["-m", model.to_str().unwrap(), "--queue", "256"]);
    let addr = server.addr;
    serve_batch(addr, &files[..1]); // warm-up

    // Latency, one request at a time; what the service adds to the pipeline's own time (upload, queue, JSON,
    // polling) is the latency less the report's `timing.total_s`.
    let timed: Vec<(f64, f64)> = files
        .iter()
        .map(|(name, bytes)| {
            let t = Instant::now();
            let r = upload(addr, None, name, bytes, false);
            let total = wait(addr, r.json()["id"].as_str().unwrap());
            (t.elapsed().as_secs_f64(), total)
        })
        .collect();
    let mut latencies: Vec<f64> = timed.iter().map(|t| t.0).collect();
    latencies.sort_by(f64::total_cmp);
    let (p50, p95) = (percentile(&latencies, 0.5), percentile(&latencies, 0.95));
    let added: f64 = timed.iter().map(|(l, t)| l - t).sum::<f64>() / n as f64;
    let pipeline: f64 = timed.iter().map(|t| t.1).sum::<f64>() / n as f64;
    let added_pct = 100.0 * added / pipeline;
    println!(
        "{{\"case\": \"latency\", \"requests\": {n}, \"p50_s\": {p50:.4}, \"p95_s\": {p95:.4}, \"max_s\": {:.4}, \
         \"pipeline_mean_s\": {pipeline:.4}, \"service_added_mean_s\": {added:.4}, \"service_added_pct\": {added_pct:.2}}}",
        latencies[n - 1]
    );

    // Throughput: clients uploading and waiting in a loop.
    let t = Instant::now();
    std::thread::scope(|s| {
        for c in 0..clients {
            let files = &files;
            s.spawn(move || {
                for (name, bytes) in files.iter().skip(c).step_by(clients) {
                    let r = upload(addr, None, name, bytes, false);
                    assert_eq!(r.status, 202, "{}", r.text());
                    wait(addr, r.json()["id"].as_str().unwrap());
                }
            });
        }
    });
    let per_min = n as f64 / t.elapsed().as_secs_f64() * 60.0;
    println!(
        "{{\"case\": \"throughput\", \"clients\": {clients}, \"requests\": {n}, \"requests_per_min\": {per_min:.1}}}"
    );

    // Overhead against infer, repeats interleaved so that both sides see the same machine load.
    let (mut infer_n, mut infer_1, mut serve_n, mut serve_1) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    // The videos' own stage seconds of the fastest N-video run on each side: when these differ as much as the
    // walls, the difference is the machine (other load), not the service.
    let (mut infer_stages, mut serve_stages) = (0.0, 0.0);
    let csv = tmp.path().join("submission.csv");
    for _ in 0..repeats {
        let (wall, stages) = infer_wall(&model, &all, &csv);
        if wall < infer_n {
            (infer_n, infer_stages) = (wall, stages);
        }
        infer_1 = infer_1.min(infer_wall(&model, &one, &csv).0);
        let (wall, stages) = serve_batch(addr, &files);
        if wall < serve_n {
            (serve_n, serve_stages) = (wall, stages);
        }
        serve_1 = serve_1.min(serve_batch(addr, &files[..1]).0);
    }
    let per_infer = (infer_n - infer_1) / (n - 1) as f64;
    let per_serve = (serve_n - serve_1) / (n - 1) as f64;
    let overhead = per_serve / per_infer - 1.0;
    println!(
        "{{\"case\": \"overhead\", \"videos\": {n}, \"infer_n_s\": {infer_n:.3}, \"infer_1_s\": {infer_1:.3}, \
         \"serve_n_s\": {serve_n:.3}, \"serve_1_s\": {serve_1:.3}, \"infer_per_video_s\": {per_infer:.4}, \
         \"serve_per_video_s\": {per_serve:.4}, \"overhead_pct\": {:.2}, \"infer_stage_s\": {infer_stages:.3}, \
         \"serve_stage_s\": {serve_stages:.3}}}",
        overhead * 100.0
    );
    println!(
        "serve: {per_min:.1} requests/min with {clients} clients; latency p50 {p50:.3} s, p95 {p95:.3} s, of which \
         the service adds {added:.3} s ({added_pct:.1} %); {per_serve:.3} s per video in a batch against infer's \
         {per_infer:.3} s ({:+.1} %); peak RSS {:.0} MB",
        overhead * 100.0,
        server.peak_rss_kb() as f64 / 1024.0
    );
}
