//! A minimal HTTP/1.1 client over `TcpStream` for the server tests (loopback only): one request per
//! connection, so that a test controls every byte (headers without a body, a body cut short, a declared length
//! that lies), and a `deepfake serve` child process to talk to.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body`, reads the whole answer.
pub fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let bytes = [format!("{head}\r\nConnection: close\r\n\r\n").into_bytes(), body.to_vec()].concat();
    // Written on another thread: a server may answer (413) before it has read everything.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    let response = read_response(&mut stream);
    let _ = sender.join();
    response
}

pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    // Reads until the answer is complete: by Content-Length, the last chunk, or the end of the stream (some
    // servers, chromedriver among them, keep the connection open despite `Connection: close`). A reset after
    // the answer arrived (the server closed with unread bytes) still leaves the answer read.
    while !complete(&all) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if !all.is_empty() => {
                eprintln!("(read ended with {e} after {} bytes)", all.len());
                break;
            }
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    parse(&all)
}

fn complete(all: &[u8]) -> bool {
    let Some(end) = all.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&all[..end]).to_ascii_lowercase();
    let body = &all[end + 4..];
    if let Some(n) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        return body.len() >= n.trim().parse::<usize>().unwrap_or(usize::MAX);
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

fn parse(all: &[u8]) -> Response {
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete header block");
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let mut body = all[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end]).unwrap().split(';').next().unwrap().trim(),
            16,
        )
        .expect("hex chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A request with an optional bearer token and body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}");
    if let Some(t) = token {
        head.push_str(&format!("\r\nAuthorization: Bearer {t}"));
    }
    let bytes: &[u8] = match body {
        Some((kind, bytes)) => {
            head.push_str(&format!("\r\nContent-Type: {kind}\r\nContent-Length: {}", bytes.len()));
            bytes
        }
        None => b"",
    };
    raw(addr, &head, bytes)
}

pub const BOUNDARY: &str = "deepfake-test-boundary-7d3f0a";

/// A multipart/form-data body: `(name, file name, bytes)` per field.
pub fn form(fields: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, bytes) in fields {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                    .as_bytes(),
            ),
            None => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

pub fn form_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// `POST /v1/jobs` with the video `name` holding `bytes`.
pub fn upload(addr: SocketAddr, token: Option<&str>, name: &str, bytes: &[u8], plots: bool) -> Response {
    let mut fields: Vec<(&str, Option<&str>, &[u8])> = vec![("video", Some(name), bytes)];
    if plots {
        fields.insert(0, ("plots", None, b"1"));
    }
    request(addr, "POST", "/v1/jobs", token, Some((&form_type(), &form(&fields))))
}

/// Polls `GET /v1/jobs/{id}` until the job is done or failed.
pub fn wait_done(addr: SocketAddr, token: Option<&str>, id: &str, limit: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let r = request(addr, "GET", &format!("/v1/jobs/{id}"), token, None);
        assert_eq!(r.status, 200, "{}", r.text());
        let job = r.json();
        if job["state"] == "done" || job["state"] == "failed" {
            return job;
        }
        assert!(start.elapsed() < limit, "job {id} still {} after {limit:?}", job["state"]);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `deepfake serve` child process on an ephemeral loopback port; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The `--work-dir` given; the service's own folder is inside it.
    pub work_parent: PathBuf,
}

impl Server {
    /// Starts `deepfake serve --bind 127.0.0.1:0 --work-dir <work> ARGS` and waits for its `listening on` line.
    pub fn start(exe: &Path, work: &Path, args: &[&str]) -> Server {
        std::fs::create_dir_all(work).unwrap();
        let mut child = Command::new(exe)
            .args(["serve", "--bind", "127.0.0.1:0", "--work-dir"])
            .arg(work)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start deepfake serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("a `listening on` line").unwrap();
        let addr = line.strip_prefix("listening on http://").unwrap_or_else(|| panic!("unexpected: {line}"));
        let addr = addr.parse().unwrap();
        // Keep reading stdout so that the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr, work_parent: work.to_path_buf() }
    }

    /// Files (not folders) under the work folder: uploads and pictures still on disk.
    pub fn files_left(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.work_parent.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Peak resident memory of the server process (`VmHWM` of /proc/PID/status), in kB.
    pub fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// SIGTERM, then waits for the exit (graceful shutdown); returns whether it exited 0.
    pub fn stop(mut self) -> bool {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if start.elapsed() > Duration::from_secs(20) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
