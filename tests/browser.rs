//! The web page of `deepfake serve` in a real browser: Debian's chromium, headless, driven through WebDriver
//! (chromedriver from `chromium-driver`; scripts/setup.sh installs both). Choose a clip, ask for the pictures and
//! start with the keyboard, wait for the verdict, check the score shown against the API's and the pictures
//! drawn, save screenshots (desktop and phone width) under artifacts/. The classifier is fixture b (scripts/reference/make_effnet_fixtures.py).
//!
//! The WebDriver client is the handful of W3C endpoints the test needs, over tests/common/http.rs.

mod common;
#[path = "common/http.rs"]
mod http;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::cli::model_b;
use common::media;
use http::{request, Response, Server};
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_deepfake");
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a loopback port, killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
}

impl Driver {
    fn start(profile: &Path) -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed: Debian's chromium-driver (scripts/setup.sh installs it)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut driver = Driver { child, addr, session: String::new() };
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromium is needed: Debian's chromium (scripts/setup.sh installs it)");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1100,1400",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let v = driver.call("POST", "/session", Some(caps));
        driver.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        driver
    }

    /// One WebDriver command; returns its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let r: Response =
            request(self.addr, method, path, None, body.as_deref().map(|b| ("application/json", b.as_bytes())));
        let v = r.json();
        assert_eq!(r.status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn find(&self, css: &str) -> String {
        let v = self.session("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn js(&self, script: &str) -> Value {
        self.session("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    fn screenshot(&self, path: &Path) {
        let b64 = self.session("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(self.addr, "DELETE", &format!("/session/{}", self.session), None, None);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_page_shows_the_apis_score_for_an_uploaded_clip() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_b(tmp.path());
    let server = Server::start(Path::new(EXE), &tmp.path().join("work"), &["-m", model.to_str().unwrap()]);
    let driver = Driver::start(&tmp.path().join("profile"));
    driver.session("POST", "/url", Some(json!({"url": format!("http://{}/", server.addr)})));
    assert_eq!(driver.js("return document.title"), "Deepfake check");
    // Every form control has a label.
    let unlabelled = driver
        .js("return [...document.querySelectorAll('input')].filter(i => !i.labels || !i.labels.length).map(i => i.id)");
    assert_eq!(unlabelled, json!([]), "inputs without a label");
    // No token on this server: the token field stays hidden.
    assert_eq!(driver.js("return document.getElementById('token-row').offsetParent === null"), true);

    let clip = media("single_face.mp4");
    let input = driver.find("#video");
    driver.session("POST", &format!("/element/{input}/value"), Some(json!({"text": clip.to_str().unwrap()})));
    // The pictures, asked for with the keyboard (Space on the focused checkbox).
    let plots = driver.find("#plots");
    driver.session("POST", &format!("/element/{plots}/value"), Some(json!({"text": " "})));
    assert_eq!(driver.js("return document.getElementById('plots').checked"), true);
    // Started from the keyboard: Enter on the focused button submits the form.
    let submit = driver.find("#submit");
    driver.js("document.getElementById('submit').focus()");
    driver.session("POST", &format!("/element/{submit}/value"), Some(json!({"text": "\u{E007}"})));

    let start = Instant::now();
    let shown = loop {
        let v = driver.js("const r = document.getElementById('result'); \
             return r.hidden ? null : [document.getElementById('score').dataset.score, \
             document.getElementById('score').textContent, document.getElementById('verdict').textContent]");
        if !v.is_null() {
            break v;
        }
        let state = driver.js("return document.getElementById('state').textContent");
        assert!(start.elapsed() < Duration::from_secs(120), "no verdict after 2 minutes; state: {state}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let upload_done = driver.js("return document.getElementById('upload-progress').value");
    assert_eq!(upload_done, 100, "the upload progress bar reached the end");

    // The job the page made, through the API (the only one on this server).
    let metrics = request(server.addr, "GET", "/metrics", None, None).text();
    assert!(metrics.contains("deepfake_uploads_accepted_total 1\n"), "{metrics}");
    let id = driver.js("return jobId").as_str().expect("the page keeps its job id").to_string();
    let job = request(server.addr, "GET", &format!("/v1/jobs/{id}"), None, None).json();
    let score = job["report"]["score"].as_f64().expect("the clip is scored");
    assert_eq!(shown[0].as_str().unwrap().parse::<f64>().unwrap(), score, "data-score is the API's score");
    assert_eq!(shown[1].as_str().unwrap(), format!("{score:.4}"), "the score shown is the API's, 4 decimals");
    let verdict = shown[2].as_str().unwrap();
    assert!(verdict.contains(if score >= 0.5 { "FAKE" } else { "REAL" }), "{verdict}");

    // The three pictures of the job, drawn (fetched with the token, when there is one, as blob: URLs).
    let start = Instant::now();
    loop {
        let shown = driver
            .js("return [...document.querySelectorAll('#pictures img')].filter(i => i.complete && i.naturalWidth > 0 \
             && i.alt).length");
        if shown == 3 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{shown} of 3 pictures shown; job: {job}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(job["plots"], json!(["timeline.png", "faces.png", "gradcam.png"]));

    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    // The whole page in one picture: the window as tall as the document.
    let height = driver.js("return document.documentElement.scrollHeight").as_u64().unwrap() + 40;
    driver.session("POST", "/window/rect", Some(json!({"width": 1100, "height": height.min(6000)})));
    driver.screenshot(&artifacts.join("serve-page.png"));
    driver.session("POST", "/window/rect", Some(json!({"width": 390, "height": 1400})));
    let overflow = driver.js("return document.documentElement.scrollWidth > window.innerWidth");
    assert_eq!(overflow, false, "no sideways scrolling at phone width");
    driver.screenshot(&artifacts.join("serve-page-phone.png"));
}
