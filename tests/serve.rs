//! `deepfake serve` end to end on loopback (an ephemeral port, the server a child process): reports equal to
//! `infer`'s for the same files, every error path with its status code, limits, temporary files, and a bounded
//! load test. The classifier is fixture b (tests/fixtures/effnet, made by
//! scripts/reference/make_effnet_fixtures.py), imported to a .bpk as tests/cli.rs does.

mod common;
#[path = "common/http.rs"]
mod http;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::cli::model_b;
use common::media;
use http::{form, form_type, raw, request, upload, wait_done, Server};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_deepfake");
const SAMPLES: [&str; 4] = ["single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"];
const LIMIT: Duration = Duration::from_secs(180);

fn without_timing(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("timing");
    v
}

fn infer_report(model: &Path, files: &[PathBuf], out: &Path) -> Vec<Value> {
    let report = out.join("report.json");
    let o = Command::new(EXE)
        .arg("infer")
        .args(files)
        .arg("-m")
        .arg(model)
        .args(["--quiet", "--out"])
        .arg(out.join("submission.csv"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1), "infer: {}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    r["videos"].as_array().unwrap().clone()
}

#[test]
fn reports_equal_infers_for_the_sample_clips() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let server = Server::start(Path::new(EXE), &tmp.path().join("work"), &["-m", model.to_str().unwrap()]);
    let addr = server.addr;

    let health = request(addr, "GET", "/healthz", None, None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["models"].as_array().unwrap().len(), 1);

    let ids: Vec<(String, String)> = SAMPLES
        .iter()
        .map(|name| {
            let r = upload(addr, None, name, &std::fs::read(media(name)).unwrap(), false);
            assert_eq!(r.status, 202, "{}", r.text());
            assert_eq!(r.json()["state"], "queued");
            let id = r.json()["id"].as_str().unwrap().to_string();
            assert_eq!(r.header("location"), Some(format!("/v1/jobs/{id}").as_str()));
            (name.to_string(), id)
        })
        .collect();
    let files: Vec<PathBuf> = SAMPLES.iter().map(|n| media(n)).collect();
    let want = infer_report(&model, &files, tmp.path());
    for (name, id) in &ids {
        let job = wait_done(addr, None, id, LIMIT);
        assert_eq!(job["id"], id.as_str());
        assert_eq!(job["file"], name.as_str());
        let want = want.iter().find(|v| v["file"] == name.as_str()).unwrap();
        let expected_state = if want["status"] == "ok" || want["status"] == "no_face" { "done" } else { "failed" };
        assert_eq!(job["state"], expected_state, "{name}: {job}");
        // The same per-video object infer's report holds: status, score, per-model and per-face numbers.
        assert_eq!(without_timing(job["report"].clone()), without_timing(want.clone()), "{name}");
        assert!(job["report"]["timing"]["total_s"].as_f64().unwrap() > 0.0);
    }
    // At least one clip is scored (the others may find no face with the fixture classifier's detector).
    assert!(want.iter().any(|v| v["score"].is_number()));
    // Uploads are gone as soon as their jobs end (no pictures were asked for).
    assert_eq!(server.files_left(), Vec::<PathBuf>::new());

    let metrics = request(addr, "GET", "/metrics", None, None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain"));
    let text = metrics.text();
    assert!(text.contains("deepfake_queue_depth 0\n"), "{text}");
    assert!(text.contains("deepfake_uploads_accepted_total 4\n"), "{text}");
    assert!(
        text.contains("deepfake_jobs{state=\"done\"} 4\n") || text.contains("deepfake_jobs{state=\"failed\"}"),
        "{text}"
    );
    assert!(text.contains("deepfake_stage_seconds_count{stage=\"detect\"} 4\n"), "{text}");

    // Delete: gone, then unknown.
    let (_, id) = &ids[0];
    assert_eq!(request(addr, "DELETE", &format!("/v1/jobs/{id}"), None, None).status, 204);
    let gone = request(addr, "GET", &format!("/v1/jobs/{id}"), None, None);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["status"], "not_found");
    assert_eq!(request(addr, "DELETE", &format!("/v1/jobs/{id}"), None, None).status, 404);

    let work = server.work_parent.clone();
    assert!(server.stop(), "SIGTERM ends the service with exit code 0");
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0, "the work folder is removed at exit");
}

#[test]
fn every_error_path_answers_its_status_code() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let m = model.to_str().unwrap();
    let server = Server::start(
        Path::new(EXE),
        &tmp.path().join("work"),
        &["-m", m, "--token", "s3cret", "--max-upload-mb", "1", "--queue", "1"],
    );
    let addr = server.addr;
    let t = Some("s3cret");
    let clip = std::fs::read(media("single_face.mp4")).unwrap();

    // Token: missing or wrong -> 401 with WWW-Authenticate; the page and /healthz stay open.
    for token in [None, Some("wrong")] {
        let r = upload(addr, token, "a.mp4", &clip, false);
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json()["status"], "unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(request(addr, "GET", "/metrics", token, None).status, 401);
        assert_eq!(request(addr, "GET", "/v1/jobs/x", token, None).status, 401);
    }
    assert_eq!(request(addr, "GET", "/healthz", None, None).json()["auth"], true);
    let page = request(addr, "GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<form"), "{}", page.text());
    assert!(page.header("content-security-policy").unwrap().contains("default-src 'self'"));
    assert_eq!(request(addr, "GET", "/app.js", None, None).status, 200);

    // Unknown job, route, picture.
    let r = request(addr, "GET", "/v1/jobs/0123", t, None);
    assert_eq!((r.status, r.json()["status"].as_str()), (404, Some("not_found")));
    assert_eq!(request(addr, "DELETE", "/v1/jobs/0123", t, None).status, 404);
    assert_eq!(request(addr, "GET", "/v1/jobs/0123/plots/timeline.png", t, None).status, 404);
    assert_eq!(request(addr, "GET", "/nothing/here", None, None).json()["status"], "not_found");
    assert_eq!(request(addr, "PUT", "/v1/jobs", t, None).status, 405);

    // Too large: a declared length over the limit is refused before the body is sent ...
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer s3cret\r\nContent-Type: {}\r\nContent-Length: {}",
        form_type(),
        50 << 20
    );
    let r = raw(addr, &head, b"");
    assert_eq!((r.status, r.json()["status"].as_str()), (413, Some("too_large")));
    // ... and a body that passes the limit while streaming (1.6 MB > 1 MB) is cut off.
    let big = std::fs::read(media("WolfgangLanger_Pexels.mp4")).unwrap();
    let r = upload(addr, t, "big.mp4", &big, false);
    assert_eq!((r.status, r.json()["status"].as_str()), (413, Some("too_large")), "{}", r.text());

    // Malformed multipart: not multipart, a broken body, no `video` field, an empty one.
    let r = request(addr, "POST", "/v1/jobs", t, Some(("application/json", b"{}")));
    assert_eq!((r.status, r.json()["status"].as_str()), (400, Some("bad_request")), "{}", r.text());
    let r = request(addr, "POST", "/v1/jobs", t, Some((&form_type(), b"--nope\r\ngarbage")));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = request(addr, "POST", "/v1/jobs", t, Some((&form_type(), &form(&[("other", None, b"x")]))));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("video"));
    let r = upload(addr, t, "empty.mp4", b"", false);
    assert_eq!(r.status, 400, "{}", r.text());

    // Full queue: an upload in progress holds the only slot, so the next one gets 429 with Retry-After.
    let body = form(&[("video", Some("slow.mp4"), &clip)]);
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    use std::io::Write;
    write!(
        slow,
        "POST /v1/jobs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer s3cret\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        form_type(),
        body.len()
    )
    .unwrap();
    slow.write_all(&body[..1000]).unwrap();
    let start = Instant::now();
    while !request(addr, "GET", "/metrics", t, None).text().contains("deepfake_uploads_in_progress 1\n") {
        assert!(start.elapsed() < Duration::from_secs(10), "the slow upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = upload(addr, t, "a.mp4", &clip, false);
    assert_eq!((r.status, r.json()["status"].as_str()), (429, Some("queue_full")), "{}", r.text());
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    slow.write_all(&body[1000..]).unwrap();
    let r = http::read_response(&mut slow);
    assert_eq!(r.status, 202, "{}", r.text());
    let slow_id = r.json()["id"].as_str().unwrap().to_string();
    wait_done(addr, t, &slow_id, LIMIT);

    // Bad videos are jobs that fail with the video's typed status; a playlist is refused by the demuxer
    // whitelist (FFmpeg's hls demuxer would open the files it names).
    let playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n";
    let audio = tmp.path().join("audio.m4a");
    let ok = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1"])
        .arg(&audio)
        .status()
        .expect("the ffmpeg CLI (scripts/setup.sh)");
    assert!(ok.success());
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("notes.mp4", b"this is not a video\n".to_vec(), "unreadable"),
        ("list.m3u8", playlist.to_vec(), "unreadable"),
        ("still.png", std::fs::read(media("astronaut.png")).unwrap(), "unreadable"),
        ("audio.m4a", std::fs::read(&audio).unwrap(), "no_video_stream"),
    ];
    for (name, bytes, status) in cases {
        let r = upload(addr, t, name, &bytes, false);
        assert_eq!(r.status, 202, "{name}: {}", r.text());
        let job = wait_done(addr, t, r.json()["id"].as_str().unwrap(), LIMIT);
        assert_eq!(job["state"], "failed", "{name}: {job}");
        assert_eq!(job["status"], status, "{name}: {job}");
        assert_eq!(job["report"]["status"], status, "{name}: {job}");
        assert!(job["error"].as_str().is_some_and(|e| !e.is_empty()), "{name}: {job}");
    }
    // A finished job without pictures has none to give.
    let r = request(addr, "GET", &format!("/v1/jobs/{slow_id}/plots/timeline.png"), t, None);
    assert_eq!((r.status, r.json()["status"].as_str()), (404, Some("not_found")));
    let r = request(addr, "GET", &format!("/v1/jobs/{slow_id}/plots/..%2f..%2fetc%2fpasswd"), t, None);
    assert_eq!(r.status, 404);
    assert_eq!(server.files_left(), Vec::<PathBuf>::new());
    let metrics = request(addr, "GET", "/metrics", t, None).text();
    for line in [
        "deepfake_uploads_rejected_total{reason=\"queue_full\"} 1",
        "deepfake_uploads_rejected_total{reason=\"too_large\"} 2",
        "deepfake_uploads_rejected_total{reason=\"unauthorized\"} 2",
        "deepfake_jobs_finished_total{status=\"unreadable\"} 3",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[test]
fn jobs_time_out_and_finished_jobs_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let clip = std::fs::read(media("single_face.mp4")).unwrap();
    // A limit no video meets.
    let server = Server::start(
        Path::new(EXE),
        &tmp.path().join("work"),
        &["-m", model.to_str().unwrap(), "--job-timeout-s", "0.001", "--keep", "0.02", "--upload-timeout-s", "1"],
    );
    let addr = server.addr;
    // An upload that stalls is answered 408 when its time is up, and its slot and files are freed.
    let body = form(&[("video", Some("stalled.mp4"), &clip)]);
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    use std::io::Write;
    write!(
        stalled,
        "POST /v1/jobs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        form_type(),
        body.len()
    )
    .unwrap();
    stalled.write_all(&body[..1000]).unwrap();
    let t = Instant::now();
    let r = http::read_response(&mut stalled);
    assert_eq!((r.status, r.json()["status"].as_str()), (408, Some("upload_timeout")), "{}", r.text());
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
    assert_eq!(server.files_left(), Vec::<PathBuf>::new());

    let r = upload(addr, None, "a.mp4", &clip, false);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let job = wait_done(addr, None, &id, LIMIT);
    assert_eq!((job["state"].as_str(), job["status"].as_str()), (Some("failed"), Some("timeout")), "{job}");
    assert!(job["report"].is_null());
    assert_eq!(server.files_left(), Vec::<PathBuf>::new());
    // --keep 0.02 minutes: gone within a few seconds.
    let start = Instant::now();
    while request(addr, "GET", &format!("/v1/jobs/{id}"), None, None).status != 404 {
        assert!(start.elapsed() < Duration::from_secs(10), "the finished job never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = request(addr, "GET", "/metrics", None, None).text();
    assert!(metrics.contains("deepfake_jobs_finished_total{status=\"timeout\"} 1"), "{metrics}");
    assert!(metrics.contains("deepfake_uploads_rejected_total{reason=\"upload_timeout\"} 1"), "{metrics}");
    assert!(metrics.contains("deepfake_uploads_in_progress 0\n"), "{metrics}");
}

#[test]
fn a_deleted_job_leaves_no_files() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let server = Server::start(Path::new(EXE), &tmp.path().join("work"), &["-m", model.to_str().unwrap()]);
    let addr = server.addr;
    let clip = std::fs::read(media("noface_face.mov")).unwrap();
    // Several jobs so that some are still queued or running when deleted.
    let ids: Vec<String> = (0..3)
        .map(|i| upload(addr, None, &format!("c{i}.mov"), &clip, false).json()["id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        assert_eq!(request(addr, "DELETE", &format!("/v1/jobs/{id}"), None, None).status, 204);
        assert_eq!(request(addr, "GET", &format!("/v1/jobs/{id}"), None, None).status, 404);
    }
    // A job deleted while running finishes on the worker; its result is dropped and nothing is written.
    let start = Instant::now();
    while !server.files_left().is_empty() {
        assert!(start.elapsed() < LIMIT, "left: {:?}", server.files_left());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The service still works afterwards.
    let r = upload(addr, None, "after.mov", &clip, false);
    let job = wait_done(addr, None, r.json()["id"].as_str().unwrap(), LIMIT);
    assert_eq!(job["state"], "done", "{job}");
}

#[test]
fn refuses_to_listen_outside_loopback_without_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(EXE)
        .args(["serve", "--bind", "0.0.0.0:0", "-m"])
        .arg(tmp.path().join("never-loaded.bpk"))
        .env_remove("DEEPFAKE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("token") && err.contains("0.0.0.0"), "{err}");
}

/// 50 uploads from 8 concurrent clients against a queue of 4: every request is answered 202 or 429, every
/// accepted job ends with the same report, no file is left, and the server's peak RSS is printed.
#[test]
fn load_50_uploads_from_8_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let server =
        Server::start(Path::new(EXE), &tmp.path().join("work"), &["-m", model.to_str().unwrap(), "--queue", "4"]);
    let addr = server.addr;
    let clip = std::fs::read(media("single_face.mp4")).unwrap();
    let next = AtomicUsize::new(0);
    let accepted = Mutex::new(Vec::new());
    let refused = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::SeqCst) < 50 {
                    let r = upload(addr, None, "single_face.mp4", &clip, false);
                    match r.status {
                        202 => accepted.lock().unwrap().push(r.json()["id"].as_str().unwrap().to_string()),
                        429 => {
                            assert!(r.header("retry-after").is_some());
                            refused.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        other => panic!("answered {other}: {}", r.text()),
                    }
                }
            });
        }
    });
    let accepted = accepted.into_inner().unwrap();
    assert_eq!(accepted.len() + refused.load(Ordering::SeqCst), 50, "every upload is answered");
    assert!(!accepted.is_empty());
    let mut scores = Vec::new();
    for id in &accepted {
        let job = wait_done(addr, None, id, LIMIT);
        assert_eq!(job["state"], "done", "{job}");
        scores.push(job["report"]["score"].clone());
    }
    assert!(scores.windows(2).all(|w| w[0] == w[1]), "one clip, one score: {scores:?}");
    assert_eq!(server.files_left(), Vec::<PathBuf>::new());
    let jobs_s = start.elapsed().as_secs_f64();
    let metrics = request(addr, "GET", "/metrics", None, None).text();
    assert!(metrics.contains(&format!("deepfake_uploads_accepted_total {}\n", accepted.len())), "{metrics}");
    println!(
        "load: 50 uploads from 8 clients: {} accepted (202), {} refused (429); all done in {jobs_s:.1} s; \
         server peak RSS (VmHWM) {:.1} MB",
        accepted.len(),
        refused.load(Ordering::SeqCst),
        server.peak_rss_kb() as f64 / 1024.0
    );
}

/// A job that asks for pictures gets the three of `infer --plots`, byte for byte, until it is deleted.
#[test]
fn pictures_are_those_of_infer_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let server = Server::start(Path::new(EXE), &tmp.path().join("work"), &["-m", model.to_str().unwrap()]);
    let addr = server.addr;
    let name = "single_face.mp4";
    let r = upload(addr, None, name, &std::fs::read(media(name)).unwrap(), true);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let job = wait_done(addr, None, &id, LIMIT);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["plots"], serde_json::json!(["timeline.png", "faces.png", "gradcam.png"]), "{job}");

    let plots = tmp.path().join("plots");
    let o = Command::new(EXE)
        .arg("infer")
        .arg(media(name))
        .arg("-m")
        .arg(&model)
        .args(["--quiet", "--out"])
        .arg(tmp.path().join("submission.csv"))
        .arg("--plots")
        .arg(&plots)
        .output()
        .unwrap();
    assert!(o.status.success(), "infer --plots: {}", String::from_utf8_lossy(&o.stderr));
    for picture in ["timeline.png", "faces.png", "gradcam.png"] {
        let r = request(addr, "GET", &format!("/v1/jobs/{id}/plots/{picture}"), None, None);
        assert_eq!(r.status, 200, "{picture}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("image/png"));
        let want = std::fs::read(plots.join(name).join(picture)).unwrap();
        assert!(r.body == want, "{picture} differs from infer --plots'");
    }
    assert_eq!(server.files_left().len(), 3, "the pictures stay while the job does: {:?}", server.files_left());
    assert_eq!(request(addr, "GET", &format!("/v1/jobs/{id}/plots/other.png"), None, None).status, 404);
    assert_eq!(request(addr, "DELETE", &format!("/v1/jobs/{id}"), None, None).status, 204);
    assert_eq!(request(addr, "GET", &format!("/v1/jobs/{id}/plots/timeline.png"), None, None).status, 404);
    assert_eq!(server.files_left(), Vec::<PathBuf>::new());
}

/// A client that opens connections and never finishes its request headers is cut off after `--header-timeout-s`,
/// and `--max-connections` bounds how many are open at once: the next client waits for a slot, then is served.
#[test]
fn trickling_and_idle_connections_are_closed_and_bounded() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let server = Server::start(
        Path::new(EXE),
        &tmp.path().join("work"),
        &["-m", model.to_str().unwrap(), "--header-timeout-s", "1", "--max-connections", "2"],
    );
    let addr = server.addr;
    let t = Instant::now();
    let mut idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s
        })
        .collect();
    // Both slots are taken: a third request is served only once the server has dropped the trickling two.
    let r = request(addr, "GET", "/healthz", None, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(900), "served after {waited:?}, before a slot was free");
    for s in &mut idle {
        let mut buf = Vec::new();
        // The server closes the connection (possibly after a 408): the read ends, well before 20 s.
        let _ = s.read_to_end(&mut buf);
        assert!(buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"), "{buf:?}");
    }
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}
