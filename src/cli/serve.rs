//! `deepfake serve`: the models loaded once, an HTTP API and a web page in front of the same runner `infer` uses
//! (`deepfake_detector::serve`).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use burn::prelude::*;
use clap::Args;

use super::{checked, DetectorArgs, DeviceArgs};
use deepfake_detector::config;
use deepfake_detector::device::{run_on, BackendTask};
use deepfake_detector::infer::{InferOptions, Runner};
use deepfake_detector::model::fused::FusedOps;
use deepfake_detector::serve::{serve_http, worker, ServeConfig, Service};
use deepfake_detector::video::{SampleOptions, VIDEO_FORMATS};
use deepfake_detector::weights::classifier::resolve_arch;

/// Environment variable read for the token when `--token` is not given.
pub const TOKEN_ENV: &str = "DEEPFAKE_TOKEN";

#[derive(Args, Debug)]
#[command(after_help = "API (errors are JSON {\"error\", \"status\"}):
  POST   /v1/jobs                      multipart upload, field `video` (and `plots=1` for pictures) -> 202 {\"id\"}
  GET    /v1/jobs/{id}                 {\"id\", \"state\": queued|running|done|failed, \"report\"}
  GET    /v1/jobs/{id}/plots/{name}    timeline.png, faces.png, gradcam.png
  DELETE /v1/jobs/{id}                 204
  GET    /healthz, /metrics, /         health, Prometheus text, the web page")]
pub struct ServeArgs {
    /// Address to listen on. Outside loopback a token is required.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// A classifier (.bpk, an original DFDC checkpoint, or a folder of them); repeat for an ensemble. Default: the
    /// built-in demo model (models/demo.bpk).
    #[arg(long = "model", short = 'm')]
    pub models: Vec<PathBuf>,
    /// Architecture of original checkpoints whose layout matches no tf_efficientnet_b0…b7.
    #[arg(long)]
    pub arch: Option<String>,
    /// Refuse uploads larger than this many megabytes (413).
    #[arg(long, default_value_t = 512, value_parser = checked(|v| config::in_range("max_upload_mb", v, 1..=u64::MAX >> 20)))]
    pub max_upload_mb: u64,
    /// Jobs waiting at most; a full queue answers 429 with Retry-After.
    #[arg(long, default_value_t = 16, value_parser = checked(|v: usize| config::in_range("queue", v, 1..=100_000)))]
    pub queue: usize,
    /// A job still running this many seconds after it started fails with status `timeout`.
    #[arg(long, default_value_t = 300.0, value_parser = checked(|v: f64| config::in_range("job_timeout_s", v, 0.001..=86_400.0)))]
    pub job_timeout_s: f64,
    /// An upload still arriving this many seconds after its request started is answered 408 (a slow client
    /// would otherwise hold a queue slot).
    #[arg(long, default_value_t = 600.0, value_parser = checked(|v: f64| config::in_range("upload_timeout_s", v, 0.001..=86_400.0)))]
    pub upload_timeout_s: f64,
    /// A connection whose request headers are not complete this many seconds after it opened (or after its last
    /// request) is closed.
    #[arg(long, default_value_t = 30.0, value_parser = checked(|v: f64| config::in_range("header_timeout_s", v, 0.001..=3_600.0)))]
    pub header_timeout_s: f64,
    /// Open connections at most; more wait until one closes.
    #[arg(long, default_value_t = 256, value_parser = checked(|v: usize| config::in_range("max_connections", v, 1..=65_536)))]
    pub max_connections: usize,
    /// Minutes a finished job (report and pictures) is kept before it is removed.
    #[arg(long, default_value_t = 60.0, value_parser = checked(|v: f64| config::in_range("keep", v, 0.0..=525_600.0)))]
    pub keep: f64,
    /// Bearer token for /v1 and /metrics (default: the DEEPFAKE_TOKEN environment variable); required outside
    /// loopback.
    #[arg(long)]
    pub token: Option<String>,
    /// Where uploads and pictures are kept while their jobs exist (a new folder inside it, removed at exit;
    /// default: the system's temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Frames sampled per video, evenly spaced (1 to 1024).
    #[arg(long, default_value_t = 32, value_parser = checked(|v| config::in_range("frames", v, 1..=config::MAX_FRAMES)))]
    pub frames: usize,
    /// Faces per classifier forward pass (default: 1 on the CPU, 16 on a GPU).
    #[arg(long, value_parser = checked(|v| config::in_range("batch_size", v, 1..=config::MAX_BATCH)))]
    pub batch_size: Option<usize>,
    /// Faces classified per video at most (the original: 127).
    #[arg(long, default_value_t = 127, value_parser = checked(|v| config::in_range("max_faces", v, 1..=config::MAX_BATCH)))]
    pub max_faces: usize,
    /// Refuse videos with more pixels per frame than this.
    #[arg(long, default_value_t = 4096 * 4096, value_parser = checked(|v| config::in_range("max_pixels", v, 1..=u64::MAX)))]
    pub max_pixels: u64,
    /// Score the most suspicious person instead of pooling everyone's faces (as `infer --per-person`).
    #[arg(long)]
    pub per_person: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

struct Serve<'a> {
    args: &'a ServeArgs,
    models: Vec<PathBuf>,
    options: InferOptions,
    config: ServeConfig,
    listener: TcpListener,
}

impl BackendTask for Serve<'_> {
    type Output = anyhow::Result<()>;

    fn run<B: FusedOps>(self, device: Device<B>) -> Self::Output {
        let arch = self.args.arch.as_deref().map(resolve_arch).transpose()?;
        let (mut scorers, mut records) = (Vec::new(), Vec::new());
        for path in &self.models {
            let (scorer, record) =
                super::infer::load_scorer::<B>(path, arch.as_ref(), self.options.batch_size, &device)?;
            let size = record.input_size;
            eprintln!("model: {}: {}, input {size}×{size}, sha256 {}", record.path, record.arch, &record.sha256[..12]);
            records.push(record);
            scorers.push(scorer);
        }
        let runner = Runner {
            detector: self.args.detector.detector::<B>(&device, self.args.device.device)?,
            scorers,
            options: self.options,
        };
        let service = Arc::new(Service::new(
            self.config,
            self.args.work_dir.as_deref(),
            records,
            self.args.device.device.to_string(),
        )?);
        let addr = self.listener.local_addr()?;
        let http = std::thread::Builder::new().name("serve-http".into()).spawn({
            let service = service.clone();
            let listener = self.listener;
            move || serve_http(listener, service)
        })?;
        // Tests and scripts wait for this line (the port is the real one when --bind asked for port 0).
        println!("listening on http://{addr}");
        eprintln!("work folder: {}", service.work_dir().display());
        worker::run(&runner, &service);
        http.join().map_err(|_| anyhow::anyhow!("the HTTP thread panicked"))??;
        eprintln!("stopped");
        Ok(())
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let token = args.token.clone().or_else(|| std::env::var(TOKEN_ENV).ok());
    let config = ServeConfig {
        max_upload_bytes: args.max_upload_mb << 20,
        queue: args.queue,
        job_timeout: Duration::from_secs_f64(args.job_timeout_s),
        upload_timeout: Duration::from_secs_f64(args.upload_timeout_s),
        header_timeout: Duration::from_secs_f64(args.header_timeout_s),
        max_connections: args.max_connections,
        keep: Duration::from_secs_f64(args.keep * 60.0),
        token,
        ..ServeConfig::default()
    };
    config.check_bind(args.bind)?;
    let (models, _) = super::models_or_demo(&args.models, false, false)?;
    let sample = SampleOptions {
        frames: args.frames,
        max_file_bytes: Some(config.max_upload_bytes),
        max_pixels: Some(args.max_pixels),
        // Uploads are opened through the video containers' demuxers only (see VIDEO_FORMATS).
        formats: Some(VIDEO_FORMATS.to_string()),
        ..SampleOptions::default()
    };
    let options =
        super::infer_options(sample, &args.detector, &args.device, args.max_faces, args.batch_size, args.per_person)?;
    // Bound before the models load, so a busy port fails at once.
    let listener = TcpListener::bind(args.bind).with_context(|| format!("listening on {}", args.bind))?;
    let task = Serve { args: &args, models, options, config, listener };
    run_on(args.device.device, args.device.precision, task)??;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn serve_flags_parse_to_their_types() {
        // A value parser whose type differs from its field only fails when the field is read: read them all.
        let parsed = Cli::try_parse_from([
            "deepfake",
            "serve",
            "-m",
            "m.bpk",
            "--queue",
            "3",
            "--max-upload-mb",
            "2",
            "--job-timeout-s",
            "0.5",
            "--keep",
            "0.1",
            "--upload-timeout-s",
            "2",
            "--token",
            "t",
            "--bind",
            "127.0.0.1:0",
        ])
        .unwrap();
        let Command::Serve(args) = parsed.command else { panic!("not serve") };
        assert_eq!((args.queue, args.max_upload_mb), (3, 2));
        assert_eq!((args.job_timeout_s, args.keep, args.upload_timeout_s), (0.5, 0.1, 2.0));
        assert_eq!((args.frames, args.max_faces, args.max_pixels), (32, 127, 4096 * 4096));
        assert!(Cli::try_parse_from(["deepfake", "serve", "-m", "m.bpk", "--queue", "0"]).is_err());
    }
}
