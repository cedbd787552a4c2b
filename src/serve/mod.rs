//! `deepfake serve`: an HTTP API and a web page over the same per-video [`crate::infer::Runner`] `infer` uses.
//!
//! Uploads stream into a job folder under the service's work folder ([`upload`]); the bounded queue and the job
//! table live in [`jobs`]; one [`worker`] owns the device and scores jobs in order; [`api`] holds the routes,
//! [`metrics`] the Prometheus text and [`page`] the web page, compiled into the binary.
//!
//! The HTTP side runs on its own tokio runtime ([`serve_http`]); the worker runs on the caller's thread, inside
//! the [`crate::device::BackendTask`] that loaded the models.

pub mod api;
pub mod jobs;
pub mod metrics;
pub mod page;
pub mod upload;
pub mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::infer::report::ModelRecord;
use crate::plots::video::{FACES_PNG, GRADCAM_PNG, TIMELINE_PNG};

/// The pictures a job can have, `GET /v1/jobs/{id}/plots/{name}`: the per-face timeline, the contact sheet of
/// the faces, and the Grad-CAM maps of the most suspicious ones (the files of `infer --plots`).
pub const PLOTS: [&str; 3] = [TIMELINE_PNG, FACES_PNG, GRADCAM_PNG];

/// A job's pictures folder, inside the job's folder.
pub const PLOTS_FOLDER: &str = "plots";

/// Limits and settings of the service.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Uploads larger than this are refused with 413.
    pub max_upload_bytes: u64,
    /// Jobs waiting at most (the one running is not counted); more answer 429.
    pub queue: usize,
    /// A job still running this long after it started fails with `timeout`.
    pub job_timeout: Duration,
    /// An upload still streaming this long after its request arrived is answered 408 and dropped, so a slow
    /// client cannot hold a queue slot for ever.
    pub upload_timeout: Duration,
    /// Finished jobs (and their pictures) are removed this long after they end.
    pub keep: Duration,
    /// Bearer token every `/v1` and `/metrics` request must carry; `None` admits everyone (loopback only).
    pub token: Option<String>,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after_s: u64,
    /// A connection whose request headers have not all arrived this long after it opened (or after its previous
    /// request) is closed, so idle or trickling clients cannot pile up.
    pub header_timeout: Duration,
    /// Open connections at most; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_upload_bytes: 512 << 20,
            queue: 16,
            job_timeout: Duration::from_secs(300),
            upload_timeout: Duration::from_secs(600),
            keep: Duration::from_secs(3600),
            token: None,
            retry_after_s: 10,
            header_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing to listen on {addr} without a token: outside loopback, set --token or DEEPFAKE_TOKEN")]
    TokenRequired { addr: SocketAddr },
    #[error("the token is empty")]
    EmptyToken,
    #[error("creating the work folder in {dir}: {source}")]
    WorkDir { dir: PathBuf, source: std::io::Error },
    #[error("serving HTTP on {addr}: {source}")]
    Http { addr: SocketAddr, source: std::io::Error },
}

impl ServeConfig {
    /// A token is required outside loopback, and a token given must not be empty.
    pub fn check_bind(&self, addr: SocketAddr) -> Result<(), ServeError> {
        match &self.token {
            Some(t) if t.is_empty() => Err(ServeError::EmptyToken),
            None if !addr.ip().is_loopback() => Err(ServeError::TokenRequired { addr }),
            _ => Ok(()),
        }
    }
}

/// Everything the handlers and the worker share.
#[derive(Debug)]
pub struct Service {
    pub config: ServeConfig,
    pub jobs: jobs::Jobs,
    /// The models, as `/healthz` lists them.
    pub models: Vec<ModelRecord>,
    /// Device the models run on, for `/healthz`.
    pub device: String,
    /// Job folders live here; removed when the service ends.
    work: tempfile::TempDir,
}

impl Service {
    /// A service whose job folders go in a new folder inside `parent` (the system's temporary folder when
    /// `None`).
    pub fn new(
        config: ServeConfig,
        parent: Option<&Path>,
        models: Vec<ModelRecord>,
        device: String,
    ) -> Result<Self, ServeError> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let work = tempfile::Builder::new()
            .prefix("deepfake-serve-")
            .tempdir_in(&parent)
            .map_err(|source| ServeError::WorkDir { dir: parent.clone(), source })?;
        Ok(Service { jobs: jobs::Jobs::new(config.queue), config, models, device, work })
    }

    /// The folder holding the job folders.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }
}

/// Serves the API on `listener` until SIGINT or SIGTERM, then stops the worker ([`jobs::Jobs::shutdown`]) and
/// returns. Uploads still streaming get a few seconds to finish.
pub fn serve_http(listener: std::net::TcpListener, service: Arc<Service>) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Http { addr: ([0, 0, 0, 0], 0).into(), source })?;
    let http = |source| ServeError::Http { addr, source };
    listener.set_nonblocking(true).map_err(http)?;
    // Two threads: the work here is I/O (uploads to disk, JSON); the device does the computing.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(http)?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let expiry = tokio::spawn(expire(service.clone()));
        let router = api::router(service.clone());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let slots = Arc::new(tokio::sync::Semaphore::new(service.config.max_connections.max(1)));
        let mut stop = std::pin::pin!(stop_signal());
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                () = &mut stop => break,
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stop => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: transient; wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(service.config.header_timeout)
                .serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper_util::service::TowerToHyperService::new(router.clone()),
                );
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                // A connection that fails (closed by the client, timed out) ends alone.
                let _ = connection.await;
                drop(slot);
            });
        }
        drop(listener);
        // Open connections (an upload in progress) may finish, for a while.
        let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
        expiry.abort();
        Ok(())
    });
    service.jobs.shutdown();
    result.map_err(http)
}

/// Removes expired jobs once a second.
async fn expire(service: Arc<Service>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        service.jobs.expire(service.config.keep);
    }
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_required_outside_loopback() {
        let open = ServeConfig::default();
        assert!(open.check_bind("127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(open.check_bind("[::1]:8080".parse().unwrap()).is_ok());
        assert!(matches!(open.check_bind("0.0.0.0:8080".parse().unwrap()), Err(ServeError::TokenRequired { .. })));
        let with = ServeConfig { token: Some("t".into()), ..ServeConfig::default() };
        assert!(with.check_bind("0.0.0.0:8080".parse().unwrap()).is_ok());
        let empty = ServeConfig { token: Some(String::new()), ..ServeConfig::default() };
        assert!(matches!(empty.check_bind("127.0.0.1:1".parse().unwrap()), Err(ServeError::EmptyToken)));
    }
}
